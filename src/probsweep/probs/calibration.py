"""Post-hoc calibration, confidence thresholds and out-of-scope rejection, in plain NumPy.

Everything is fitted on one labelled set (validation) and then applied, unchanged, to another
(test): `fit_temperature` -> `apply_temperature`, `threshold_for_precision` ->
`evaluate_threshold`, `choose_rejection_threshold` -> `oos_metrics`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from scipy.stats import rankdata

from probsweep.config import Activation
from probsweep.head import Head
from probsweep.probs.metrics import EPS, softmax

LOG_T_BOUNDS = (-5.0, 5.0)  # T in [e^-5, e^5] ~ [0.0067, 148]: far beyond any sane temperature


def logits_from_outputs(raw, head: Head) -> np.ndarray:
    """Logits a temperature can act on, whatever the head emitted.

    linear: the raw outputs already are logits. softmax: log(p) (softmax is shift-invariant,
    so log-probabilities are logits). sigmoid: each output's own logit log(p / (1 - p)), with
    p clipped to [1e-12, 1 - 1e-12] so saturated outputs stay finite. For the single-label
    problem the calibrated probabilities are then softmax(logits / T), for all three heads.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if head.activation == Activation.linear:
        return raw
    if head.activation == Activation.softmax:
        return np.log(np.clip(raw, EPS, 1.0))
    p = np.clip(raw, EPS, 1.0 - EPS)
    return np.log(p) - np.log1p(-p)


def _nll_at(logits: np.ndarray, y: np.ndarray, t: float) -> float:
    return float(-np.mean(log_softmax(logits / t, axis=1)[np.arange(logits.shape[0]), y]))


def fit_temperature(logits, y) -> float:
    """The single T > 0 minimising the NLL of softmax(logits / T) on the given data.

    Optimised over log T (so T stays positive and the search is symmetric in "sharpen" vs
    "soften") with scipy.optimize.minimize_scalar(method="bounded"), a bounded Brent search,
    on log T in [-5, 5]. One parameter cannot change the argmax, so accuracy is untouched.
    """
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    res = minimize_scalar(
        lambda s: _nll_at(logits, y, np.exp(s)), bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6}
    )
    return float(np.exp(res.x))


def apply_temperature(logits, t: float) -> np.ndarray:
    """Calibrated probabilities softmax(logits / T)."""
    return softmax(np.asarray(logits, dtype=np.float64) / float(t), axis=-1)


def _counts(scores, hits):
    """For each distinct score t (descending): t, #kept (score >= t), #hits among kept."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    s, h = scores[order], np.cumsum(np.asarray(hits, dtype=np.int64)[order])
    last = np.r_[s[1:] != s[:-1], True]  # last index of each run of equal scores
    return s[last], np.flatnonzero(last) + 1, h[last]


def coverage_curve(conf, correct) -> pd.DataFrame:
    """Selective accuracy vs coverage when only predictions with conf >= threshold are kept.

    One row per distinct confidence value, sorted by threshold descending (coverage rising).
    """
    thr, kept, hits = _counts(conf, correct)
    n = np.asarray(conf).shape[0]
    return pd.DataFrame({"threshold": thr, "coverage": kept / n, "selective_accuracy": hits / kept})


def threshold_for_precision(conf, correct, target: float = 0.95) -> dict[str, Any]:
    """Lowest threshold whose kept predictions reach `target` precision (max coverage).

    If no threshold reaches the target, the one with the highest precision (ties: the larger
    coverage) is returned with reached=False, so the caller can say the target was missed.
    """
    curve = coverage_curve(conf, correct)
    if curve.empty:
        raise ValueError("no examples to choose a threshold on")
    ok = curve[curve["selective_accuracy"] >= target]
    reached = not ok.empty
    if reached:
        row = ok.iloc[-1]  # descending thresholds: the last qualifying row has most coverage
    else:
        best = curve["selective_accuracy"].max()
        row = curve[curve["selective_accuracy"] == best].iloc[-1]
    return {
        "threshold": float(row["threshold"]),
        "coverage": float(row["coverage"]),
        "precision": float(row["selective_accuracy"]),
        "reached": bool(reached),
    }


def evaluate_threshold(conf, correct, t: float) -> dict[str, float]:
    """Coverage and precision of a threshold chosen elsewhere (precision NaN if nothing kept)."""
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    kept = conf >= t
    precision = float(correct[kept].mean()) if kept.any() else float("nan")
    return {"coverage": float(kept.mean()), "precision": precision}


def per_class_thresholds(p, y, target: float = 0.95) -> dict[int, float]:
    """One-vs-rest threshold per class for a sigmoid head (positive = y == k).

    For class k, among thresholds t (distinct values of p[:, k]) with precision >= target,
    take the best recall (ties: the highest t). If none reaches the target, take the best F1.
    A class with no positive examples gets a threshold just above its largest output, so it
    predicts nothing on this data. Returns plain floats for thresholds.json.
    """
    p = np.atleast_2d(np.asarray(p, dtype=np.float64))
    y = np.asarray(y, dtype=np.int64)
    out: dict[int, float] = {}
    for k in range(p.shape[1]):
        s, pos = p[:, k], (y == k)
        if not pos.any():
            out[k] = float(np.nextafter(s.max(), np.inf))
            continue
        thr, kept, tp = _counts(s, pos)
        precision, recall = tp / kept, tp / pos.sum()
        ok = precision >= target
        if ok.any():
            i = np.flatnonzero(ok & (recall == recall[ok].max()))[0]
        else:
            f1 = 2 * precision * recall / np.maximum(precision + recall, EPS)
            i = int(np.argmax(f1))  # first maximum = highest threshold among ties
        out[k] = float(thr[i])
    return out


def _oos_correct(conf, pred, y, t) -> np.ndarray:
    """Per-example correctness when conf < t means 'out-of-scope' (label -1)."""
    return np.where(y == -1, conf < t, (conf >= t) & (pred == y))


def choose_rejection_threshold(conf, pred, y) -> float:
    """Threshold on (calibrated) max prob maximising accuracy with out-of-scope as a class.

    y == -1 marks out-of-scope. Candidates are every distinct confidence (t = c keeps every
    prediction with conf >= c) plus one value just above the maximum (reject everything).
    Ties go to the lowest threshold, i.e. the one that rejects least.
    """
    conf = np.asarray(conf, dtype=np.float64)
    pred, y = np.asarray(pred), np.asarray(y)
    candidates = np.r_[np.unique(conf), np.nextafter(conf.max(), np.inf)]
    accs = [_oos_correct(conf, pred, y, t).mean() for t in candidates]
    return float(candidates[int(np.argmax(accs))])


def auroc(scores, positive) -> float:
    """Area under the ROC curve by the rank (Mann-Whitney) formula; ties count one half."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r_pos = rankdata(scores)[positive].sum()  # ties share their average rank
    return float((r_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def oos_metrics(conf, pred, y, t: float) -> dict[str, float]:
    """In-scope accuracy, out-of-scope recall and AUROC at threshold t.

    in_scope_accuracy: share of y != -1 with conf >= t and pred == y (rejected = wrong).
    oos_recall: share of y == -1 with conf < t. auroc: max prob separating in-scope
    (positive) from out-of-scope; independent of t. NaN where a group is empty.
    """
    conf = np.asarray(conf, dtype=np.float64)
    pred, y = np.asarray(pred), np.asarray(y)
    correct = _oos_correct(conf, pred, y, t)
    ins, oos = y != -1, y == -1
    return {
        "in_scope_accuracy": float(correct[ins].mean()) if ins.any() else float("nan"),
        "oos_recall": float(correct[oos].mean()) if oos.any() else float("nan"),
        "auroc": auroc(conf, ins),
    }
