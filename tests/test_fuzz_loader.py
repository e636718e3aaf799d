"""Property-based tests of the data loader (hypothesis): whatever the file holds, loading ends in a
Dataset (or the rows ready to vectorise) or in a one-line DataError, never in another exception.

Reading, cleaning and splitting (`prepare`) are fuzzed with many examples; the full `load_dataset`,
whose TextVectorization adapt costs ~0.1 s, with fewer. Each test prints how many examples it tried;
PROBSWEEP_FUZZ_SCALE=10 runs ten times as many (the figure in docs/reliability.md).
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probsweep.config import DataConfig
from probsweep.data.loading import DataError, Dataset, Prepared, load_dataset, prepare

SCALE = int(os.environ.get("PROBSWEEP_FUZZ_SCALE", "1"))
RAW, TABLES, JSONL, FULL = 300 * SCALE, 300 * SCALE, 200 * SCALE, 100 * SCALE
NAN_LIKE = ["", " ", "NaN", "nan", "NA", "N/A", "null", "None", "none", "-", "#N/A", "inf", "-inf", "0", "1.0", '""']
SEPARATORS = [",", ";", "\t", "|"]
HUGE = "word " * 25_000  # 125,000 characters

texts = st.one_of(
    st.text(max_size=40), st.sampled_from(NAN_LIKE), st.just(HUGE), st.text(alphabet='ab \n",;|\t', max_size=12)
)
labels = st.one_of(
    st.sampled_from(["pos", "neg", "neutral"]),
    st.sampled_from(NAN_LIKE),
    st.text(max_size=6),
    st.integers(-3, 3).map(str),
)
names = st.one_of(st.sampled_from(["text", "label", "split", ""]), st.text(max_size=8))


def encodable(s: str) -> str:
    return s.encode("utf-8", "replace").decode("utf-8")  # a CSV on disk holds no lone surrogates


def outcome(cfg: DataConfig, full: bool = False):
    """The loader's answer: what it returned, or its DataError (any other exception fails the test)."""
    try:
        result = load_dataset(cfg, embed_dim=4, seed=0) if full else prepare(cfg, 4, 0)
    except DataError as exc:
        assert "\n" not in str(exc), str(exc)
        return exc
    assert isinstance(result, Dataset if full else Prepared)
    frame = result.frame
    assert set(frame.split) <= {"train", "val", "test"} and len(result.class_names if full else result.classes) >= 2
    assert not frame.text.str.strip().eq("").any()
    if full:
        assert len(result.x_train) == (frame.split == "train").sum() and result.x_train.shape[1] == cfg.max_len
    return result


def run(check, examples: int, **strategies):
    """Run `check` over `examples` hypothesis examples; return how many it tried."""
    tried = []

    @settings(
        max_examples=examples, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(**strategies)
    def wrapped(**kw):
        tried.append(1)
        check(**kw)

    wrapped()
    return len(tried)


def report(name, tried, capsys):
    with capsys.disabled():
        print(f"\n[fuzz] {name}: {tried} examples, 0 unexpected exceptions")


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_any_bytes_end_in_rows_or_a_data_error(tmp_path, capsys, fmt):
    path = tmp_path / f"d.{fmt}"

    def check(blob, encoding):
        path.write_bytes(blob)
        outcome(DataConfig(source="file", path=str(path), encoding=encoding))

    tried = run(
        check,
        RAW // 3,
        blob=st.one_of(
            st.binary(max_size=600), st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass"))
        ),
        encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]),
    )
    report(f"raw {fmt} bytes", tried, capsys)
    assert tried >= RAW // 3


def test_any_table_any_column_names_labels_and_texts(tmp_path, capsys):
    def check(rows, header, columns, sep, fmt, dedupe, split):
        path = tmp_path / f"d.{fmt}"
        lines = [sep.join(encodable(h) for h in header)]
        lines += [sep.join(encodable(v) for v in row) for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        outcome(
            DataConfig(
                source="file",
                path=str(path),
                text_column=columns[0],
                label_column=columns[1],
                split_column=columns[2] if split else None,
                sep=sep if sep != "," or fmt == "tsv" else None,
                dedupe=dedupe,
            )
        )

    tried = run(
        check,
        TABLES,
        rows=st.lists(st.tuples(texts, labels, st.sampled_from(["train", "val", "test", "TRAIN", "x"])), max_size=40),
        header=st.one_of(st.just(("text", "label", "split")), st.tuples(names, names, names)),
        columns=st.one_of(st.just(("text", "label", "split")), st.tuples(names, names, names)),
        sep=st.sampled_from(SEPARATORS),
        fmt=st.sampled_from(["csv", "tsv"]),
        dedupe=st.booleans(),
        split=st.booleans(),
    )
    report("csv/tsv tables", tried, capsys)
    assert tried >= TABLES


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    texts,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def test_any_json_lines(tmp_path, capsys):
    path = tmp_path / "d.jsonl"

    def check(records, columns, dedupe):
        lines = []
        for rec in records:
            if isinstance(rec, dict):
                lines.append(json.dumps(rec))  # ensure_ascii: lone surrogates travel as \ud800 escapes
            else:
                lines.append(rec)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        outcome(
            DataConfig(source="file", path=str(path), text_column=columns[0], label_column=columns[1], dedupe=dedupe)
        )

    record = st.one_of(
        st.fixed_dictionaries({"text": json_values, "label": st.one_of(labels, json_values)}),
        st.fixed_dictionaries({"text": texts, "label": st.sampled_from(["a", "b"])}),
        st.dictionaries(names, json_values, max_size=3),
        st.sampled_from(["", "{", "[1, 2]", "5", "null", '{"text": NaN, "label": Infinity}']),
    )
    tried = run(
        check,
        JSONL,
        records=st.lists(record, max_size=30),
        columns=st.one_of(st.just(("text", "label")), st.tuples(names, names)),
        dedupe=st.booleans(),
    )
    report("json lines", tried, capsys)
    assert tried >= JSONL


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_full_load_dataset_on_mostly_usable_tables(tmp_path, capsys, fmt):
    """Texts and labels that usually make a loadable file, to reach TextVectorization and the arrays."""
    path = tmp_path / f"d.{fmt}"
    loaded = []

    def check(rows, max_len, dedupe):
        if fmt == "csv":
            lines = ["text,label"] + [f'"{encodable(t).replace(chr(34), chr(34) * 2)}",{lab}' for t, lab in rows]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        else:
            path.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows), encoding="utf-8")
        got = outcome(DataConfig(source="file", path=str(path), max_len=max_len, dedupe=dedupe), full=True)
        loaded.append(isinstance(got, Dataset))

    usable_texts = st.one_of(st.text(min_size=1, max_size=30), st.sampled_from(NAN_LIKE[2:]), st.just(HUGE))
    tried = run(
        check,
        FULL // 2,
        rows=st.lists(st.tuples(usable_texts, st.sampled_from(["a", "b", "c"])), min_size=6, max_size=30),
        max_len=st.integers(1, 8),
        dedupe=st.booleans(),
    )
    report(f"full load_dataset ({fmt}), {sum(loaded)} loaded", tried, capsys)
    assert tried >= FULL // 2 and sum(loaded) > 0


# --- issue 22: number-like and list-like text columns, many singleton classes, broken JSON Lines lines ---

numbers = st.one_of(st.integers(-(10**12), 10**12).map(str), st.floats(allow_nan=False).map(repr), st.uuids().map(str))
word_lists = st.lists(st.sampled_from(["apple", "pear", "ü", "東京", "", " "]), max_size=5)


def test_number_like_texts_load_or_fail_in_one_line_and_a_majority_is_warned(tmp_path, capsys, caplog):
    path = tmp_path / "d.csv"

    def check(rows, share):
        n_numbers = round(len(rows) * share)
        texts = [num for num, _, _ in rows[:n_numbers]] + [f"{word} text" for _, word, _ in rows[n_numbers:]]
        lines = ["text,label"] + [f'"{t}",{lab}' for t, (_, _, lab) in zip(texts, rows, strict=True)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        caplog.clear()
        got = outcome(DataConfig(source="file", path=str(path)))
        if not isinstance(got, DataError):
            no_letter = sum(not any(c.isalpha() for c in t) for t in got.frame.text)
            warned = "look like numbers or IDs" in caplog.text
            assert warned == (no_letter / len(got.frame) > 0.5), (no_letter, len(got.frame), caplog.text)

    tried = run(
        check,
        TABLES // 3,
        rows=st.lists(st.tuples(numbers, st.sampled_from(["apple", "pear"]), st.sampled_from("ab")), max_size=40),
        share=st.sampled_from([0.0, 0.3, 0.6, 1.0]),
    )
    report("number-like texts", tried, capsys)
    assert tried >= TABLES // 3


def test_list_valued_parquet_text_columns_are_joined_or_refused_in_one_line(tmp_path, capsys):
    path = tmp_path / "d.parquet"

    def check(rows):
        frame = pd.DataFrame({"text": [t for t, _ in rows], "label": [lab for _, lab in rows]})
        try:
            frame.to_parquet(path)
        except Exception:  # a mix Arrow cannot store in one column: not a file anyone can hand us
            return
        got = outcome(DataConfig(source="file", path=str(path)))
        if not isinstance(got, DataError):
            assert not got.frame.text.str.startswith("[").any()  # joined, never "['a', 'b']"

    tried = run(
        check,
        TABLES // 3,
        rows=st.lists(
            st.tuples(st.one_of(word_lists, st.text(max_size=10)), st.sampled_from(["a", "b", "c"])),
            max_size=40,
        ),
    )
    report("list-valued parquet texts", tried, capsys)
    assert tried >= TABLES // 3


def test_many_small_classes_are_counted_in_one_line(tmp_path, capsys):
    path = tmp_path / "d.csv"

    def check(sizes, test_size):
        rows = [(f"text {c} {i}", f"lab{c}") for c, n in enumerate(sizes) for i in range(n)]
        path.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows), encoding="utf-8")
        got = outcome(DataConfig(source="file", path=str(path), test_size=test_size))
        need = 2 + (test_size > 0)
        small = sum(n < need for n in sizes)
        if small and len(sizes) >= 2:
            assert isinstance(got, DataError)
            assert str(got).startswith(f"{small:,} of {len(sizes):,} class"), str(got)

    tried = run(
        check,
        TABLES // 3,
        sizes=st.lists(st.integers(1, 5), min_size=2, max_size=300),
        test_size=st.sampled_from([0.0, 0.15]),
    )
    report("many small classes", tried, capsys)
    assert tried >= TABLES // 3


def test_a_broken_json_lines_line_is_named_by_its_number(tmp_path, capsys):
    path = tmp_path / "d.jsonl"

    def check(n_good, broken, at):
        lines = [json.dumps({"text": f"text {i}", "label": "ab"[i % 2]}) for i in range(n_good)]
        at = min(at, len(lines))
        lines.insert(at, broken)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        got = outcome(DataConfig(source="file", path=str(path)))
        try:
            json.loads(broken)
        except json.JSONDecodeError:  # not JSON at all: refused, by its line number (1-based)
            assert isinstance(got, DataError) and f"JSON Lines: line {at + 1:,} is not valid JSON" in str(got), (
                at,
                broken,
                got,
            )
        else:  # JSON, but maybe not an object: loaded, or one line either way
            assert isinstance(got, DataError) or not got.frame.empty

    tried = run(
        check,
        JSONL // 2,
        n_good=st.integers(0, 60),
        broken=st.one_of(
            st.sampled_from(['{"text": "x", "label": }', '{"text": "x"', "[1, 2]", "nope", '{"a": 1} {"b": 2}']),
            st.text(alphabet='{}[]":, ab1', min_size=1, max_size=12),
        ),
        at=st.integers(0, 60),
    )
    report("broken json lines", tried, capsys)
    assert tried >= JSONL // 2
