"""Comparison tables of a sweep's trials, built with pandas from what MLflow recorded."""
from __future__ import annotations

from typing import List

import numpy as np
import pandas as pd

from . import metrics

SHOWN_METRICS = ["val_accuracy", "val_max_prob", "val_prob_sum", "val_entropy_norm", "val_ece", "val_brier", "val_nll", "val_loss"]


def metric_names() -> List[str]:
    """Every per-epoch metric a run logs, i.e. every valid `search.objective`."""
    probe = metrics.probability_metrics(np.full((1, 2), 0.5), np.array([0]), prefix="val_")
    return sorted({*probe, "val_loss", "loss", "accuracy", "epoch_seconds"})


def comparison_table(runs: pd.DataFrame, hp_names: List[str], objective: str, direction: str) -> pd.DataFrame:
    """One row per trial: its hyperparameters, the objective and the final-epoch metrics, best first."""
    if runs.empty:
        return pd.DataFrame(columns=["trial", "status", *hp_names, objective, *SHOWN_METRICS])
    table = pd.DataFrame({"trial": runs["tags.trial_id"], "status": runs["status"], "run_id": runs["run_id"]})
    for name in hp_names:
        col = f"params.{name}"
        table[name] = runs[col] if col in runs else None
    for name in dict.fromkeys([objective, *SHOWN_METRICS]):
        col = f"metrics.{name}"
        table[name] = pd.to_numeric(runs[col], errors="coerce") if col in runs else np.nan
    # A trial interrupted and rerun has a KILLED run beside its FINISHED one: keep one row per trial.
    rank = table["status"].map({"FINISHED": 0, "RUNNING": 1, "FAILED": 2}).fillna(3)
    table = table.assign(_rank=rank).sort_values(["trial", "_rank"]).drop_duplicates("trial").drop(columns="_rank")
    finished = table["status"] == "FINISHED"
    ordered = pd.concat([
        table[finished].sort_values(objective, ascending=direction == "min", na_position="last"),
        table[~finished].sort_values("trial"),
    ])
    return ordered.reset_index(drop=True)


def format_table(table: pd.DataFrame) -> str:
    shown = table.drop(columns=["run_id"], errors="ignore")
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4f}".format):
        return shown.to_string(index=False)
