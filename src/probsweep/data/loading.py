"""Cleaning, checking, splitting and vectorising a data set: everything between a file's rows (files.py)
and the model's int arrays.

Why one place: every run must see exactly the same rows, splits and token ids for a given config and
seed (the sweep compares runs, and `fingerprint` lets MLflow prove they shared data), and bad input must
stop before any training with one line that names the problem and the fix, never a pandas/TF traceback.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from probsweep.config import SPLITS, DataConfig, counted
from probsweep.data import synthetic
from probsweep.data.files import DataError, read_table, read_vectors

log = logging.getLogger(__name__)
# data.max_len=auto: the 99th percentile of the training texts' token counts, so 1 text in 100 is cut;
# capped at the seed's 150 because the GRU's time per epoch grows with the length, and at least 8 so
# the convolution has room. Short queries (about 8 words) get ~16, ten times faster per epoch than 150.
MAX_LEN_PERCENTILE, MAX_LEN_CAP, MAX_LEN_FLOOR = 99, 150, 8


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


def _utf8(values: pd.Series) -> pd.Series:
    """Lone surrogates (a JSON "\\ud800" escape) replaced by "?": TensorFlow and hashing need valid UTF-8."""
    return values.str.encode("utf-8", "replace").str.decode("utf-8")


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
    out["text"] = _joined_lists(out.text, text)
    if out.label.map(_is_container).any():
        raise DataError(
            f"column {label!r} holds lists or mappings, not one label per row (e.g. {_example(out.label)}): "
            "give each row one label (multi-label data is not supported), or set data.label_column"
        )
    empty = out.text.isna() | out.text.astype(str).str.strip().eq("")
    if empty.all():
        raise DataError(f"all {len(out)} texts in column {text!r} are empty: check data.text_column")
    if empty.any():
        log.warning("dropped %s whose text in column %r is empty", counted(int(empty.sum()), "row"), text)
    out = out[~empty].reset_index(drop=True)
    no_label = out.label.isna() | out.label.astype(str).str.strip().eq("")
    if no_label.any():
        n = int(no_label.sum())
        raise DataError(
            f"{counted(n, 'row')} {'has' if n == 1 else 'have'} no label (NaN/empty) in column {label!r}: "
            f"drop {'that row' if n == 1 else 'those rows'} or fill {'its label' if n == 1 else 'their labels'}"
        )
    _warn_if_not_text(out.text, text)
    if pd.api.types.is_float_dtype(out.label) and (out.label % 1 == 0).all():
        out["label"] = out.label.astype("int64")  # 3, not "3.0", when NaNs (now dropped) made pandas read floats
    out["text"], out["label"] = _utf8(out.text.astype(str)), _utf8(out.label.astype(str).str.strip())
    return out, int(empty.sum())


def _is_container(value) -> bool:
    return isinstance(value, (list, tuple, dict, set, np.ndarray))


def _example(values: pd.Series) -> str:
    found = values[values.map(_is_container)]
    shown = found.iloc[0].tolist() if isinstance(found.iloc[0], np.ndarray) else found.iloc[0]
    return repr(shown)[:60]


def _joined_lists(texts: pd.Series, column: str) -> pd.Series:
    """A column of lists of strings (Parquet, JSON Lines: pre-tokenised texts) becomes one text per row, the
    items joined with spaces, said in a warning; lists of anything else, and mappings, are refused."""
    lists = texts.map(_is_container)
    if not lists.any():
        return texts

    def words(value) -> bool:
        return not isinstance(value, (dict, set)) and all(isinstance(w, str) for w in value)

    if not texts[lists].map(words).all():
        raise DataError(
            f"column {column!r} holds lists or mappings, not texts (e.g. {_example(texts)}): give one string per "
            "row, or set data.text_column to the column of texts"
        )
    log.warning(
        "column %r holds lists of words, not strings (%s of %s, e.g. %s): the items of each are joined with "
        "spaces into one text; join them yourself to choose otherwise",
        column,
        f"{int(lists.sum()):,}",
        counted(len(texts), "row"),
        _example(texts),
    )
    return texts.map(lambda v: " ".join(v) if _is_container(v) else v)


NOT_TEXT_SHARE = 0.5  # warn when more than this share of the texts have no letter in any script (numbers, IDs)


def _warn_if_not_text(texts: pd.Series, column: str) -> None:
    """Numbers or IDs in the text column train a model at chance without any error: say so."""
    as_text = texts.astype(str).str.strip()
    no_letter = as_text.str.fullmatch(r"[\W\d_]*")
    if no_letter.mean() > NOT_TEXT_SHARE:
        examples = ", ".join(repr(t[:20]) for t in as_text[no_letter].head(3))
        log.warning(
            "%s of %s in column %r contain no letters (e.g. %s): they look like numbers or IDs, not texts, "
            "and a text model learns next to nothing from them; check data.text_column",
            f"{int(no_letter.sum()):,}",
            counted(len(texts), "text"),
            column,
            examples,
        )


def _given_split(frame: pd.DataFrame, column: str) -> pd.Series:
    values = (
        frame.split.fillna("").astype(str).str.strip().str.lower()
    )  # a missing value is '' (pandas 3 keeps NaN in str)
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
        n, first, seen = len(small), small.index[0], int(small.iloc[0])
        one = n == 1
        raise DataError(
            f"{n:,} of {counted(len(counts), 'class', 'classes')} {'has' if one else 'have'} fewer than {need} "
            f"examples ({'' if one else 'e.g. '}{first!r} has {counted(seen, 'example')}), too few to stratify into "
            f"train, val{' and test' if test > 0 else ''}: merge or remove {'it' if one else 'them'}, add examples"
            + (", set data.test_size=0 (then 2 per class are enough)" if test > 0 else "")
            + ", or give a split column (data.split_column)"
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
    standard.adapt(np.asarray(["a"], dtype=object))  # any one word: a text with no token (":") left it empty
    return np.asarray(tf.cast(standard(texts).row_lengths(), tf.int64))


def auto_max_len(lengths: np.ndarray) -> int:
    """data.max_len=auto: the MAX_LEN_PERCENTILE-th percentile of the training token counts, within [FLOOR, CAP]."""
    return int(np.clip(np.ceil(np.percentile(lengths, MAX_LEN_PERCENTILE)), MAX_LEN_FLOOR, MAX_LEN_CAP))


def _duplicates(frame: pd.DataFrame, dedupe: bool) -> dict[str, int]:
    """Exact repeats of a text, and texts given different labels in different rows (logged with examples)."""
    repeats = int(frame.text.duplicated().sum())
    n_labels = frame.groupby("text", sort=False).label.nunique()
    conflicting = n_labels[n_labels > 1].index
    if repeats:
        log.warning(
            "%s the exact text of an earlier row%s",
            f"{counted(repeats, 'row')} {'repeats' if repeats == 1 else 'repeat'}",
            ": dropped (data.dedupe=true)" if dedupe else " (data.dedupe=true keeps only the first)",
        )
    if len(conflicting):
        examples = "; ".join(
            f"{t[:40]!r} is {' and '.join(sorted(set(frame.label[frame.text == t]))[:3])}" for t in conflicting[:3]
        )
        log.warning(
            "%s different labels in different rows, e.g. %s: fix their labels (no model can get them all right)",
            f"{counted(len(conflicting), 'text')} {'has' if len(conflicting) == 1 else 'have'}",
            examples,
        )
    return {"duplicate_texts": repeats, "conflicting_label_texts": len(conflicting)}


@dataclass
class Prepared:
    """The rows before vectorising: read, cleaned, deduplicated if asked, split."""

    frame: pd.DataFrame  # text, label, split; out-of-scope rows never in train
    classes: list[str]
    vectors: dict[str, np.ndarray] | None  # the embedded data set's own vectors
    report: dict


def prepare(cfg: DataConfig, embed_dim: int, seed: int) -> Prepared:
    """Everything before TextVectorization: read, clean, check duplicates, split, check the classes."""
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
    found = _duplicates(frame, cfg.dedupe)
    deduped = 0
    if cfg.dedupe:  # before splitting, so that no text can land in two splits
        deduped = len(frame)
        frame = frame.drop_duplicates("text", keep="first").reset_index(drop=True)
        deduped -= len(frame)
    if cfg.oos_label and not frame.label.eq(cfg.oos_label).any():
        log.warning(
            "data.oos_label=%r matches no row of column %r: no out-of-scope examples", cfg.oos_label, columns[1]
        )
    classes = sorted(set(frame.label) - {oos})
    if len(classes) < 2:
        raise DataError(
            f"only {counted(len(classes), 'class', 'classes')} ({classes}) in column {columns[1]!r}: "
            "a classifier needs at least two; check data.label_column"
        )
    split_column = columns[2]
    given = split_column is not None
    frame["split"] = _given_split(frame, split_column) if split_column else _stratified_split(frame, cfg, oos, seed)
    oos_in_train = (frame.split == "train") & (frame.label == oos)
    frame = frame[~oos_in_train].reset_index(drop=True)
    classes = sorted(set(frame.label[frame.split == "train"]))
    unseen = sorted(set(frame.label) - set(classes) - {oos})
    if unseen:
        raise DataError(
            f"labels {unseen[:5]} occur in val/test but never in train: add training rows or set data.oos_label"
        )
    if len(classes) < 2:
        raise DataError(f"the training split has only {len(classes)} class: a classifier needs at least two")
    in_splits = frame.groupby("text", sort=False).split.nunique()
    leaked = int((in_splits > 1).sum())
    if leaked:
        log.warning(
            "%s in more than one split (train/val/test), so validation and test scores are "
            "inflated: set data.dedupe=true to keep only the first row of each text",
            f"{counted(leaked, 'text')} {'is' if leaked == 1 else 'are'}",
        )
    report = {
        "source": cfg.source,
        "rows_read": len(raw),
        "rows_dropped_empty_text": dropped,
        **found,
        "rows_dropped_duplicate": deduped,
        "texts_in_several_splits": leaked,
        "oos_dropped_from_train": int(oos_in_train.sum()),
        "split": "given" if given else "stratified",
    }
    return Prepared(frame, classes, vectors, report)


def load_dataset(cfg: DataConfig, embed_dim: int, seed: int) -> Dataset:
    """The configured data set, split, vectorised and (with vectors) given an embedding matrix."""
    prepared = prepare(cfg, embed_dim, seed)
    frame, classes, vectors = prepared.frame, prepared.classes, prepared.vectors
    parts = {s: frame[frame.split == s] for s in SPLITS}

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
        **prepared.report,
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
