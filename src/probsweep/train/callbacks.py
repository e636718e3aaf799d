"""A Keras callback that measures the validation outputs' probability behaviour after every epoch.

It adds `val_max_prob`, `val_prob_sum`, `val_entropy`, ... to the epoch's `logs`, so any later
callback (the MLflow logger, the tuner's objective, the progress line) sees them. It also keeps
the raw outputs of a few fixed validation examples at every epoch: the probes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pandas as pd

from probsweep.head import Head
from probsweep.probs import metrics


class ProbabilityMonitor(keras.callbacks.Callback):
    """With `scorer` (train.single_validation_pass), validation runs once per epoch: `val_loss` and
    `val_accuracy` come from the same predict as the probability metrics, through `scorer`
    (probsweep.train.fit.ValidationScorer), instead of from a second, Keras evaluate pass."""

    def __init__(
        self,
        x_val: np.ndarray,
        y_val: np.ndarray,
        head: Head,
        n_probes: int = 5,
        batch_size: int = 256,
        scorer: Any | None = None,
    ):
        super().__init__()
        self.scorer = scorer
        self.x_val, self.y_val = x_val, y_val
        self.in_scope = y_val >= 0  # out-of-scope examples (y == -1) have no true class to score
        self.head = head
        self.batch_size = batch_size
        scored = np.flatnonzero(self.in_scope)
        self.probe_index = scored[np.linspace(0, len(scored) - 1, num=min(n_probes, len(scored))).astype(int)]
        self.rows: list[dict[str, float]] = []
        self.probes: list[np.ndarray] = []  # one (n_probes, K) array per epoch
        self.last_raw: np.ndarray | None = None  # the final epoch's raw outputs on all of x_val
        self._t0 = 0.0
        self._early: float | None = None

    def start_clock(self) -> None:
        """Start the next epoch's clock now: work done for it before fit (ValidationScorer.warm_up)
        counts in its epoch_seconds, as it did when it ran inside the epoch."""
        self._early = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._t0, self._early = self._early or time.perf_counter(), None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        if self.scorer is None:
            raw = self.model.predict(self.x_val, batch_size=self.batch_size, verbose=0)
        else:
            raw, scores = self.scorer(self.x_val, self.in_scope)
            logs.update(scores)
        p = metrics.to_probabilities(raw, self.head)
        row = metrics.probability_metrics(p[self.in_scope], self.y_val[self.in_scope], prefix="val_")
        row["epoch_seconds"] = time.perf_counter() - self._t0
        logs.update(row)
        self.rows.append({"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()}})
        self.probes.append(p[self.probe_index])
        self.last_raw = raw

    @property
    def history(self) -> pd.DataFrame:
        """One row per epoch: Keras's train/val accuracy and loss plus the probability metrics."""
        return pd.DataFrame(self.rows)

    def probe_frame(self) -> pd.DataFrame:
        """Long format: epoch, probe (example index in val), class, output."""
        recs = [
            {"epoch": e + 1, "probe": int(self.probe_index[i]), "class": k, "output": float(v)}
            for e, arr in enumerate(self.probes)
            for i, row in enumerate(arr)
            for k, v in enumerate(row)
        ]
        return pd.DataFrame(recs)


class ProgressLine(keras.callbacks.Callback):
    """One short line per epoch with the numbers that matter here (Keras's own line is too wide)."""

    KEYS = tuple((name, metrics.METRICS[name].short) for name in metrics.PROGRESS)

    def __init__(self, prefix: str = "", epochs: int | None = None, printer=print):
        super().__init__()
        self.prefix, self.epochs, self.printer = prefix, epochs, printer

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        shown = "  ".join(f"{short} {float(logs[k]):.4g}" for k, short in self.KEYS if k in logs)
        total = f"/{self.epochs}" if self.epochs else ""
        secs = f"  ({logs['epoch_seconds']:.1f}s)" if "epoch_seconds" in logs else ""
        self.printer(f"{self.prefix}epoch {epoch + 1}{total}  {shown}{secs}", flush=True)


class EpochLogger(keras.callbacks.Callback):
    """Hands every numeric entry of the epoch's logs to `log(metrics, step)`, step = epoch (1-based), once.

    Put it after the callbacks that add metrics to `logs` (the monitor). The model code stays
    unaware of MLflow: the caller passes the function that records (probsweep.tracking.log_metrics).
    """

    def __init__(self, log: Callable[[dict[str, float], int], None]):
        super().__init__()
        self.log = log

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        numeric = {
            k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float)) or hasattr(v, "__float__")
        }
        self.log(numeric, epoch + 1)
