"""Tests for probsweep.data: every format loads alike, splits are right, vectors land, bad input fails in one line."""

import logging

import numpy as np
import pandas as pd
import pytest

from probsweep.config import DataConfig, SyntheticConfig
from probsweep.data.loading import DataError, load_dataset, read_vectors

WORDS = {"a": "apple apricot", "b": "banana berry", "c": "cherry citrus"}


def table(n_per_class=10, classes="abc"):
    rows = [
        {"text": f"{WORDS[c]} word{i % 3} fruit", "label": f"class_{c}"} for c in classes for i in range(n_per_class)
    ]
    return pd.DataFrame(rows)


def write(df, path):
    suffix = path.suffix
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".tsv":
        df.to_csv(path, sep="\t", index=False)
    elif suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_json(path, orient="records", lines=True)
    return path


def load(path, **kw):
    return load_dataset(DataConfig(source="file", path=str(path), **{"max_len": 6, **kw}), embed_dim=4, seed=0)


def test_every_format_loads_to_the_same_splits(tmp_path):
    loaded = [load(write(table(), tmp_path / f"d{ext}")) for ext in (".csv", ".tsv", ".parquet", ".jsonl")]
    first = loaded[0]
    assert first.class_names == ["class_a", "class_b", "class_c"] and first.embedding_matrix is None
    for d in loaded[1:]:
        pd.testing.assert_frame_equal(d.frame, first.frame)
        assert d.fingerprint == first.fingerprint
        assert np.array_equal(d.x_train, first.x_train) and np.array_equal(d.y_val, first.y_val)
    assert first.x_train.dtype == np.int32 and first.y_train.dtype == np.int64 and first.x_train.shape[1] == 6


def test_format_key_overrides_suffix(tmp_path):
    path = tmp_path / "data.txt"
    table().to_csv(path, index=False)
    assert load(path, format="csv").n_classes == 3


def test_split_column_used_as_given(tmp_path):
    df = table(6)
    df["part"] = (["train"] * 4 + ["VAL", " test"]) * 3
    d = load(write(df, tmp_path / "d.csv"), split_column="part")
    assert (d.report["n_train"], d.report["n_val"], d.report["n_test"]) == (12, 3, 3)
    assert d.report["split"] == "given" and set(d.frame.split) == {"train", "val", "test"}


def test_stratified_split_is_deterministic_and_covers_every_class(tmp_path):
    path = write(table(20), tmp_path / "d.csv")
    d1, d2 = load(path), load(path)
    assert d1.fingerprint == d2.fingerprint and np.array_equal(d1.y_val, d2.y_val)
    counts = d1.frame.groupby(["split", "label"]).size().unstack()
    assert counts.notna().all().all() and (counts.loc["val"] == 3).all() and (counts.loc["train"] == 14).all()
    d3 = load_dataset(DataConfig(source="file", path=str(path), max_len=6), embed_dim=4, seed=1)
    assert d3.fingerprint != d1.fingerprint
    no_test = load(path, test_size=0.0)
    assert no_test.x_test.shape == (0, 6) and no_test.y_test.shape == (0,) and no_test.texts_test == []


def test_out_of_scope_rows_never_train(tmp_path):
    df = pd.concat(
        [table(), pd.DataFrame({"text": [f"random chatter {i}" for i in range(8)], "label": "oos"})], ignore_index=True
    )
    d = load(write(df, tmp_path / "d.csv"), oos_label="oos")
    assert "oos" not in d.class_names and "oos" not in set(d.frame[d.frame.split == "train"].label)
    assert (d.y_train >= 0).all() and d.report["n_oos"] == 8 == (d.y_val == -1).sum() + (d.y_test == -1).sum()
    df["split"] = ["train"] * len(table()) + ["train", "train", "val", "val", "val", "test", "test", "test"]
    df.loc[df.label == "class_a", "split"] = ["train"] * 8 + ["val", "test"]
    df.loc[df.label == "class_b", "split"] = ["train"] * 8 + ["val", "test"]
    df.loc[df.label == "class_c", "split"] = ["train"] * 8 + ["val", "test"]
    g = load(write(df, tmp_path / "g.csv"), oos_label="oos", split_column="split")
    assert g.report["oos_dropped_from_train"] == 2 and (g.y_val == -1).sum() == 3 and (g.y_test == -1).sum() == 3


def test_glove_vectors_fill_the_matrix(tmp_path):
    vec = tmp_path / "glove.txt"
    vec.write_text("apple 1 2 3 4\nbanana 0.5 0.5 0.5 0.5\nzebra 9 9 9 9\n")
    d = load(write(table(), tmp_path / "d.csv"), vectors_path=str(vec))
    vocab = d.vectorizer.get_vocabulary()
    m = d.embedding_matrix
    assert m.shape == (d.vocab_size, 4) and m.dtype == np.float32 and not m[0].any()
    assert np.array_equal(m[vocab.index("apple")], [1, 2, 3, 4]) and np.array_equal(m[vocab.index("banana")], [0.5] * 4)
    assert d.report["vector_coverage"] == pytest.approx(2 / (len(vocab) - 2))
    assert np.isfinite(m).all() and np.array_equal(m, load(tmp_path / "d.csv", vectors_path=str(vec)).embedding_matrix)
    header = tmp_path / "w2v.txt"
    header.write_text("2 4\napple 1 2 3 4\nnew york 1 1 1 1\n")
    assert set(read_vectors(header, 4)) == {"apple", "new york"}


def test_max_len_auto_is_the_99th_percentile_of_training_token_counts(tmp_path):
    # 100 training texts of 1..100 tokens (punctuation and case as TextVectorization strips them):
    # the 99th percentile is 99.01 tokens, so 100; validation texts do not count.
    rows = [{"text": " ".join(["Word,"] * n), "label": "ab"[n % 2], "split": "train"} for n in range(1, 101)]
    rows += [{"text": "word " * 140, "label": lab, "split": "val"} for lab in "ab"]
    d = load(write(pd.DataFrame(rows), tmp_path / "d.csv"), split_column="split", max_len="auto")
    assert d.x_train.shape[1] == d.x_val.shape[1] == d.report["max_len"] == 100
    assert d.report["train_tokens_p99"] == pytest.approx(99.01) and d.report["train_texts_truncated"] == 0.0
    short = [{"text": "a b c", "label": "ab"[i % 2], "split": s} for i in range(10) for s in ("train", "val")]
    d = load(write(pd.DataFrame(short), tmp_path / "s.csv"), split_column="split", max_len="auto")
    assert d.report["max_len"] == 8  # the floor
    long = [{"text": "w " * 400, "label": "ab"[i % 2], "split": s} for i in range(10) for s in ("train", "val")]
    d = load(write(pd.DataFrame(long), tmp_path / "l.csv"), split_column="split", max_len="auto")
    assert d.report["max_len"] == 150 and d.report["train_texts_truncated"] == 1.0  # the cap


def test_embedded_source(caplog):
    syn = SyntheticConfig(
        n_classes=6,
        n_groups=2,
        train_per_class=6,
        val_per_class=2,
        test_per_class=2,
        min_len=8,
        max_len=20,
        vocab_words=60,
        oos_per_split=3,
    )
    with caplog.at_level(logging.INFO, logger="probsweep.data"):
        d = load_dataset(DataConfig(synthetic=syn, max_len=20), embed_dim=8, seed=5)
    assert d.vocab_size == 62 and d.n_classes == 6 and d.report["vector_coverage"] == 1.0
    assert (d.y_val == -1).sum() == 3 and (d.y_test == -1).sum() == 3 and "oos" not in d.class_names
    assert "cover 60 of 60" in caplog.text


def test_empty_texts_dropped_and_counted(tmp_path, caplog):
    df = table()
    df.loc[[0, 5], "text"] = ["", "   "]
    df.loc[12, "text"] = None
    with caplog.at_level(logging.WARNING):
        d = load(write(df, tmp_path / "d.csv"))
    assert d.report["rows_dropped_empty_text"] == 3 and len(d.frame) == 27
    assert "dropped 3 rows" in caplog.text


def _bad(tmp_path, case):
    """Build a broken input; return the DataConfig kwargs and embed_dim that load it."""
    csv = tmp_path / "d.csv"
    kw = dict(source="file", path=str(csv))
    if case == "missing_file":
        kw["path"] = str(tmp_path / "nope.csv")
    elif case == "zero_bytes":
        csv.write_bytes(b"")
    elif case == "header_only":
        csv.write_text("text,label\n")
    elif case in ("no_text_col", "no_label_col", "no_split_col"):
        write(table(), csv)
        kw.update(
            {
                "no_text_col": dict(text_column="body"),
                "no_label_col": dict(label_column="intent"),
                "no_split_col": dict(split_column="fold"),
            }[case]
        )
    elif case == "all_empty":
        write(table().assign(text=""), csv)
    elif case == "nan_labels":
        df = table()
        df.loc[[1, 2], "label"] = None
        write(df, csv)
    elif case == "too_few":
        write(pd.concat([table(), table(2, "a").assign(label="rare")]), csv)
    elif case == "single_class":
        write(table(10, "a"), csv)
    elif case == "encoding":
        csv.write_bytes("text,label\ncaf\xe9 au lait,a\nth\xe9,b\n".encode("latin-1"))
    elif case == "suffix":
        kw["path"] = str(write(table(), tmp_path / "d.xlsx"))
    elif case == "bad_split_values":
        write(table().assign(fold="holdout"), csv)
        kw["split_column"] = "fold"
    elif case in ("malformed_vectors", "vector_dim"):
        write(table(), csv)
        vec = tmp_path / "v.txt"
        vec.write_text(
            "apple 1 2 3 4\nbanana 1 2 3 4\ncherry 1 2 x 4\n" if case == "malformed_vectors" else "apple 1 2 3\n"
        )
        kw["vectors_path"] = str(vec)
    return kw


BAD = {
    "missing_file": ["not found", "data.path"],
    "zero_bytes": ["empty"],
    "header_only": ["no rows"],
    "no_text_col": ["'body'", "columns", "'text'", "data.text_column"],
    "no_label_col": ["'intent'", "'label'", "data.label_column"],
    "no_split_col": ["'fold'", "data.split_column"],
    "all_empty": ["all 30 texts", "empty"],
    "nan_labels": ["2 rows", "no label", "drop", "fill"],
    "too_few": ["1 of 4 classes has fewer than 3 examples", "'rare' has 2 examples", "split column"],
    "single_class": ["class", "at least two"],
    "encoding": ["decode", "data.encoding="],
    "suffix": ["format", "'.xlsx'"],
    "bad_split_values": ["'holdout'", "train, val or test"],
    "malformed_vectors": ["malformed", "line 3"],
    "vector_dim": ["dimension 3", "model.embed_dim=4", "model.embed_dim=3"],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_raises_one_line_data_error(tmp_path, case):
    kw = _bad(tmp_path, case)
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(max_len=6, **kw), embed_dim=4, seed=0)
    msg = str(info.value)
    assert "\n" not in msg and info.value.__cause__ is None
    for key in BAD[case]:
        assert key in msg, (key, msg)


def test_unseen_validation_label_is_named(tmp_path):
    df = table(4).assign(split=["train", "train", "val", "val"] * 3)
    df.loc[11, "label"] = "stray"
    with pytest.raises(DataError, match="'stray'.*never in train"):
        load(write(df, tmp_path / "d.csv"), split_column="split")


def test_integer_labels_stay_integers_after_dropping_empty_rows(tmp_path):
    df = table().assign(label=[1] * 10 + [2] * 10 + [3] * 10)
    df.loc[0, ["text", "label"]] = [None, None]  # pandas now reads the label column as floats
    d = load(write(df, tmp_path / "d.csv"), oos_label="nothing")
    assert d.class_names == ["1", "2", "3"] and d.report["rows_dropped_empty_text"] == 1
