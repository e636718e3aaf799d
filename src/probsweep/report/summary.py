"""The sweep's answer in at most six lines: the end of `make sweep` prints them, the report's first-screen
card shows the same lines. Pure (pandas only): from the recorded decision (report.decision) and the trial
table, so the terminal and the page cannot say different things.
"""

from __future__ import annotations

import pandas as pd

from probsweep.report.decision import Decision, baseline_row, name_of
from probsweep.report.tables import FINISHED, num
from probsweep.report.tables import fmt as _f
from probsweep.report.verdict import BASELINE_NAME, SEED, seed_trials

__all__ = ["summary_lines", "format_summary"]


def _named(row: pd.Series) -> str:
    """'trial 3 (softmax+categorical_crossentropy)' or 'the linear baseline (TF-IDF ... + logistic regression)'."""
    if row.get("trial") == "baseline":
        return f"the linear baseline ({BASELINE_NAME})"
    head = row.get("head_label")
    return f"{name_of(row)} ({head})" if isinstance(head, str) and head else name_of(row)


def _seed_line(table: pd.DataFrame) -> str | None:
    seeds = seed_trials(table)
    if not seeds:
        return None
    sums = [
        f"{_f(r.get('val_prob_sum'))}" + (f" (path {p}, trial {r.get('trial')})" if p else f" (trial {r.get('trial')})")
        for p, r in seeds.items()
    ]
    return (
        f"{SEED[0]} + {SEED[1]} gives no probabilities: its outputs sum to {' and '.join(sums)} at the last "
        "epoch, not 1, so no fixed threshold means anything"
    )


def _threshold_line(row: pd.Series) -> str:
    t = _f(row.get("temperature"))
    oos = num(row.get("oos_threshold"))
    if oos is not None:
        return (
            f"temperature T = {t}; reject as out of scope below {oos:.3g} on the calibrated largest probability "
            f"(test: in-scope accuracy {_f(row.get('oos_in_scope_accuracy'), '.1%')}, out-of-scope recall "
            f"{_f(row.get('oos_recall'), '.1%')})"
        )
    thr = num(row.get("threshold"))
    if thr is None:
        return f"temperature T = {t}; no threshold was recorded"
    test = (
        f"; on test {_f(row.get('threshold_test_coverage'), '.0%')} at {_f(row.get('threshold_test_precision'), '.1%')}"
        " precision"
        if num(row.get("threshold_test_coverage")) is not None
        else ""
    )
    return (
        f"temperature T = {t}; accept when the calibrated largest probability is at least {thr:.3g} "
        f"(keeps {_f(row.get('threshold_val_coverage'), '.0%')} of validation{test})"
    )


def _baseline_line(d: Decision, table: pd.DataFrame) -> str:
    base = baseline_row(table)
    if base is None:
        return "none fitted (search.baseline=false): the network is not compared with a linear model"
    if base.get("status") != FINISHED:
        return f"the linear baseline did not finish ({base.get('status')})"
    rec = d.recommended
    b = (
        f"{_f(base.get(d.objective), '.4g')}, val_acc {_f(base.get('val_accuracy'), '.1%')}, "
        f"test_acc {_f(base.get('test_accuracy'), '.1%')}"
    )
    if rec is None:
        return f"the baseline: {d.objective} {b}"
    better = "lower" if d.direction == "min" else "higher"
    verdict = {True: "the trial wins", False: "the baseline wins", None: "not comparable"}[d.beats_baseline]
    r = (
        f"{_f(rec.get(d.objective), '.4g')}, val_acc {_f(rec.get('val_accuracy'), '.1%')}, "
        f"test_acc {_f(rec.get('test_accuracy'), '.1%')}"
    )
    return f"{name_of(rec)} {d.objective} {r}; baseline {b} ({better} {d.objective} is better: {verdict})"


def summary_lines(d: Decision, table: pd.DataFrame, sweep_name: str) -> list[tuple[str, str]]:
    """(label, text) pairs, at most six: the seed's head (when the sweep has one), what to use, why, its
    calibration and threshold, the baseline comparison, and the command that hands it over."""
    lines: list[tuple[str, str]] = []
    seed = _seed_line(table)
    if seed:
        lines.append(("seed's head", seed))
    row = d.handed_over
    if row is None:
        lines.append(("use", "nothing yet: no trial and no baseline finished"))
        lines.append(("why", d.reason or "nothing finished"))
        lines.append(("next", f'make sweep ARGS="sweep.name={sweep_name}" resumes it (finished trials are kept)'))
        return lines
    lines.append(("use", _named(row)))
    lines.append(("why", d.reason))
    lines.append(("threshold", _threshold_line(row)))
    lines.append(("baseline", _baseline_line(d, table)))
    lines.append(("next", f"make best SWEEP={sweep_name} retrains it and registers it as @champion; then make predict"))
    return lines


def format_summary(lines: list[tuple[str, str]]) -> str:
    """The terminal's form: one line each, labels aligned."""
    width = max((len(label) for label, _ in lines), default=0) + 1
    return "\n".join(f"{label + ':':<{width + 1}}{text}" for label, text in lines)
