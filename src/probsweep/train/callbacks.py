"""The training's callbacks: the probability monitor, one progress line per epoch, the epoch logger.

The monitor, which adds `val_max_prob`, `val_prob_sum`, `val_entropy`, ... to the epoch's `logs` (so
the MLflow logger, the tuner's objective and the progress line see them) and keeps the probes, is
`probsweep.keras.ProbabilityMonitor`: the one class a user adds to their own `fit`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from probsweep.keras import ProbabilityMonitor
from probsweep.probs import metrics

__all__ = ["EpochLogger", "ProbabilityMonitor", "ProgressLine"]


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
