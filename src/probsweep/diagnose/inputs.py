"""What `probsweep diagnose` reads: a predictions file, or a saved Keras model run on the configured data.

Every bad input is a DiagnoseError (a ConfigError: one line, exit 2) naming the problem and the fix.
The predictions form needs pandas only; Keras loads for the model form alone.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from probsweep.config import ConfigError, DataConfig
from probsweep.head import Head

META = ("label", "split", "epoch")  # the predictions file's columns that are not a class's probability
SPLITS = ("val", "test")  # train rows of a predictions file are left out: nothing is fitted on them
MODEL_SUFFIXES = (".keras", ".h5")
PREDICTION_SUFFIXES = (".csv", ".tsv", ".tab", ".parquet", ".pq", ".jsonl", ".ndjson")
DEFAULT_HEAD = "softmax+sparse_categorical_crossentropy"  # a predictions file: one distribution per row


class DiagnoseError(ConfigError):
    """Input `probsweep diagnose` cannot use; the one-line message names the problem and the fix."""


@dataclass
class Outputs:
    """Raw outputs and labels (-1 = out of scope) per split, and what is known of the head that made them."""

    form: str  # "model" or "predictions"
    source: str  # the file diagnosed
    splits: dict[str, tuple[np.ndarray, np.ndarray]]  # "val" always, "test" when there is one
    class_names: list[str]
    head: Head
    loss_path: str | None = None  # the path the compiled loss takes (model form only)
    check: Any = None  # probsweep.compiled.CheckResult (model form only)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per epoch of the validation outputs
    epoch_outputs: dict[int, np.ndarray] = field(default_factory=dict)  # epoch -> validation outputs (predictions)


def parse_head(spec: str) -> Head:
    """'activation+loss' as the runs' `head` tag writes it, e.g. sigmoid+binary_crossentropy."""
    activation, _, loss = spec.partition("+")
    try:
        return Head(activation.strip(), loss.strip())  # type: ignore[arg-type]  # Head takes names too
    except ValueError:
        raise DiagnoseError(
            f"--head {spec!r} is not activation+loss: use e.g. {DEFAULT_HEAD}, sigmoid+binary_crossentropy "
            "or linear+sparse_categorical_crossentropy (logits)"
        ) from None


def check_path(path: str, suffixes: tuple[str, ...], what: str) -> Path:
    """The file exists and has a suffix we read: checked before anything heavy is imported."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DiagnoseError(f"{what} {p} does not exist: pass the path of an existing file")
    if p.suffix.lower() not in suffixes:
        raise DiagnoseError(f"{what} {p.name} is not a {' or '.join(suffixes)} file: pass one of those")
    return p


def labels_to_index(labels: pd.Series, classes: list[str], oos_label: str | None) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index.get(v, -1) for v in labels.astype(str).str.strip()], dtype=np.int64)


def read_predictions(path: str, head: Head, oos_label: str | None = None) -> Outputs:
    """A file with one probability column per class (named after it), `label`, and optionally `split`
    (val/test; default all val) and `epoch` (outputs of several epochs: the last is analysed in full)."""
    from probsweep.data.files import read_table

    p = check_path(path, PREDICTION_SUFFIXES, "predictions file")
    frame = read_table(DataConfig(source="file", path=str(p)))
    if "label" not in frame.columns:
        raise DiagnoseError(
            f"{p.name} has no 'label' column (it has {[str(c) for c in frame.columns][:8]}): add one with each "
            "row's true class"
        )
    classes = [str(c) for c in frame.columns if c not in META and pd.api.types.is_numeric_dtype(frame[c])]
    if not classes:
        raise DiagnoseError(
            f"{p.name} has no probability columns: give one numeric column per class, named after the class, "
            "beside 'label'"
        )
    frame.columns = [str(c) for c in frame.columns]
    labels = frame["label"].astype(str).str.strip()
    unknown = sorted(set(labels) - set(classes) - {oos_label})
    if unknown:
        raise DiagnoseError(
            f"labels {unknown[:5]} of {p.name} are not among its probability columns ({classes[:5]}"
            f"{', ...' if len(classes) > 5 else ''}): name each class's column after its label"
            + ("" if oos_label else ", or mark out-of-scope rows with data.oos_label=<their label>")
        )
    raw = frame[classes].to_numpy(dtype=np.float64)
    if np.isnan(raw).any():
        row, col = np.argwhere(np.isnan(raw))[0]
        raise DiagnoseError(f"row {row + 1} of {p.name} has no value in column {classes[col]!r}: fill every cell")
    if not head.from_logits and (raw.min() < 0 or raw.max() > 1):
        raise DiagnoseError(
            f"{p.name} has values outside [0, 1] (from {raw.min():.4g} to {raw.max():.4g}): these are not "
            "probabilities; for logits pass --head linear+sparse_categorical_crossentropy"
        )
    split = frame["split"].astype(str).str.strip().str.lower() if "split" in frame.columns else None
    if split is not None and not split.isin([*SPLITS, "train"]).all():
        raise DiagnoseError(f"{p.name}'s split column may hold only val and test (and train, which is left out)")
    split = split if split is not None else pd.Series("val", index=frame.index)
    if not (split == "val").any():
        raise DiagnoseError(f"{p.name} has no val rows: the analysis fits its temperature and thresholds on val")
    y = labels_to_index(labels, classes, oos_label)
    epochs = pd.to_numeric(frame["epoch"], errors="coerce") if "epoch" in frame.columns else None
    if epochs is not None and epochs.isna().any():
        raise DiagnoseError(f"{p.name}'s epoch column must hold whole numbers (the epoch each row's outputs are of)")
    last = (epochs == epochs.max()).to_numpy() if epochs is not None else np.ones(len(frame), bool)
    splits = {s: (raw[last & (split == s).to_numpy()], y[last & (split == s).to_numpy()]) for s in SPLITS}
    per_epoch = {}
    if epochs is not None:
        val = (split == "val").to_numpy()
        per_epoch = {
            int(e): (raw[val & (epochs == e).to_numpy()], y[val & (epochs == e).to_numpy()])
            for e in sorted(set(epochs))
        }
    return Outputs(
        "predictions",
        str(p),
        {s: v for s, v in splits.items() if len(v[1])},
        classes,
        head,
        history=history_of(per_epoch or {1: splits["val"]}, head),
        epoch_outputs={e: r for e, (r, _) in per_epoch.items()},
    )


def history_of(per_epoch: dict[int, tuple[np.ndarray, np.ndarray]], head: Head) -> pd.DataFrame:
    """The monitor's per-epoch rows (probability_metrics of the in-scope validation outputs), one per epoch."""
    from probsweep.probs import metrics

    rows = []
    for epoch, (raw, y) in per_epoch.items():
        inside = y >= 0
        p = metrics.to_probabilities(raw, head)
        rows.append({"epoch": epoch, **metrics.probability_metrics(p[inside], y[inside], prefix="val_")})
    return pd.DataFrame(rows)


def load_keras_model(path: Path) -> Any:
    """A saved Keras model, compiled; probsweep's own loss (train.model.HeadLoss) is registered first."""
    import keras

    import probsweep.train.model  # noqa: F401  (registers HeadLoss, so a model `make train` saved loads)

    try:
        with warnings.catch_warnings():  # e.g. an optimizer never stepped: its state is not needed here
            warnings.simplefilter("ignore", UserWarning)
            return keras.saving.load_model(path, compile=True)
    except Exception as exc:  # Keras raises many kinds; the first line says which
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DiagnoseError(
            f"cannot load model {path.name}: {first}; pass a model saved with model.save('my.keras')"
        ) from None


def vectorizer_for(model: Any, model_path: Path, vectorizer: str | None) -> Any:
    """The TextVectorization that turns texts into the model's token ids: --vectorizer (a vocabulary file,
    one token per line, or a saved TextVectorization .keras), else vocabulary.txt beside the model."""
    import keras

    found = Path(vectorizer).expanduser() if vectorizer else model_path.with_name("vocabulary.txt")
    if not found.is_file():
        raise DiagnoseError(
            f"the model {model_path.name} takes token ids and "
            + (f"--vectorizer {found} does not exist" if vectorizer else f"there is no {found.name} beside it")
            + ": pass --vectorizer with its vocabulary file (one token per line) or its saved TextVectorization"
        )
    max_len = model.inputs[0].shape[1]
    if found.suffix.lower() == ".keras":
        try:
            loaded = keras.saving.load_model(found)
        except Exception as exc:
            raise DiagnoseError(f"cannot load --vectorizer {found.name}: {str(exc).splitlines()[0][:200]}") from None
        layers = [loaded, *getattr(loaded, "layers", [])]
        layer = next((x for x in layers if isinstance(x, keras.layers.TextVectorization)), None)
        if layer is None:
            raise DiagnoseError(f"--vectorizer {found.name} holds no TextVectorization layer: save the one you trained")
        return layer
    vocabulary = found.read_text(encoding="utf-8").splitlines()
    return keras.layers.TextVectorization(vocabulary=vocabulary, output_sequence_length=max_len)


def from_model(model_path: str, vectorizer: str | None, cfg: Any) -> Outputs:
    """The model's outputs on the validation and test splits of the configured data (same data keys and
    seed as its training: the same rows, split the same way), with its compiled head and loss path."""
    p = check_path(model_path, MODEL_SUFFIXES, "model")
    from probsweep.compiled import check, path_taken
    from probsweep.data.loading import prepare

    model = load_keras_model(p)
    found = check(model)
    prepared = prepare(cfg.data, cfg.model.embed_dim, cfg.seed)
    classes = prepared.classes
    width = model.outputs[0].shape[-1] if len(model.outputs) == 1 else None
    if width != len(classes):
        raise DiagnoseError(
            f"the model {p.name} has {width} outputs but the data has {len(classes)} classes: pass the data it "
            "was trained on (data=file data.path=... with the same columns, data.oos_label and seed)"
        )
    texts = {s: np.asarray(prepared.frame.text[prepared.frame.split == s].tolist(), dtype=object) for s in SPLITS}
    is_text = "string" in str(model.inputs[0].dtype)
    if is_text:  # Keras takes no object arrays of strings: a string tensor, shaped as the model's input
        import tensorflow as tf

        def encode(t: np.ndarray) -> Any:
            return tf.constant(t.astype(str).reshape(-1, 1) if len(model.inputs[0].shape) == 2 else t.astype(str))

    else:
        vectorize = vectorizer_for(model, p, vectorizer)

        def encode(t: np.ndarray) -> Any:
            return np.asarray(vectorize(t), dtype=np.int32)

    splits = {}
    for s, t in texts.items():
        if len(t):
            raw = model.predict(encode(t), batch_size=256, verbose=0)
            labels = prepared.frame.label[prepared.frame.split == s]
            splits[s] = (np.asarray(raw, dtype=np.float64), labels_to_index(labels, classes, cfg.data.oos_label))
    # The path the loss takes on this model's real output, found as the training's own loss finds it.
    with warnings.catch_warnings():  # Keras notes a named input given as a bare array: the model still runs
        warnings.simplefilter("ignore", UserWarning)
        sample = model(encode(texts["val"][:2]), training=False)
    path = found.path if getattr(model.loss, "strip_cached_logits", False) else path_taken(sample, found.from_logits)
    head = found.head or Head("softmax", "sparse_categorical_crossentropy")  # type: ignore[arg-type]
    return Outputs(
        "model",
        str(p),
        splits,
        classes,
        head,
        loss_path=path if found.mismatch else None,
        check=found,
        history=history_of({1: splits["val"]}, head),
    )
