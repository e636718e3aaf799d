"""Per-epoch probability metrics for a classifier head, in plain NumPy.

Every function takes ``p``, the *raw* outputs as the head produced them (shape (n, K); a
single (K,) vector is read as one example) and ``y``, the true class indices (shape (n,)).
"Raw" matters: a sigmoid head trained with a categorical loss produces rows that need not
sum to 1, and the point of this module is to measure exactly that, so nothing here quietly
renormalises unless the metric's definition requires a distribution (entropy, NLL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from probsweep.config import Activation, ConfigError
from probsweep.head import Head

EPS = 1e-12  # floor for sums and probabilities: keeps all-zero rows and log(0) finite
N_BINS = 15  # equal-width confidence bins of ECE and the reliability diagram


def _as_2d(p) -> np.ndarray:
    """Float (n, K) view of the outputs; a (K,) vector becomes one example."""
    p = np.asarray(p, dtype=np.float64)
    return p[None, :] if p.ndim == 1 else p


def _labels(y, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.int64).reshape(-1)
    if y.shape[0] != n:
        raise ValueError(f"{n} output rows but {y.shape[0]} labels")
    return y


def softmax(z, axis: int = -1) -> np.ndarray:
    """scipy's softmax in float64 (it subtracts the maximum first: large logits cannot overflow)."""
    return special.softmax(np.asarray(z, dtype=np.float64), axis=axis)


def sigmoid(z) -> np.ndarray:
    """scipy's logistic function (expit) in float64: stable for large |z|."""
    return special.expit(np.asarray(z, dtype=np.float64))


def to_probabilities(raw, head: Head) -> np.ndarray:
    """What the user would read as probabilities from this head.

    A softmax or sigmoid head already emits them, so they are returned unchanged (even when
    they do not form a distribution: that is what we want to diagnose). A linear head emits
    logits, and the loss it was trained with says how to read them: softmax for the
    categorical losses, an element-wise sigmoid for binary cross-entropy.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if head.activation != Activation.linear:
        return raw
    return softmax(raw, axis=-1) if head.categorical else sigmoid(raw)


def renormalise(p) -> np.ndarray:
    """Rows divided by their sum, i.e. the distribution a categorical loss implicitly uses.

    The sum is floored at 1e-12 so an all-zero row stays all zero instead of becoming NaN.
    """
    p = _as_2d(p)
    return p / np.maximum(p.sum(axis=1, keepdims=True), EPS)


def max_prob(p) -> float:
    """Mean largest raw output: the "confidence" a user reads off the head."""
    return float(np.mean(np.max(_as_2d(p), axis=1)))


def prob_sum(p) -> float:
    """Mean raw row sum: 1 for a distribution; far from 1 means the outputs are not one."""
    return float(np.mean(np.sum(_as_2d(p), axis=1)))


def entropy(p) -> float:
    """Mean entropy in nats of the renormalised rows (0 * log 0 taken as 0).

    Renormalising first lets entropy describe the *shape* of the outputs even when their
    level is wrong (e.g. all outputs near 0 but one of them much larger than the rest).
    """
    return float(np.mean(special.entr(renormalise(p)).sum(axis=1)))


def entropy_norm(p) -> float:
    """Entropy divided by ln(K): 1 is uniform over all classes, 0 is one-hot."""
    k = _as_2d(p).shape[1]
    return entropy(p) / np.log(k) if k > 1 else 0.0


def accuracy(p, y) -> float:
    """Share of examples whose largest output is the true class."""
    p = _as_2d(p)
    return float(np.mean(np.argmax(p, axis=1) == _labels(y, p.shape[0])))


def reliability_bins(p, y, n_bins: int = N_BINS) -> pd.DataFrame:
    """The one binning behind ECE, the analysis's reliability.csv and the reliability diagram.

    Bins are n_bins equal-width intervals [lo, hi) of the raw max output on [0, 1]; the last one
    is closed, so a confidence of exactly 1.0 falls in it and 0.0 falls in the first. One row per
    bin: bin_lower, bin_upper, count, mean confidence and accuracy (NaN when the bin is empty).
    """
    p = _as_2d(p)
    y = _labels(y, p.shape[0])
    conf = np.max(p, axis=1)
    correct = (np.argmax(p, axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(idx, weights=conf, minlength=n_bins) / count
        acc = np.bincount(idx, weights=correct, minlength=n_bins) / count
    return pd.DataFrame(
        {
            "bin_lower": edges[:-1],
            "bin_upper": edges[1:],
            "count": count.astype(int),
            "confidence": confidence,
            "accuracy": acc,
        }
    )


def ece_of_bins(bins: pd.DataFrame) -> float:
    """Sum over non-empty bins of (n_bin / n) * |accuracy_bin - mean confidence_bin|; NaN if all are empty."""
    n = pd.to_numeric(bins["count"], errors="coerce").fillna(0)
    gap = (pd.to_numeric(bins["accuracy"], errors="coerce") - pd.to_numeric(bins["confidence"], errors="coerce")).abs()
    ok = gap.notna() & (n > 0)
    return float((n[ok] * gap[ok]).sum() / n.sum()) if n.sum() > 0 else float("nan")


def ece(p, y, n_bins: int = N_BINS) -> float:
    """Expected calibration error of the raw max output against correctness (bins: reliability_bins).

    Using the raw maximum (not renormalised) is deliberate: it is the number a user would threshold.
    """
    return ece_of_bins(reliability_bins(p, y, n_bins))


def brier(p, y) -> float:
    """Multi-class Brier score: mean over examples of sum_k (p_k - onehot_k)^2, on raw outputs.

    Raw on purpose: a head whose outputs do not sum to 1 is penalised for every wrong level.
    """
    p = _as_2d(p)
    y = _labels(y, p.shape[0])
    onehot = np.zeros_like(p)
    onehot[np.arange(p.shape[0]), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def nll(p, y) -> float:
    """Mean -log of the renormalised probability of the true class, clipped at 1e-12.

    Renormalised because that is the distribution a categorical loss scores; the clip keeps
    a zero probability from giving an infinite mean.
    """
    q = renormalise(p)
    y = _labels(y, q.shape[0])
    py = np.clip(q[np.arange(q.shape[0]), y], EPS, 1.0)
    return float(np.mean(-np.log(py)))


def probability_metrics(p, y, prefix: str = "val_") -> dict[str, float]:
    """All metrics above in one dict of plain floats (ready for a logger or JSON).

    The loss itself is not here: Keras already reports it as val_loss.
    """
    scores = {
        "accuracy": accuracy(p, y),
        "max_prob": max_prob(p),
        "prob_sum": prob_sum(p),
        "entropy": entropy(p),
        "entropy_norm": entropy_norm(p),
        "ece": ece(p, y),
        "brier": brier(p, y),
        "nll": nll(p, y),
    }
    return {f"{prefix}{k}": float(v) for k, v in scores.items()}


# --- The one list of metrics a run records -------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A recorded metric: its key, a short label (progress line), a label (tables, plots) and which way is better."""

    name: str
    short: str
    label: str
    direction: str | None = None  # "min" | "max"; None: neither side is better (a level, a time)
    per_epoch: bool = True  # logged at every epoch (so a valid search.objective); else once, after training


_EPOCH = [  # prefixed val_ by the ProbabilityMonitor, from probability_metrics above; plus Keras's own
    Metric("loss", "loss", "train loss", "min"),
    Metric("accuracy", "acc", "train accuracy", "max"),
    Metric("val_loss", "val_loss", "val loss", "min"),
    Metric("val_accuracy", "val_acc", "val accuracy", "max"),
    Metric("val_max_prob", "max_prob", "mean max output"),
    Metric("val_prob_sum", "prob_sum", "mean output sum"),
    Metric("val_entropy", "entropy_nats", "entropy (nats)"),
    Metric("val_entropy_norm", "entropy", "normalised entropy"),
    Metric("val_ece", "ece", "ECE (raw max output)", "min"),
    Metric("val_brier", "brier", "Brier score (raw outputs)", "min"),
    Metric("val_nll", "nll", "NLL (renormalised)", "min"),
    Metric("epoch_seconds", "s", "seconds per epoch", "min"),
]
_AFTER = [  # probs.analysis, once after training
    Metric("temperature", "T", "T", per_epoch=False),
    Metric("val_ece_calibrated", "ece_T", "ECE after T", "min", per_epoch=False),
    Metric("val_nll_calibrated", "nll_T", "NLL after T", "min", per_epoch=False),
    Metric("threshold", "threshold", "threshold", per_epoch=False),
    Metric("threshold_val_coverage", "val_cov", "val coverage", "max", per_epoch=False),
    Metric("threshold_test_coverage", "test_cov", "test coverage", "max", per_epoch=False),
    Metric("threshold_test_precision", "test_prec", "test precision", "max", per_epoch=False),
    # The raw outputs on test (probability_metrics, prefixed test_): measured once, never used to choose.
    Metric("test_accuracy", "test_acc", "test accuracy", "max", per_epoch=False),
    Metric("test_max_prob", "test_max_prob", "test mean max output", per_epoch=False),
    Metric("test_prob_sum", "test_prob_sum", "test mean output sum", per_epoch=False),
    Metric("test_entropy", "test_entropy_nats", "test entropy (nats)", per_epoch=False),
    Metric("test_entropy_norm", "test_entropy", "test normalised entropy", per_epoch=False),
    Metric("test_ece", "test_ece", "test ECE", "min", per_epoch=False),
    Metric("test_brier", "test_brier", "test Brier score", "min", per_epoch=False),
    Metric("test_nll", "test_nll", "test NLL", "min", per_epoch=False),
    Metric("test_ece_calibrated", "test_ece_T", "test ECE after T", "min", per_epoch=False),
    Metric("test_nll_calibrated", "test_nll_T", "test NLL after T", "min", per_epoch=False),
    # Out-of-scope rejection (data with out-of-scope rows): threshold chosen on validation, figures on test.
    Metric("oos_threshold", "oos_t", "out-of-scope threshold", per_epoch=False),
    Metric("oos_in_scope_accuracy", "in_scope_acc", "in-scope accuracy", "max", per_epoch=False),
    Metric("oos_recall", "oos_recall", "out-of-scope recall", "max", per_epoch=False),
    Metric("oos_auroc", "oos_auroc", "out-of-scope AUROC", "max", per_epoch=False),
]
METRICS: dict[str, Metric] = {m.name: m for m in _EPOCH + _AFTER}
OBJECTIVES = tuple(sorted(m.name for m in _EPOCH))  # every per-epoch metric: each is a valid search.objective

# Which of them each view shows, in order.
PROGRESS = (
    "accuracy",
    "val_accuracy",
    "val_loss",
    "val_max_prob",
    "val_prob_sum",
    "val_entropy_norm",
    "val_ece",
    "val_brier",
)  # the per-epoch progress line
FINAL = (
    "val_accuracy",
    "val_max_prob",
    "val_prob_sum",
    "val_entropy_norm",
    "val_ece",
    "val_brier",
    "val_nll",
    "val_loss",
)  # the sweep's comparison table; the best rerun is checked against its trial on these
CURVES = ("val_accuracy", "val_max_prob", "val_prob_sum", "val_entropy_norm", "val_ece")  # the report's epoch curves
CALIBRATION = tuple(m.name for m in _AFTER)  # the report's trial table adds these
REPORT = (
    "val_accuracy",
    "val_max_prob",
    "val_prob_sum",
    "val_entropy_norm",
    "val_ece",
    "val_ece_calibrated",
    "temperature",
    "threshold",
    "threshold_val_coverage",
    "test_accuracy",
    "oos_recall",
    "oos_auroc",
)  # the columns of the report page's trial table


def stopping_direction(es) -> str:
    """min or max for train.early_stopping: as configured, else the monitored metric's better side."""
    monitor, direction = es["monitor"], es["direction"]
    metric = METRICS.get(monitor)
    direction = direction or (metric.direction if metric else None)
    if metric is None or not metric.per_epoch:
        raise ConfigError(
            f"train.early_stopping.monitor={monitor!r} must be a per-epoch metric: {', '.join(OBJECTIVES)}"
        )
    if direction is None:
        raise ConfigError(
            f"train.early_stopping.monitor={monitor!r} has no better side: it needs "
            "train.early_stopping.direction=min or max"
        )
    return direction
