"""Loading, cleaning, splitting and vectorising a data set: everything between a file and the model's int arrays.

Why one place: every run must see exactly the same rows, splits and token ids for a given config and
seed (the sweep compares runs, and `fingerprint` lets MLflow prove they shared data), and bad input must
stop before any training with one line that names the problem and the fix, never a pandas/TF traceback.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from probsweep.config import SPLITS, ConfigError, DataConfig, one_line
from probsweep.data import synthetic

log = logging.getLogger(__name__)
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet",
            ".jsonl": "jsonl", ".ndjson": "jsonl"}


# data.max_len=auto: the 99th percentile of the training texts' token counts, so 1 text in 100 is cut;
# capped at the seed's 150 because the GRU's time per epoch grows with the length, and at least 8 so
# the convolution has room. Short queries (about 8 words) get ~16, ten times faster per epoch than 150.
MAX_LEN_PERCENTILE, MAX_LEN_CAP, MAX_LEN_FLOOR = 99, 150, 8


class DataError(ConfigError):
    """Input that cannot be used; the one-line message names the problem and the fix."""


@dataclass
class Dataset:
    """Model-ready arrays plus what a run logs. y == -1 marks out-of-scope rows (val/test only)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray  # may have 0 rows
    y_test: np.ndarray
    texts_val: list[str]
    texts_test: list[str]
    class_names: list[str]  # index -> label, sorted
    vectorizer: keras.layers.TextVectorization  # adapted on the training texts only
    embedding_matrix: np.ndarray | None  # (vocab_size, embed_dim); None = Keras's own init
    frame: pd.DataFrame  # the cleaned rows actually used: text, label, split
    fingerprint: str  # sha256 of `frame`'s content
    report: dict

    @property
    def vocab_size(self) -> int:
        return len(self.vectorizer.get_vocabulary())

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def read_table(cfg: DataConfig) -> pd.DataFrame:
    """The user's file as pandas reads it; the format comes from data.format or the path's suffix."""
    if not cfg.path:
        raise DataError("data.path is not set: pass data.path=/path/to/your/file")
    path = Path(cfg.path).expanduser()
    if not path.is_file():
        raise DataError(f"data file not found: {path}; check data.path")
    fmt = (cfg.format or SUFFIXES.get(path.suffix.lower(), "")).lower()
    if fmt not in ("csv", "tsv", "parquet", "jsonl"):
        raise DataError(f"unknown data format {cfg.format or path.suffix or path.name!r}: use a .csv, .tsv, .parquet "
                        "or .jsonl file, or set data.format=csv|tsv|parquet|jsonl")
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty (0 bytes): point data.path at a file with rows")
    text_opts = dict(encoding=cfg.encoding, keep_default_na=False, na_values=[""])  # a text "NA" stays a text
    try:
        if fmt == "parquet":
            df = pd.read_parquet(path)
        elif fmt == "jsonl":
            df = pd.read_json(path, lines=True, encoding=cfg.encoding, dtype=False, convert_dates=False)
        else:
            df = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", **text_opts)
    except UnicodeDecodeError as exc:
        raise DataError(f"cannot decode {path.name} as {cfg.encoding} (byte {exc.start}): "
                        "set data.encoding=latin-1 (or the file's real encoding)") from None
    except LookupError:
        raise DataError(f"unknown encoding data.encoding={cfg.encoding!r}: use e.g. utf-8 or latin-1") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {path} is empty: point data.path at a file with rows") from None
    except Exception as exc:  # parser errors of any reader: one line, not a traceback
        raise DataError(f"cannot read {path.name} as {fmt}: {one_line(exc)}; check the file or data.format") from None
    if len(df) == 0:
        raise DataError(f"data file {path} has no rows (a header only?): add rows or fix data.path")
    return df


def read_vectors(path, embed_dim: int, words: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """GloVe text vectors ("word v1 ... vd" per line; a word2vec "count dim" header is skipped).

    `words`, if given, keeps only those words: a 400k-word file then costs little memory. Words
    containing spaces (glove.840B has some) are read as everything before the last `embed_dim` fields.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"vectors file not found: {p}; check data.vectors_path")
    keep = set(words) if words is not None else None
    out: dict[str, np.ndarray] = {}
    first, n = True, 0
    try:
        with p.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                parts = line.rstrip("\r\n").rstrip(" ").split(" ")
                if parts == [""]:
                    continue
                if n == 1 and len(parts) == 2 and all(x.isdigit() for x in parts):
                    parts = ["<header>"] + ["0"] * int(parts[1])  # checked like a vector line, then dropped
                if first and len(parts) - 1 != embed_dim:
                    raise DataError(
                        f"vectors file {p.name} has dimension {len(parts) - 1} (line {n}) but "
                        f"model.embed_dim={embed_dim}: set model.embed_dim={len(parts) - 1} "
                        f"or use {embed_dim}-d vectors"
                    )
                first = False
                if len(parts) - 1 < embed_dim:
                    raise DataError(
                        f"malformed vectors file {p.name}: line {n} has {len(parts) - 1} values, "
                        f"expected {embed_dim}; fix or remove that line"
                    )
                word = " ".join(parts[:-embed_dim])
                if word == "<header>" and n == 1 or word in out or (keep is not None and word not in keep):
                    continue
                try:
                    out[word] = np.asarray(parts[-embed_dim:], dtype=np.float32)
                except ValueError:
                    raise DataError(
                        f"malformed vectors file {p.name}: line {n} has a value that is not a number; "
                        "fix or remove that line"
                    ) from None
    except UnicodeDecodeError:
        raise DataError(f"vectors file {p.name} is not UTF-8 text (near line {n + 1}): convert it to UTF-8") from None
    if first:
        raise DataError(f"vectors file {p} has no vectors: check data.vectors_path")
    return out


def embedding_matrix(
    vocab: list[str], vectors: dict[str, np.ndarray], embed_dim: int, seed: int
) -> tuple[np.ndarray, int]:
    """(vocab_size, embed_dim) matrix and the number of vocabulary words the vectors cover.

    Row 0 (padding) is zeros. Words the vectors lack, and row 1 (the OOV token), are drawn from
    N(mean, std) of the found vectors, per dimension, with a seeded RNG: that keeps unknown words on
    the same scale as known ones, so a frozen embedding neither drowns nor ignores them.
    """
    found = [i for i, w in enumerate(vocab) if i >= 2 and w in vectors]
    if not found:
        raise DataError(
            f"the vectors cover none of the {max(0, len(vocab) - 2)} vocabulary words: "
            "check data.vectors_path matches the texts (language, lower case)"
        )
    known = np.stack([vectors[vocab[i]] for i in found]).astype(np.float32)
    std = known.std(axis=0) if len(found) > 1 else np.full(embed_dim, known.std())
    rng = np.random.default_rng([seed, 2718])  # its own stream: splits and vectors don't perturb each other
    matrix = rng.normal(known.mean(axis=0), std, size=(len(vocab), embed_dim)).astype(np.float32)
    matrix[found] = known
    matrix[0] = 0.0
    return matrix, len(found)


def _clean(df: pd.DataFrame, text: str, label: str, split: str | None) -> tuple[pd.DataFrame, int]:
    """Columns renamed to text/label[/split]; empty texts dropped (and counted); labels checked."""
    keys = {text: "data.text_column", label: "data.label_column", split: "data.split_column"}
    for col in (text, label, split):
        if col is not None and col not in df.columns:
            raise DataError(
                f"column {col!r} not found (the file has columns {[str(c) for c in df.columns]}): "
                f"set {keys[col]} to one of them"
            )
    out = pd.DataFrame({"text": df[text], "label": df[label]} | ({"split": df[split]} if split else {}))
    empty = out.text.isna() | out.text.astype(str).str.strip().eq("")
    if empty.all():
        raise DataError(f"all {len(out)} texts in column {text!r} are empty: check data.text_column")
    if empty.any():
        log.warning("dropped %d rows whose text in column %r is empty", int(empty.sum()), text)
    out = out[~empty].reset_index(drop=True)
    no_label = out.label.isna() | out.label.astype(str).str.strip().eq("")
    if no_label.any():
        raise DataError(
            f"{int(no_label.sum())} rows have no label (NaN/empty) in column {label!r}: "
            "drop those rows or fill their labels"
        )
    if pd.api.types.is_float_dtype(out.label) and (out.label % 1 == 0).all():
        out["label"] = out.label.astype("int64")  # 3, not "3.0", when NaNs (now dropped) made pandas read floats
    out["text"], out["label"] = out.text.astype(str), out.label.astype(str).str.strip()
    return out, int(empty.sum())


def _given_split(frame: pd.DataFrame, column: str) -> pd.Series:
    values = frame.split.astype(str).str.strip().str.lower()
    unknown = sorted(set(values) - set(SPLITS))
    if unknown:
        raise DataError(f"unknown values {unknown[:5]} in split column {column!r}: use only train, val or test")
    for name in ("train", "val"):
        if not values.eq(name).any():
            raise DataError(
                f"no '{name}' rows in split column {column!r}: add some, "
                "or unset data.split_column to split automatically"
            )
    return values


def _stratified_split(frame: pd.DataFrame, cfg: DataConfig, oos: str | None, seed: int) -> np.ndarray:
    """Per-class shuffled slicing: every class lands in every split; out-of-scope rows only in val/test."""
    val, test = cfg.val_size, cfg.test_size
    if not (0 < val < 1 and 0 <= test < 1 and val + test < 1):
        raise DataError(
            f"data.val_size={val} and data.test_size={test} must satisfy 0 < val_size, 0 <= test_size, sum < 1"
        )
    need = 2 + (test > 0)
    counts = frame.label[frame.label != oos].value_counts()
    small = counts[counts < need].sort_values()
    if len(small):
        raise DataError(
            f"class {small.index[0]!r} has {small.iloc[0]} example(s), too few to stratify (minimum {need}): "
            "merge or remove it, or give a split column (data.split_column)"
        )
    rng, split = np.random.default_rng(seed), np.empty(len(frame), dtype=object)
    for lab in sorted(frame.label.unique()):
        idx = rng.permutation(np.flatnonzero(frame.label.to_numpy() == lab))
        n = len(idx)
        if lab == oos:
            n_test, n_val = round(n * test / (val + test)), n - round(n * test / (val + test))
        else:
            n_val, n_test = max(1, round(n * val)), (max(1, round(n * test)) if test > 0 else 0)
            while n_val + n_test > n - 1:  # keep at least one training example
                n_val, n_test = (n_val - 1, n_test) if n_val >= n_test else (n_val, n_test - 1)
        split[idx[:n_val]], split[idx[n_val : n_val + n_test]], split[idx[n_val + n_test :]] = "val", "test", "train"
    return split


def token_counts(texts: np.ndarray) -> np.ndarray:
    """Tokens per text as TextVectorization splits them (its default standardisation, whitespace split)."""
    import tensorflow as tf

    standard = keras.layers.TextVectorization(output_mode="int", ragged=True, max_tokens=3)  # tiny vocab: counting only
    standard.adapt(texts[:1])
    return np.asarray(tf.cast(standard(texts).row_lengths(), tf.int64))


def auto_max_len(lengths: np.ndarray) -> int:
    """data.max_len=auto: the MAX_LEN_PERCENTILE-th percentile of the training token counts, within [FLOOR, CAP]."""
    return int(np.clip(np.ceil(np.percentile(lengths, MAX_LEN_PERCENTILE)), MAX_LEN_FLOOR, MAX_LEN_CAP))


def load_dataset(cfg: DataConfig, embed_dim: int, seed: int) -> Dataset:
    """The configured data set, split, vectorised and (with vectors) given an embedding matrix."""
    vectors = None
    columns: tuple[str, str, str | None]
    oos: str | None
    if cfg.source == "embedded":
        try:
            raw, vectors = synthetic.generate(cfg.synthetic, embed_dim, seed)
        except ValueError as exc:
            raise DataError(f"data.synthetic: {exc}") from None
        columns, oos = ("text", "label", "split"), cfg.oos_label or synthetic.OOS_LABEL
    elif cfg.source == "file":
        raw, columns, oos = read_table(cfg), (cfg.text_column, cfg.label_column, cfg.split_column), cfg.oos_label
    else:
        raise DataError(f"data.source={cfg.source!r} must be 'embedded' or 'file'")
    frame, dropped = _clean(raw, *columns)
    if cfg.oos_label and not frame.label.eq(cfg.oos_label).any():
        log.warning(
            "data.oos_label=%r matches no row of column %r: no out-of-scope examples", cfg.oos_label, columns[1]
        )
    classes = sorted(set(frame.label) - {oos})
    if len(classes) < 2:
        raise DataError(
            f"only {len(classes)} class ({classes}) in column {columns[1]!r}: "
            "a classifier needs at least two; check data.label_column"
        )
    split_column = columns[2]
    given = split_column is not None
    frame["split"] = _given_split(frame, split_column) if split_column else _stratified_split(frame, cfg, oos, seed)
    oos_in_train = (frame.split == "train") & (frame.label == oos)
    frame = frame[~oos_in_train].reset_index(drop=True)
    parts = {s: frame[frame.split == s] for s in SPLITS}
    classes = sorted(set(parts["train"].label))
    unseen = sorted(set(frame.label) - set(classes) - {oos})
    if unseen:
        raise DataError(
            f"labels {unseen[:5]} occur in val/test but never in train: add training rows or set data.oos_label"
        )
    if len(classes) < 2:
        raise DataError(f"the training split has only {len(classes)} class: a classifier needs at least two")

    train_texts = np.asarray(parts["train"].text.tolist(), dtype=object)
    lengths = token_counts(train_texts)
    max_len = auto_max_len(lengths) if cfg.max_len == "auto" else int(cfg.max_len)
    vectorizer = keras.layers.TextVectorization(max_tokens=cfg.max_tokens, output_sequence_length=max_len)
    vectorizer.adapt(train_texts)
    index = {c: i for i, c in enumerate(classes)}

    def arrays(s: str) -> tuple[np.ndarray, np.ndarray]:
        texts = parts[s].text.tolist()
        x = (
            np.asarray(vectorizer(np.asarray(texts, dtype=object)), dtype=np.int32)
            if texts
            else np.zeros((0, max_len), np.int32)
        )
        return x, np.array([index.get(lab, -1) for lab in parts[s].label], dtype=np.int64)

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = (arrays(s) for s in SPLITS)
    vocab = vectorizer.get_vocabulary()
    matrix, coverage = None, None
    if cfg.vectors_path:
        vectors = read_vectors(cfg.vectors_path, embed_dim, words=vocab)
    if vectors is not None:
        matrix, n_found = embedding_matrix(vocab, vectors, embed_dim, seed)
        coverage = n_found / max(1, len(vocab) - 2)
        log.info("pretrained vectors cover %d of %d vocabulary words (%.1f%%)", n_found, len(vocab) - 2, 100 * coverage)
    hashes = pd.util.hash_pandas_object(frame[["text", "label", "split"]], index=False).to_numpy()
    report = {
        "source": cfg.source,
        "rows_read": len(raw),
        "rows_dropped_empty_text": dropped,
        "oos_dropped_from_train": int(oos_in_train.sum()),
        "split": "given" if given else "stratified",
        "n_train": len(x_tr),
        "n_val": len(x_va),
        "n_test": len(x_te),
        "n_classes": len(classes),
        "n_oos_val": int((y_va < 0).sum()),
        "n_oos_test": int((y_te < 0).sum()),
        "n_oos": int((y_va < 0).sum() + (y_te < 0).sum()),
        "vocab_size": len(vocab),
        "vector_coverage": coverage,
        "max_len": max_len,
        f"train_tokens_p{MAX_LEN_PERCENTILE}": float(np.percentile(lengths, MAX_LEN_PERCENTILE)),
        "train_texts_truncated": float(np.mean(lengths > max_len)),
    }
    log.info("data: %s", report)
    return Dataset(
        x_tr,
        y_tr,
        x_va,
        y_va,
        x_te,
        y_te,
        parts["val"].text.tolist(),
        parts["test"].text.tolist(),
        classes,
        vectorizer,
        matrix,
        frame,
        hashlib.sha256(hashes.tobytes()).hexdigest(),
        report,
    )
