"""The sweep's one decision: the best trial, the trial to use, and what `make best` hands over.

Pure (pandas only, no MLflow): from the finished trial table (report.tables.trial_table's frame)
and its baseline row, `decide` finds

- the best finished trial by the objective;
- the recommended trial: the best one, unless its head is mismatched (its outputs are no
  probabilities) and a matched head finished, then the best matched one;
- whether the recommended trial beats the linear baseline (strictly: a tie goes to the simpler model);
- what is handed over (the recommended trial, or the baseline when it is at least as good), and why.

The sweep decides once, at its end, and records the answer on its parent run (`Decision.tags`).
The report, the terminal summary, `make best` and `make predict` read it back with `from_tags`
and never decide again; a sweep recorded before those tags existed gets the same function's answer
from its table.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from probsweep.report.tables import BASELINE, FINISHED, num

__all__ = ["Decision", "baseline_row", "beats_baseline", "decide", "finished_trials", "from_tags", "TAGS"]

TRIAL, BASELINE_KIND, NOTHING = "trial", "baseline", "none"  # handed_over_kind's values
# The parent run's tags that hold the decision (Decision.tags writes them, from_tags reads them).
TAGS = (
    "best_run_id",
    "best_trial",
    "recommended_run_id",
    "recommended_trial",
    "handed_over_run_id",
    "handed_over_trial",
    "handed_over_kind",
    "handed_over_reason",
    "beats_baseline",
)


def finished_trials(table: pd.DataFrame) -> pd.DataFrame:
    """Finished trials; the baseline row is not a trial."""
    fin = table[table["status"] == FINISHED] if "status" in table.columns else table
    return fin[fin["trial"] != BASELINE] if "trial" in fin.columns else fin


def baseline_row(table: pd.DataFrame) -> pd.Series | None:
    """The baseline's row (finished if one finished), or None when the sweep fitted none."""
    if "trial" not in table.columns:
        return None
    rows = table[table["trial"] == BASELINE]
    if rows.empty:
        return None
    done = rows[rows["status"] == FINISHED] if "status" in rows.columns else rows
    return (done if len(done) else rows).iloc[0]


def beats_baseline(rec: pd.Series | None, base: pd.Series | None, objective: str, direction: str) -> bool | None:
    """True when the trial is strictly better than the baseline on the objective (validation); a tie goes
    to the simpler model. None when either number is missing."""
    a = num(rec.get(objective)) if rec is not None else None
    b = num(base.get(objective)) if base is not None and base.get("status", FINISHED) == FINISHED else None
    if a is None or b is None:
        return None
    return a < b if direction == "min" else a > b


def _by_objective(trials: pd.DataFrame, objective: str, direction: str) -> pd.DataFrame:
    """Best first; a trial without the objective comes last; ties keep the table's order."""
    if objective not in trials.columns:
        return trials
    score = pd.to_numeric(trials[objective], errors="coerce")
    order = score.sort_values(ascending=direction == "min", na_position="last", kind="stable").index
    return trials.loc[order]


def _mismatched(rows: pd.DataFrame) -> pd.Series:
    if "mismatch" not in rows.columns:
        return pd.Series(False, index=rows.index)
    return rows["mismatch"].fillna(False).astype(bool)


def name_of(row: pd.Series | None) -> str:
    """'trial 3', 'the linear baseline' or 'nothing'."""
    if row is None:
        return "nothing"
    return "the linear baseline" if row.get("trial") == BASELINE else f"trial {row.get('trial')}"


@dataclass(frozen=True)
class Decision:
    """The answer of one sweep. Rows are the trial table's; None where there is no such row."""

    objective: str
    direction: str
    best: pd.Series | None  # the best finished trial by the objective
    recommended: pd.Series | None  # the trial to use: `best`, or the best matched head when `best` is mismatched
    baseline: pd.Series | None  # the baseline's row (finished or not), None without one
    beats_baseline: bool | None  # recommended strictly better than a finished baseline; None: not comparable
    handed_over: pd.Series | None  # what `make best` retrains and registers
    reason: str  # why that one, in one sentence with the numbers

    @property
    def kind(self) -> str:
        """'trial', 'baseline' or 'none': what is handed over."""
        if self.handed_over is None:
            return NOTHING
        return BASELINE_KIND if self.handed_over.get("trial") == BASELINE else TRIAL

    @property
    def swapped(self) -> bool:
        """The objective's best is a mismatched head and a matched one is recommended instead."""
        return (
            self.best is not None
            and self.recommended is not None
            and self.best.get("run_id") != self.recommended.get("run_id")
        )

    def tags(self) -> dict[str, str]:
        """The parent run's tags (strings; '' where there is no such row)."""

        def rid(row: pd.Series | None) -> str:
            return "" if row is None else str(row.get("run_id") or "")

        def trial(row: pd.Series | None) -> str:
            return "" if row is None else str(row.get("trial"))

        return {
            "best_run_id": rid(self.best),
            "best_trial": trial(self.best),
            "recommended_run_id": rid(self.recommended),
            "recommended_trial": trial(self.recommended),
            "handed_over_run_id": rid(self.handed_over),
            "handed_over_trial": trial(self.handed_over),
            "handed_over_kind": self.kind,
            "handed_over_reason": self.reason,
            "beats_baseline": {True: "true", False: "false", None: "unknown"}[self.beats_baseline],
        }


def _score(row: pd.Series | None, objective: str) -> str:
    v = num(row.get(objective)) if row is not None else None
    return "n/a" if v is None else f"{v:.4g}"


def _reason(
    best: pd.Series | None,
    rec: pd.Series | None,
    base: pd.Series | None,
    wins: bool | None,
    n_finished: int,
    objective: str,
    direction: str,
) -> str:
    better = "lower" if direction == "min" else "higher"
    base_done = base is not None and base.get("status") == FINISHED
    if rec is None:
        if base_done:
            return "no trial finished; the linear baseline did, so it is handed over"
        return "nothing finished: rerun the sweep (finished trials are kept)"
    if best is not None and rec is not None and best.get("run_id") != rec.get("run_id"):
        pick = (
            f"{name_of(best)} has the best {objective} ({_score(best, objective)}) but its head "
            f"({best.get('head_label', 'mismatched')}) gives no probabilities; {name_of(rec)} is the best "
            f"matched head ({objective} {_score(rec, objective)})"
        )
    else:
        unusable = " (no matched head finished, so its outputs are no probabilities either)" if _is_mm(rec) else ""
        pick = f"{name_of(rec)} has the best {objective} ({_score(rec, objective)}) of {n_finished} finished trial(s)"
        pick += unusable
    if base is None:
        return f"{pick}; no baseline was fitted (search.baseline=false)"
    if not base_done:
        return f"{pick}; the baseline did not finish ({base.get('status')})"
    if wins is None:
        return f"{pick}; {objective} is missing for it or the baseline, so they are not compared"
    vs = f"{objective} {_score(rec, objective)} against the baseline's {_score(base, objective)}, {better} is better"
    if wins:
        return f"{pick} and beats the linear baseline ({vs})"
    tie = num(rec.get(objective)) == num(base.get(objective))
    return (
        f"{pick}, but the linear baseline is {'as good (a tie goes to the simpler model)' if tie else 'better'} ({vs})"
    )


def _is_mm(row: pd.Series | None) -> bool:
    return row is not None and bool(row.get("mismatch")) and pd.notna(row.get("mismatch"))


def decide(table: pd.DataFrame, objective: str, direction: str) -> Decision:
    """The one decision, from the trial table (its `mismatch` column marks heads whose outputs are no
    probabilities; missing: none is) and its baseline row."""
    fin = _by_objective(finished_trials(table), objective, direction)
    best = fin.iloc[0] if len(fin) else None
    rec = best
    if best is not None and _is_mm(best):
        matched = fin[~_mismatched(fin)]
        if len(matched):
            rec = matched.iloc[0]
    base = baseline_row(table)
    wins = beats_baseline(rec, base, objective, direction)
    base_done = base is not None and base.get("status") == FINISHED
    handed = base if base_done and (rec is None or wins is False) else rec
    return Decision(
        objective,
        direction,
        best,
        rec,
        base,
        wins,
        handed,
        _reason(best, rec, base, wins, len(fin), objective, direction),
    )


def from_tags(tags: dict[str, str], table: pd.DataFrame, objective: str, direction: str) -> Decision:
    """The decision recorded on a parent run (its tags), with its rows from `table`; a sweep without the
    tags (recorded before they existed, or unfinished) gets `decide`'s answer."""
    if not tags.get("handed_over_kind"):
        return decide(table, objective, direction)

    def row(key: str) -> pd.Series | None:
        rid = tags.get(key) or ""
        if not rid or "run_id" not in table.columns:
            return None
        found = table[table["run_id"] == rid]
        return found.iloc[0] if len(found) else None

    wins = {"true": True, "false": False}.get(tags.get("beats_baseline", ""))
    return Decision(
        objective,
        direction,
        row("best_run_id"),
        row("recommended_run_id"),
        baseline_row(table),
        wins,
        row("handed_over_run_id"),
        tags.get("handed_over_reason", ""),
    )
