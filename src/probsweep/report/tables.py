"""Tables of a sweep's trials, built with pandas from what MLflow recorded.

The sweep's terminal summary (comparison_table, format_table) and the report's tables (per
trial, per hyperparameter value, per head, and the sentence per head that reads the last one)
live together because they are the same job: pandas frames computed from the runs frame MLflow
returns, with no MLflow calls and no plotting, so they are tested on hand-made frames. The page
that shows them is report.page; the verdict's wording is report.verdict.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from probsweep.head import mismatch_of
from probsweep.probs import metrics

FINISHED = "FINISHED"  # MLflow's status of a run that ended normally
BASELINE = "baseline"  # the `trial` value of the linear baseline's row


def num(x) -> float | None:
    """x as a float, or None when it is missing, NaN or not a number."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(v) else v


def fmt(x, spec: str = ".3g") -> str:
    """The one number format of the report's sentences: 'n/a' when x is not a number."""
    v = num(x)
    return "n/a" if v is None else format(v, spec)


SHOWN_METRICS = list(metrics.FINAL)
EXTRA_METRICS = list(metrics.CALIBRATION)


def trial_number(trial_id: str | int) -> int:
    """The one trial numbering, 1-based like Keras Tuner's progress lines, from its 0-based trial_id."""
    return int(trial_id) + 1


def trial_numbers(runs: pd.DataFrame) -> pd.Series:
    """Each run's trial number as text: its `trial` tag, or (a sweep recorded before that tag) its trial_id + 1."""
    number = _col(runs, "tags.trial")
    ids = _col(runs, "tags.trial_id")
    old = ids.map(lambda t: str(trial_number(t)) if isinstance(t, str) and t.isdigit() else t)
    return number.where(number.notna(), old)


def comparison_table(runs: pd.DataFrame, hp_names: list[str], objective: str, direction: str) -> pd.DataFrame:
    """One row per trial: its hyperparameters, the objective and the final-epoch metrics, best first."""
    if runs.empty:
        return pd.DataFrame(columns=["trial", "status", *hp_names, objective, *SHOWN_METRICS])
    # The baseline run (tag kind=baseline) becomes one row whose trial is "baseline", after the trials.
    base = (runs["tags.kind"] == "baseline").to_numpy() if "tags.kind" in runs else np.zeros(len(runs), bool)
    trial = trial_numbers(runs)
    table = pd.DataFrame({"trial": trial.where(~base, BASELINE), "status": runs["status"], "run_id": runs["run_id"]})
    for name in hp_names:
        col = f"params.{name}"
        table[name] = runs[col] if col in runs else None
    if "tags.inactive_keys" in runs:  # another family's keys: left blank, not shown at their unsampled defaults
        for i, keys in enumerate(runs["tags.inactive_keys"].fillna("")):
            for name in (k for k in str(keys).split(",") if k in table.columns):
                table.iloc[i, table.columns.get_loc(name)] = None
    for name in dict.fromkeys([objective, *SHOWN_METRICS]):
        col = f"metrics.{name}"
        table[name] = pd.to_numeric(runs[col], errors="coerce") if col in runs else np.nan
    # A trial interrupted and rerun has a KILLED run beside its FINISHED one: keep one row per trial.
    rank = table["status"].map({"FINISHED": 0, "RUNNING": 1, "FAILED": 2}).fillna(3)
    table = table.assign(_rank=rank).sort_values(["trial", "_rank"]).drop_duplicates("trial").drop(columns="_rank")
    finished, is_base = table["status"] == "FINISHED", table["trial"] == BASELINE
    ordered = pd.concat(
        [
            table[finished & ~is_base].sort_values(objective, ascending=direction == "min", na_position="last"),
            table[~finished & ~is_base].sort_values("trial", key=lambda t: pd.to_numeric(t, errors="coerce")),
            table[is_base],
        ]
    )
    return ordered.reset_index(drop=True)


def format_table(table: pd.DataFrame) -> str:
    shown = table.drop(columns=["run_id"], errors="ignore")
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4f}".format):
        return shown.to_string(index=False)


def _col(runs: pd.DataFrame, name: str) -> pd.Series:
    return runs[name] if name in runs.columns else pd.Series([None] * len(runs), index=runs.index, dtype=object)


def trial_table(runs: pd.DataFrame, hp_names: list[str], objective: str, direction: str) -> pd.DataFrame:
    """comparison_table plus what the report needs per trial: head, path, flags, calibration.

    head_label is activation+loss, with the loss path for a mismatched head, because paths A
    and B of the same pairing fail in opposite directions and must not share a colour.
    """
    table = comparison_table(runs, hp_names, objective, direction)
    extra = pd.DataFrame(
        {
            "run_id": _col(runs, "run_id"),
            "trial_id": _col(runs, "tags.trial_id"),  # Keras Tuner's id, to find the trial in its oracle
            "activation": _col(runs, "params.model.activation"),
            "loss": _col(runs, "params.model.loss"),
            "epochs": pd.to_numeric(_col(runs, "params.train.epochs"), errors="coerce"),
            # the model family: the `family` pick of a space that chooses it, else the run's resolved one
            "family": _col(runs, "params.family").fillna(_col(runs, "params.resolved.family")),
            "flags": _col(runs, "tags.diagnosis_flags").fillna(""),
            "error": _col(runs, "tags.error").fillna(""),
        }
    )
    tag_head, mismatch_tag = _col(runs, "tags.head"), _col(runs, "tags.head_loss_mismatch")
    path_tag, path_param = _col(runs, "tags.loss_path"), _col(runs, "params.model.mismatch_path")
    mismatch, paths, labels = [], [], []
    for i in range(len(runs)):
        act, loss = extra["activation"].iloc[i], extra["loss"].iloc[i]
        mm = (
            str(mismatch_tag.iloc[i]).lower() == "true"
            if pd.notna(mismatch_tag.iloc[i])
            else bool(mismatch_of(act, loss))
        )
        path = next((str(p) for p in (path_tag.iloc[i], path_param.iloc[i]) if str(p) in ("A", "B")), "") if mm else ""
        base = (
            tag_head.iloc[i]
            if isinstance(tag_head.iloc[i], str) and tag_head.iloc[i]
            else f"{act}+{loss}"
            if isinstance(act, str) and isinstance(loss, str)
            else "unknown head"
        )
        mismatch.append(mm)
        paths.append(path)
        labels.append(f"{base} (path {path})" if path else base)
    extra = extra.assign(mismatch=mismatch, path=paths, head_label=labels)
    for name in [*EXTRA_METRICS, "epoch_seconds"]:  # a baseline's epoch_seconds is its whole fit
        extra[name] = pd.to_numeric(_col(runs, f"metrics.{name}"), errors="coerce")
    extra = extra.drop(columns=[c for c in extra.columns if c in table.columns and c != "run_id"])
    if table.empty:  # comparison_table's empty frame has no run_id and may repeat the objective
        return pd.DataFrame(columns=list(dict.fromkeys([*table.columns, *extra.columns])))
    return table.merge(extra, on="run_id", how="left")


def _value_label(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return f"{v:g}" if isinstance(v, float) else str(v)


def effects_table(
    table: pd.DataFrame, hp_names: Iterable[str], metrics: Iterable[str], max_levels: int = 5, bins: int = 4
) -> pd.DataFrame:
    """Long frame hp, value, metric, mean, std, count over finished trials, by groupby.

    A numeric hp with more than `max_levels` distinct values is cut into `bins` quantile bins
    (equal-width if quantiles collide). Grouped means with their spread, not a model-based
    importance: hps were sampled together, so a gap here may belong to another hp.
    """
    cols = ["hp", "value", "metric", "mean", "std", "count"]
    fin = table[table["status"] == FINISHED] if "status" in table.columns else table
    fin = fin[fin["trial"] != BASELINE] if "trial" in fin.columns else fin  # the baseline has no hyperparameters
    rows = []
    for hp in hp_names:
        if hp not in fin.columns or fin.empty:
            continue
        num = pd.to_numeric(fin[hp], errors="coerce")
        if num.notna().all() and num.nunique() > max_levels:
            try:
                key = pd.qcut(num, q=bins, duplicates="drop")
            except ValueError:
                key = pd.cut(num, bins=bins)
        elif num.notna().all():
            key = num
        else:
            key = fin[hp].fillna("(unset)").astype(str)
        for metric in dict.fromkeys(metrics):
            if metric not in fin.columns:
                continue
            vals = pd.to_numeric(fin[metric], errors="coerce")
            for value, r in vals.groupby(key, observed=True, sort=True).agg(["mean", "std", "count"]).iterrows():
                rows.append(
                    {
                        "hp": hp,
                        "value": _value_label(value),
                        "metric": metric,
                        "mean": r["mean"],
                        "std": r["std"],
                        "count": int(r["count"]),
                    }
                )
    return pd.DataFrame(rows, columns=cols)


def head_summary(histories: dict[str, pd.DataFrame], heads: dict[str, str]) -> pd.DataFrame:
    """Per head: mean max-prob and prob-sum after epoch 1 and after each trial's last epoch."""
    rows = []
    for label, h in histories.items():
        if h is None or h.empty:
            continue
        first, last = h.iloc[0], h.iloc[-1]
        rows.append(
            {
                "head": heads.get(label, "unknown"),
                "last_epoch": last.get("epoch", len(h)),
                **{
                    f"{m}_{w}": pd.to_numeric(r.get(m), errors="coerce")
                    for m in ("val_max_prob", "val_prob_sum")
                    for w, r in (("first", first), ("last", last))
                },
            }
        )
    if not rows:
        return pd.DataFrame()
    return (
        pd.DataFrame(rows)
        .groupby("head")
        .agg(
            trials=("last_epoch", "size"),
            last_epoch=("last_epoch", "mean"),
            **{c: (c, "mean") for c in rows[0] if c.startswith("val_")},
        )
    )


def curves_text(summary: pd.DataFrame) -> str:
    """One sentence per head: what training longer did to its outputs' level and sum."""
    if summary.empty:
        return "No trial recorded a per-epoch history, so there is nothing to compare between epochs."
    out = []
    for head, r in summary.iterrows():
        n, e = int(r["trials"]), r["last_epoch"]
        when = f"epoch {e:.0f}" + (" on average" if n > 1 else "")
        what = (
            f"{head} ({n} trial{'s' * (n > 1)}): mean largest output {fmt(r['val_max_prob_first'])} after epoch 1 "
            f"→ {fmt(r['val_max_prob_last'])} after the last epoch ({when}); outputs summed to "
            f"{fmt(r['val_prob_sum_first'])} → {fmt(r['val_prob_sum_last'])}."
        )
        out.append(
            what
            if e > 1
            else f"{head} ({n} trial{'s' * (n > 1)}): trained for 1 epoch only: largest output "
            f"{fmt(r['val_max_prob_first'])}, sum {fmt(r['val_prob_sum_first'])}."
        )
    return (
        "\n\n".join(out) + "\n\nA distribution sums to exactly 1 at every epoch; a head whose sum drifts away from 1 "
        "gives outputs whose level, not just their ranking, changes with training length."
    )
