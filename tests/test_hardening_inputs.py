"""Issue 22, items 3-9: what a new round of bad inputs found, each now one clear line (an error, or a
warning where the input can still train). Item 3 (Hydra's lexer) is in tests/test_config.py; the
launcher's kills (items 1 and 2) in tests/test_distributed.py."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from probsweep.config import DataConfig, counted
from probsweep.data.loading import DataError, prepare

WORDS = ["apple", "pear", "plum", "fig", "kiwi", "lime"]
ROWS = [(f"{WORDS[c]} thing{i} and more", f"c{c}") for c in range(3) for i in range(16)]  # 48 rows, 3 classes


def file_cfg(path, **kw) -> DataConfig:
    return DataConfig(source="file", path=str(path), max_len=6, **kw)


def one_line_error(cfg: DataConfig) -> str:
    with pytest.raises(DataError) as info:
        prepare(cfg, 4, 0)
    assert "\n" not in str(info.value) and info.value.__cause__ is None
    return str(info.value)


def test_counts_have_their_noun_in_the_right_number():
    assert counted(1, "row") == "1 row" and counted(2, "row") == "2 rows" and counted(0, "row") == "0 rows"
    assert counted(2000, "class", "classes") == "2,000 classes" and counted(1, "class", "classes") == "1 class"


# --- item 4: a text column of numbers ---------------------------------------------------------


@pytest.mark.parametrize("texts", [[str(1000 + i) for i in range(48)], [f"{i}.5" for i in range(48)]])
def test_a_text_column_of_numbers_gets_a_warning_naming_the_column(tmp_path, caplog, texts):
    path = tmp_path / "d.csv"
    pd.DataFrame({"id": texts, "label": [lab for _, lab in ROWS]}).to_csv(path, index=False)
    with caplog.at_level(logging.WARNING):
        prepare(file_cfg(path, text_column="id"), 4, 0)
    assert "48 of 48 texts in column 'id' contain no letters" in caplog.text
    assert "look like numbers or IDs" in caplog.text and "data.text_column" in caplog.text


def test_real_texts_with_some_numbers_get_no_such_warning(tmp_path, caplog):
    rows = ROWS[:40] + [(str(i), "c0") for i in range(8)]  # 8 of 48 are numbers: a normal data set
    path = tmp_path / "d.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    with caplog.at_level(logging.WARNING):
        prepare(file_cfg(path), 4, 0)
    assert "contain no letters" not in caplog.text


def test_non_latin_texts_are_texts(tmp_path, caplog):
    path = tmp_path / "d.csv"
    texts = [f"東京 сегодня {i}" for i in range(48)]  # letters of other scripts, and a number each
    pd.DataFrame({"text": texts, "label": [lab for _, lab in ROWS]}).to_csv(path, index=False)
    with caplog.at_level(logging.WARNING):
        prepare(file_cfg(path), 4, 0)
    assert "contain no letters" not in caplog.text


# --- item 5: a Parquet text column of lists ----------------------------------------------------


def test_a_parquet_column_of_word_lists_is_joined_with_a_warning(tmp_path, caplog):
    path = tmp_path / "d.parquet"
    pd.DataFrame({"text": [t.split() for t, _ in ROWS], "label": [lab for _, lab in ROWS]}).to_parquet(path)
    with caplog.at_level(logging.WARNING):
        prepared = prepare(file_cfg(path), 4, 0)
    assert "column 'text' holds lists of words, not strings (48 of 48 rows" in caplog.text
    assert "joined with spaces" in caplog.text
    assert set(prepared.frame.text) == {t for t, _ in ROWS}  # "apple thing0 and more", not "['apple', ...]"


def test_a_parquet_column_of_number_lists_or_mappings_is_refused(tmp_path):
    path = tmp_path / "d.parquet"
    pd.DataFrame({"text": [[1, 2]] * 48, "label": [lab for _, lab in ROWS]}).to_parquet(path)
    msg = one_line_error(file_cfg(path))
    assert "column 'text' holds lists or mappings, not texts (e.g. [1, 2])" in msg and "data.text_column" in msg
    pd.DataFrame({"text": [t for t, _ in ROWS], "label": [[lab] for _, lab in ROWS]}).to_parquet(path)
    msg = one_line_error(file_cfg(path))
    assert "column 'label' holds lists or mappings, not one label per row" in msg


# --- item 6: many classes seen once ------------------------------------------------------------


def test_two_thousand_singleton_classes_are_counted_with_the_fix(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"text number {i}" for i in range(2000)], "label": [f"lab{i}" for i in range(2000)]}).to_csv(
        path, index=False
    )
    msg = one_line_error(file_cfg(path))
    assert msg.startswith("2,000 of 2,000 classes have fewer than 3 examples (e.g. 'lab0' has 1 example)")
    assert "data.test_size=0" in msg and "data.split_column" in msg and "merge or remove them" in msg
    msg = one_line_error(file_cfg(path, test_size=0.0))  # without a test split, 2 per class are enough
    assert msg.startswith("2,000 of 2,000 classes have fewer than 2 examples") and "data.test_size=0" not in msg


# --- item 7: broken JSON Lines -------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, said",
    [
        ('{"text": "oops", "label": }', "line 31 is not valid JSON (Expecting value, column 27)"),
        ('{"text": "no closing brace"', "line 31 is not valid JSON"),
        ('["a", "b"]', "line 31 is a JSON list, not an object"),
    ],
)
def test_a_broken_json_lines_file_names_the_line(tmp_path, bad, said):
    lines = [json.dumps({"text": t, "label": lab}) for t, lab in ROWS]
    lines.insert(30, bad)
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n")
    msg = one_line_error(file_cfg(path))
    assert msg.startswith("cannot read d.jsonl as JSON Lines: ") and said in msg, msg
    assert "position" not in msg and "fix or remove that line" in msg


# --- item 9: the grammar of counts -------------------------------------------------------------


@pytest.mark.parametrize("n, said", [(1, "1 row has no label"), (2, "2 rows have no label")])
def test_rows_without_a_label_are_counted_in_the_right_number(tmp_path, n, said):
    df = pd.DataFrame(ROWS, columns=["text", "label"])
    df.loc[: n - 1, "label"] = None
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    msg = one_line_error(file_cfg(path))
    assert msg.startswith(said), msg
    assert ("that row" in msg) == (n == 1)


def test_one_repeated_and_one_empty_row_are_singular(tmp_path, caplog):
    rows = ROWS + [ROWS[0], ("", "c1")]
    path = tmp_path / "d.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    with caplog.at_level(logging.WARNING):
        prepare(file_cfg(path), 4, 0)
    assert "dropped 1 row whose text" in caplog.text and "1 row repeats the exact text" in caplog.text
    assert "1 text is in more than one split" in caplog.text or "more than one split" not in caplog.text


def test_one_class_is_one_class(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame([(t, "c0") for t, _ in ROWS], columns=["text", "label"]).to_csv(path, index=False)
    assert one_line_error(file_cfg(path)).startswith("only 1 class (['c0']) in column 'label'")


# --- item 8: a batch larger than the data ------------------------------------------------------


@pytest.mark.slow
def test_a_batch_larger_than_the_training_rows_is_noted(tiny, store, capsys):
    from probsweep.cli.train import train

    train(tiny("train.batch_size=100000", "train.epochs=1"))
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if "train.batch_size=100000" in ln]
    assert len(rows) == 1, out
    assert "is more than the 72 training rows: each epoch is one batch of 72 (one step)" in rows[0]
