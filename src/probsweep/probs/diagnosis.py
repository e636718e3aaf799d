"""Plain-language flags explaining why a head's output probabilities make no sense.

Input is what a run records: a per-epoch history of the metrics in `probsweep.probs.metrics`
(val_accuracy, val_loss, val_max_prob, val_prob_sum, val_entropy_norm, val_ece, val_nll; any
may be missing), the head (`probsweep.head.Head`) and which code path its loss took, and
optionally the final raw outputs. Each flag carries the numbers behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from probsweep.head import FIX_PAIRING, Head, path_letter
from probsweep.probs.metrics import max_prob, prob_sum, to_probabilities

SUM_TOLERANCE = 0.1  # not_a_distribution: |mean row sum - 1| > 0.1
COLLAPSE_MAX = 0.1  # collapse: mean max prob < 0.1
SATURATION_SUM, SATURATION_MAX = 2.0, 0.9  # saturation: mean sum > 2 and mean max > 0.9
NLL_RISE, ECE_RISE, ACC_FLAT = 0.10, 0.02, 0.02  # growing_overconfidence, see below


@dataclass
class Flag:
    """One finding: a tag-friendly name, a sentence for humans, and the numbers behind it."""

    name: str
    message: str
    numbers: dict[str, float] = field(default_factory=dict)


def _distribution_flags(total: float | None, top: float | None, head: Head) -> list[Flag]:
    """The level checks shared by `diagnose` and `flags_for_outputs` (None = not measured)."""
    flags = []
    if total is not None and head.categorical and abs(total - 1.0) > SUM_TOLERANCE:
        flags.append(
            Flag(
                "not_a_distribution",
                f"The loss {head.loss.value} treats each output row as a probability distribution, but "
                f"the rows sum to {total:.4g} on average, not 1, so they cannot be read as class "
                f"probabilities. Fix: {FIX_PAIRING}; only threshold outputs that form a "
                f"distribution.",
                {"prob_sum": total},
            )
        )
    if top is not None and top < COLLAPSE_MAX:
        flags.append(
            Flag(
                "collapse",
                f"Outputs have collapsed towards 0: the largest output averages {top:.4g} (below "
                f"{COLLAPSE_MAX}); the ranking may still be right but no output is a usable "
                f"confidence. Fix: {FIX_PAIRING}.",
                {"max_prob": top},
            )
        )
    elif top is not None and total is not None and total > SATURATION_SUM and top > SATURATION_MAX:
        flags.append(
            Flag(
                "saturation",
                f"Many outputs are near 1 at once: rows sum to {total:.4g} on average with a "
                f"largest output of {top:.4g}, so a high output says little about the class. "
                f"Fix: {FIX_PAIRING}.",
                {"max_prob": top, "prob_sum": total},
            )
        )
    return flags


def flags_for_outputs(outputs, head: Head) -> list[Flag]:
    """not_a_distribution / collapse / saturation on one (n, K) matrix or (K,) vector.

    `outputs` are read as probabilities as the user sees them; convert logits first
    (metrics.to_probabilities). Usable without any training history.
    """
    return _distribution_flags(prob_sum(outputs), max_prob(outputs), head)


def _last(history: pd.DataFrame, col: str) -> float | None:
    if col not in history.columns:
        return None
    values = pd.to_numeric(history[col], errors="coerce").dropna()
    return float(values.iloc[-1]) if len(values) else None


def _mismatch_flag(head: Head, loss_path: str | None) -> Flag:
    path = path_letter(loss_path)
    return Flag(
        "head_loss_mismatch", head.explain(path or None), {"path_A": float(path == "A"), "path_B": float(path == "B")}
    )


def _overconfidence_flag(history: pd.DataFrame) -> Flag | None:
    """growing_overconfidence: compare the best-val-NLL epoch with the last epoch.

    Fires when, from the best epoch to the last, NLL rose by more than 10% (relative), ECE
    rose by more than 0.02 (absolute), and accuracy moved by less than 0.02 (absolute): the
    model keeps getting more confident without getting more right. Uses val_nll, falling
    back to val_loss; needs val_ece and val_accuracy; rows with gaps are skipped.
    """
    nll_col = "val_nll" if _last(history, "val_nll") is not None else "val_loss"
    cols = [nll_col, "val_ece", "val_accuracy"]
    if any(c not in history.columns for c in cols):
        return None
    h = history[cols].apply(pd.to_numeric, errors="coerce").dropna().reset_index(drop=True)
    if len(h) < 2:
        return None
    best, last = h.loc[int(h[nll_col].idxmin())], h.iloc[-1]
    nll_up = (last[nll_col] - best[nll_col]) / max(abs(best[nll_col]), 1e-12)
    ece_up = last["val_ece"] - best["val_ece"]
    acc_change = last["val_accuracy"] - best["val_accuracy"]
    if not (nll_up > NLL_RISE and ece_up > ECE_RISE and abs(acc_change) < ACC_FLAT):
        return None
    return Flag(
        "growing_overconfidence",
        f"After its best epoch the model grew over-confident: validation NLL rose by "
        f"{nll_up:.0%} and ECE by {ece_up:.3f} while accuracy moved only {acc_change:+.3f}. "
        f"Fix: train fewer epochs (early stopping on val NLL), label smoothing, or "
        f"temperature scaling on validation data.",
        {"nll_rise": float(nll_up), "ece_rise": float(ece_up), "accuracy_change": float(acc_change)},
    )


def diagnose(history: pd.DataFrame, head: Head, loss_path: str | None = None, outputs=None) -> list[Flag]:
    """All flags for one run, most fundamental first.

    The level checks use the final raw outputs when given (converted to probabilities if
    the head is linear), else the last epoch's val_prob_sum / val_max_prob.
    """
    history = history if history is not None else pd.DataFrame()
    flags: list[Flag] = []
    if head.mismatch:
        flags.append(_mismatch_flag(head, loss_path))
    if outputs is not None:
        flags += flags_for_outputs(to_probabilities(outputs, head), head)
    else:
        flags += _distribution_flags(_last(history, "val_prob_sum"), _last(history, "val_max_prob"), head)
    over = _overconfidence_flag(history)
    if over is not None:
        flags.append(over)
    return flags


def to_text(flags: list[Flag]) -> str:
    """A short report: one numbered paragraph per flag, or a 'healthy' sentence."""
    if not flags:
        return (
            "No problems found: the outputs behave like calibrated class probabilities and nothing grew over-confident."
        )
    lines = [f"{len(flags)} problem(s) found:"]
    lines += [f"{i}. [{f.name}] {f.message}" for i, f in enumerate(flags, 1)]
    return "\n".join(lines)
