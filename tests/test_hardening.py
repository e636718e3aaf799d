"""Issue 10: the four misleading messages now name the real problem; ranges, sweep names, separators,
binary files, duplicates and leakage between splits; a resumed sweep refuses an edited search."""

from __future__ import annotations

import logging
import os

import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import compose_config
from probsweep.config import ConfigError, DataConfig, sweep_dir, validate
from probsweep.data.loading import DataError, load_dataset, prepare
from probsweep.sweep import space

ROWS = [(f"word{c} thing{i} stuff, more", f"c{c}") for c in range(3) for i in range(10)]


def load(path, **kw):
    return load_dataset(DataConfig(source="file", path=str(path), max_len=6, **kw), embed_dim=4, seed=0)


def one_line_error(path, **kw) -> str:
    with pytest.raises(DataError) as info:
        load(path, **kw)
    assert "\n" not in str(info.value) and info.value.__cause__ is None
    return str(info.value)


# --- the four misleading messages of issue 10 -------------------------------------------------


@pytest.mark.parametrize("sep, name", [(";", "semicolon"), ("|", "pipe"), ("\t", "tab")])
def test_a_file_separated_otherwise_says_which_data_sep_to_set(tmp_path, sep, name):
    path = tmp_path / "d.csv"
    path.write_text(f"text{sep}label\n" + "".join(f"{t}{sep}{lab}\n" for t, lab in ROWS))
    msg = one_line_error(path)
    assert f"{name}-separated" in msg and f"data.sep={name}" in msg and "not found" not in msg
    assert load(path, sep=name).n_classes == 3  # the advice works ...
    assert load(path, sep=sep).n_classes == 3  # ... and so does the character itself


def test_a_random_binary_file_is_called_binary_not_an_encoding_problem(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(os.urandom(4096))
    msg = one_line_error(path)
    assert "not a CSV text file" in msg and "binary" in msg and "encoding" not in msg


def test_max_len_below_one_names_max_len_not_the_kernel():
    with pytest.raises(ConfigError) as info:
        validate(compose_config(["data.max_len=-5"]))
    assert str(info.value) == "data.max_len=-5 must be at least 1"


def test_a_directory_is_called_a_directory(tmp_path):
    msg = one_line_error(tmp_path)
    assert "is a directory" in msg and "not found" not in msg


# --- more files that are not what they claim ---------------------------------------------------


@pytest.mark.parametrize(
    "content, said",
    [
        (b"PAR1\x00\x00rest", "data.format=parquet"),
        (b"\x1f\x8b\x08\x00rest", "gzip"),
        (b"\xff\xfet\x00e\x00x\x00t\x00", "data.encoding=utf-16"),
        (bytes(range(1, 32)) * 40, "control bytes"),
    ],
)
def test_other_non_text_files_are_named(tmp_path, content, said):
    path = tmp_path / "d.csv"
    path.write_bytes(content)
    assert said in one_line_error(path)


def test_a_latin1_file_is_still_an_encoding_problem(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("text,label\ncaf\xe9 au lait,a\nth\xe9,b\n".encode("latin-1"))
    assert "data.encoding=latin-1" in one_line_error(path)


# --- every numeric key on its own, before any rule that combines keys --------------------------


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.max_len=0", "data.max_len=0 must be at least 1"),
        ("train.batch_size=0", "train.batch_size=0 must be at least 1"),
        ("train.epochs=0", "train.epochs=0 must be at least 1"),
        ("train.learning_rate=0", "train.learning_rate=0.0 must be greater than 0"),
        ("train.learning_rate=-1e-3", "train.learning_rate=-0.001 must be greater than 0"),
        ("data.val_size=1.0", "data.val_size=1.0 must be in [0, 1)"),
        ("data.val_size=-0.1", "data.val_size=-0.1 must be in [0, 1)"),
        ("data.test_size=1.5", "data.test_size=1.5 must be in [0, 1)"),
        ("data.max_tokens=1", "data.max_tokens=1 must be at least 3"),
        ("model.kernel_size=0", "model.kernel_size=0 must be at least 1"),
        ("model.embed_dim=0", "model.embed_dim=0 must be at least 1"),
        ("model.dropout=1.0", "model.dropout=1.0 must be in [0, 1)"),
        ("train.target_precision=0", "train.target_precision=0.0 must be in (0, 1]"),
        ("tuner.max_trials=0", "tuner.max_trials=0 must be at least 1"),
        ("tuner.factor=1", "tuner.factor=1 must be at least 2"),
        ("seed=-1", "seed=-1 must be at least 0"),
    ],
)
def test_each_numeric_key_has_its_own_range_message(override, message):
    with pytest.raises(ConfigError) as info:
        validate(compose_config([override, "model.kernel_size=3"] if "kernel" not in override else [override]))
    assert str(info.value) == message


def test_combined_rules_come_after_the_ranges():
    with pytest.raises(ConfigError, match="model.kernel_size=40 is longer than data.max_len=30"):
        validate(compose_config(["data.max_len=30", "model.kernel_size=40"]))
    with pytest.raises(ConfigError, match=r"data.val_size=0.6 \+ data.test_size=0.5 must be below 1"):
        validate(compose_config(["data.val_size=0.6", "data.test_size=0.5"]))


def test_a_search_space_value_out_of_range_fails_before_the_first_trial():
    cfg = validate(compose_config([]))
    entries = space.parse({"model.dropout": {"choice": [0.1, 1.5]}})
    with pytest.raises(ConfigError, match=r"search.space.model.dropout: model.dropout=1.5 must be in \[0, 1\)"):
        space.check_space(cfg, entries)


@pytest.mark.parametrize("name", ["../x", "a/b", "/tmp/x", ".hidden", "", "a b", "..", "x\\y"])
def test_a_sweep_name_that_is_a_path_is_refused(name, tmp_path):
    with pytest.raises(ConfigError, match="must be a plain name"):
        validate(compose_config([f"sweep.name='{name}'"]))
    with pytest.raises(ConfigError, match="must be a plain name"):
        sweep_dir(OmegaConf.create({"name": name, "dir": str(tmp_path)}))


@pytest.mark.parametrize("name", ["my-sweep", "v1.2_final", "A", "0"])
def test_plain_sweep_names_pass(name, tmp_path):
    assert validate(compose_config([f"sweep.name={name}"])).sweep.name == name
    assert sweep_dir(OmegaConf.create({"name": name, "dir": str(tmp_path)})) == tmp_path / name


def test_a_sweep_name_path_is_refused_by_the_command_before_anything_is_written(tmp_path, store):
    from probsweep.cli.sweep import sweep

    cfg = compose_config([f"sweep.dir={tmp_path / 'sweeps'}", "sweep.name=../escaped"])
    with pytest.raises(ConfigError, match="plain name"):
        sweep(cfg)
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "sweeps").exists()


def test_data_sep_must_be_one_character_or_a_name():
    assert validate(compose_config(["data=file", "data.path=x.csv", "data.sep=semicolon"])).data.sep == "semicolon"
    with pytest.raises(ConfigError, match="data.sep='abc' must be one character or one of comma, semicolon, pipe, tab"):
        validate(compose_config(["data=file", "data.path=x.csv", "data.sep=abc"]))


# --- duplicates, conflicting labels, leakage between splits ------------------------------------


def write_rows(path, rows):
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    return path


def test_duplicated_file_warns_with_the_count_of_texts_in_several_splits(tmp_path, caplog):
    path = write_rows(tmp_path / "d.csv", ROWS * 2)
    with caplog.at_level(logging.WARNING):
        d = load(path)
    leaked = int((d.frame.groupby("text").split.nunique() > 1).sum())
    assert d.report["duplicate_texts"] == 30 and d.report["texts_in_several_splits"] == leaked > 0
    assert f"{leaked} texts are in more than one split" in caplog.text and "data.dedupe=true" in caplog.text
    assert "30 rows repeat the exact text" in caplog.text


def test_dedupe_keeps_the_first_row_of_each_text_before_splitting(tmp_path, caplog):
    rows = ROWS * 2 + [(ROWS[0][0], "c2")]  # a late repeat with another label: the first one wins
    with caplog.at_level(logging.WARNING):
        d = load(write_rows(tmp_path / "d.csv", rows), dedupe=True)
    assert d.report["rows_dropped_duplicate"] == 31 and d.report["texts_in_several_splits"] == 0
    assert len(d.frame) == 30 and d.frame.text.is_unique
    assert d.frame.set_index("text").label[ROWS[0][0]] == ROWS[0][1]
    assert "more than one split" not in caplog.text


def test_a_text_with_two_labels_is_reported_with_a_count_and_examples(tmp_path, caplog):
    rows = ROWS + [(ROWS[0][0], "c1"), (ROWS[11][0], "c2")]
    with caplog.at_level(logging.WARNING):
        d = load(write_rows(tmp_path / "d.csv", rows))
    assert d.report["conflicting_label_texts"] == 2
    assert "2 texts have different labels" in caplog.text
    assert f"{ROWS[0][0]!r} is c0 and c1" in caplog.text


def test_a_missing_value_in_the_split_column_is_named(tmp_path):
    """Found by the fuzzer: pandas 3 keeps NaN through astype(str), and sorting NaN with strings crashed."""
    df = pd.DataFrame(ROWS, columns=["text", "label"]).assign(part=["train", "train", "val"] * 10)
    df.loc[4, "part"] = None
    msg = one_line_error(_csv(df, tmp_path), split_column="part")
    assert "unknown values ['']" in msg and "train, val or test" in msg


def _csv(df, tmp_path):
    df.to_csv(tmp_path / "d.csv", index=False)
    return tmp_path / "d.csv"


def test_clean_data_reports_zero_duplicates(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        p = prepare(DataConfig(source="file", path=str(write_rows(tmp_path / "d.csv", ROWS))), 4, 0)
    assert (p.report["duplicate_texts"], p.report["conflicting_label_texts"], p.report["texts_in_several_splits"]) == (
        0,
        0,
        0,
    )
    assert caplog.text == ""


# --- a resumed sweep refuses an edited search --------------------------------------------------

SEARCH = {
    "objective": "val_brier",
    "direction": "min",
    "space": {"model.dropout": {"choice": [0.1, 0.3]}, "train.epochs": {"int": [1, 4]}},
}


@pytest.mark.parametrize(
    "change, key",
    [
        ({"objective": "val_accuracy", "direction": "max"}, "search.objective"),
        ({"direction": "max"}, "search.direction"),
        ({"space": {**SEARCH["space"], "model.dropout": {"choice": [0.1]}}}, "search.space.model.dropout"),
        ({"space": {**SEARCH["space"], "model.gru_units": {"choice": [8]}}}, "search.space.model.gru_units"),
        ({"space": {"model.dropout": SEARCH["space"]["model.dropout"]}}, "search.space.train.epochs"),
    ],
)
def test_an_edited_search_is_refused_naming_the_key_and_both_ways_out(tmp_path, change, key):
    stored = tmp_path / "search.yaml"
    space.store(OmegaConf.create(SEARCH), stored)
    space.check_unchanged(OmegaConf.create(SEARCH), stored, "s")  # the same search resumes
    with pytest.raises(ConfigError) as info:
        space.check_unchanged(OmegaConf.create({**SEARCH, **change}), stored, "s")
    msg = str(info.value)
    assert f"started with {key}=" in msg and "sweep.restart=true" in msg and "new sweep.name" in msg and "\n" not in msg
