"""Per-epoch probability metrics for a classifier head, in plain NumPy.

Every function takes ``p``, the *raw* outputs as the head produced them (shape (n, K); a
single (K,) vector is read as one example) and ``y``, the true class indices (shape (n,)).
"Raw" matters: a sigmoid head trained with a categorical loss produces rows that need not
sum to 1, and the point of this module is to measure exactly that, so nothing here quietly
renormalises unless the metric's definition requires a distribution (entropy, NLL).
"""
from __future__ import annotations

from typing import Dict

import numpy as np

EPS = 1e-12  # floor for sums and probabilities: keeps all-zero rows and log(0) finite

_CATEGORICAL_LOSSES = {"sparse_categorical_crossentropy", "categorical_crossentropy"}


def _name(x) -> str:
    """Accept plain strings or str-Enums (e.g. config.Activation) alike."""
    return str(getattr(x, "value", x)).lower()


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
    """Softmax with the row maximum subtracted first, so large logits cannot overflow."""
    z = np.asarray(z, dtype=np.float64)
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def sigmoid(z) -> np.ndarray:
    """Logistic function written so neither branch calls exp() on a large positive number."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def to_probabilities(raw, activation: str, loss: str) -> np.ndarray:
    """What the user would read as probabilities from this head.

    A softmax or sigmoid head already emits them, so they are returned unchanged (even when
    they do not form a distribution: that is what we want to diagnose). A linear head emits
    logits, and the loss it was trained with says how to read them: softmax for the
    categorical losses, an element-wise sigmoid for binary cross-entropy.
    """
    act, lss = _name(activation), _name(loss)
    raw = np.asarray(raw, dtype=np.float64)
    if act in ("softmax", "sigmoid"):
        return raw
    if act != "linear":
        raise ValueError(f"unknown activation {activation!r}")
    if lss in _CATEGORICAL_LOSSES:
        return softmax(raw, axis=-1)
    if lss == "binary_crossentropy":
        return sigmoid(raw)
    raise ValueError(f"unknown loss {loss!r}")


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
    q = renormalise(p)
    terms = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0)
    return float(np.mean(-terms.sum(axis=1)))


def entropy_norm(p) -> float:
    """Entropy divided by ln(K): 1 is uniform over all classes, 0 is one-hot."""
    k = _as_2d(p).shape[1]
    return entropy(p) / np.log(k) if k > 1 else 0.0


def accuracy(p, y) -> float:
    """Share of examples whose largest output is the true class."""
    p = _as_2d(p)
    return float(np.mean(np.argmax(p, axis=1) == _labels(y, p.shape[0])))


def ece(p, y, n_bins: int = 15) -> float:
    """Expected calibration error of the raw max output against correctness.

    Bins are n_bins equal-width intervals [lo, hi) on [0, 1]; the last one is closed, so a
    confidence of exactly 1.0 falls in it and 0.0 falls in the first. ECE is the sum over
    non-empty bins of (n_bin / n) * |accuracy_bin - mean confidence_bin|. Using the raw
    maximum (not renormalised) is deliberate: it is the number a user would threshold.
    """
    p = _as_2d(p)
    y = _labels(y, p.shape[0])
    conf = np.max(p, axis=1)
    correct = (np.argmax(p, axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    n = conf.shape[0]
    total = 0.0
    for b in range(n_bins):
        mask = idx == b
        if mask.any():
            total += mask.sum() / n * abs(correct[mask].mean() - conf[mask].mean())
    return float(total)


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


def probability_metrics(p, y, prefix: str = "val_") -> Dict[str, float]:
    """All metrics above in one dict of plain floats (ready for a logger or JSON).

    The loss itself is not here: Keras already reports it as val_loss.
    """
    return {
        f"{prefix}accuracy": accuracy(p, y),
        f"{prefix}max_prob": max_prob(p),
        f"{prefix}prob_sum": prob_sum(p),
        f"{prefix}entropy": entropy(p),
        f"{prefix}entropy_norm": float(entropy_norm(p)),
        f"{prefix}ece": ece(p, y),
        f"{prefix}brier": brier(p, y),
        f"{prefix}nll": nll(p, y),
    }
