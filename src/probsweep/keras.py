"""`ProbabilityMonitor`: the Keras callback that measures a classifier's outputs after every epoch.

The sweep's own monitor (train/fit.py builds it with the head it configured) and the one you add to
your own `model.fit` are this one class:

    from probsweep.keras import ProbabilityMonitor
    model.fit(x, y, epochs=8, callbacks=[ProbabilityMonitor(x_val, y_val)])

At train begin it checks the compiled head and loss (probsweep.compiled.check) and warns once, with
the fix, when they disagree. At every epoch end it adds `val_max_prob`, `val_prob_sum`,
`val_entropy`, `val_ece`, `val_brier`, ... to the epoch's `logs` (so later callbacks see them) and
keeps the raw outputs of a few fixed validation examples (the probes). With `track=True` it logs
them to the active MLflow run at step = epoch (or starts a run, and ends it), when MLflow is
installed; without MLflow they go into `logs` and `csv`. At train end it writes the diagnosis, the
same analysis a sweep's trial gets (probs/analysis.py).

Imports Keras, NumPy and pandas only: MLflow and the analysis are imported when training ends.
"""

from __future__ import annotations

import importlib.util
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from probsweep.compiled import PATH_LOGITS, CheckResult, HeadLossMismatchWarning, check
from probsweep.config import Activation, Loss
from probsweep.head import Head
from probsweep.probs import metrics

log = logging.getLogger(__name__)
__all__ = ["ProbabilityMonitor", "HeadLossMismatchWarning", "check"]


class ProbabilityMonitor(keras.callbacks.Callback):
    """Per-epoch probability metrics of the validation outputs, the probes, and a diagnosis at the end.

    `y_val`: class indices (-1 = out of scope) or one-hot rows. `head`: the head's activation and loss;
    None reads them from the compiled model at train begin. `check`, `track` and `diagnose` are the
    parts a user's fit wants and the sweep does itself (train/tracked.py): the sweep turns them off.
    `csv`: where the per-epoch rows go (default probability_monitor.csv when nothing is tracked).
    `out_dir`: the diagnosis's files when nothing is tracked (default probability_monitor/).
    With `scorer` (train.single_validation_pass), validation runs once per epoch: `val_loss` and
    `val_accuracy` come from the same predict as the probability metrics, through `scorer`
    (probsweep.train.fit.ValidationScorer), instead of from a second, Keras evaluate pass.
    """

    def __init__(
        self,
        x_val: Any,
        y_val: Any,
        head: Head | None = None,
        n_probes: int = 5,
        batch_size: int = 256,
        scorer: Any | None = None,
        *,
        check: bool = True,
        track: bool | str = "auto",
        diagnose: bool = True,
        csv: str | Path | None = None,
        out_dir: str | Path | None = None,
        class_names: list[str] | None = None,
        printer=print,
    ):
        super().__init__()
        self.scorer = scorer
        y_val = np.asarray(y_val)
        self.x_val, self.y_val = x_val, (y_val.argmax(axis=1) if y_val.ndim == 2 else y_val).astype(np.int64)
        self.in_scope = self.y_val >= 0  # out-of-scope examples (y == -1) have no true class to score
        self.head = head
        self.batch_size = batch_size
        scored = np.flatnonzero(self.in_scope)
        self.probe_index = scored[np.linspace(0, len(scored) - 1, num=min(n_probes, len(scored))).astype(int)]
        self.rows: list[dict[str, float]] = []
        self.probes: list[np.ndarray] = []  # one (n_probes, K) array per epoch
        self.last_raw: np.ndarray | None = None  # the final epoch's raw outputs on all of x_val
        self._t0 = 0.0
        self._early: float | None = None
        self.checks, self.tracks, self.diagnoses = check, track, diagnose
        self.csv, self.out_dir, self.class_names, self.printer = csv, out_dir, class_names, printer
        self.found: CheckResult | None = None  # the static check at train begin
        self.run_id: str | None = None  # the MLflow run the metrics went to
        self._started_run = False
        self.analysis: Any = None  # probs.analysis.Analysis, after training

    # ---- train begin: the static check, the head, the run ----

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.checks or self.head is None:
            self.found = check(self.model)
            if self.found.mismatch and self.checks:
                warnings.warn(f"probsweep: {self.found}", HeadLossMismatchWarning, stacklevel=2)
            if self.head is None:
                self.head = self.found.head or _fallback_head(self.found)
        if _wants_tracking(self.tracks):
            from probsweep import tracking  # MLflow loads here, not at import

            self.run_id, self._started_run = tracking.active_or_new_run("probability-monitor")
            tags = {"head_loss_check": str(self.found) if self.found else ""}
            if self.found is not None:
                tags.update(head=f"{self.found.activation}+{self.found.loss}", loss_path=self.found.path or "")
                tags["head_loss_mismatch"] = str(self.found.mismatch).lower()
            tracking.set_tags(self.run_id, tags)

    # ---- every epoch: the metrics (the sweep's numbers come from here) ----

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
        assert self.head is not None, "the head is set at train begin"
        p = metrics.to_probabilities(raw, self.head)
        row = metrics.probability_metrics(p[self.in_scope], self.y_val[self.in_scope], prefix="val_")
        row["epoch_seconds"] = time.perf_counter() - self._t0
        logs.update(row)
        self.rows.append({"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()}})
        self.probes.append(p[self.probe_index])
        self.last_raw = raw
        if self.run_id is not None:
            from probsweep import tracking

            tracking.log_metrics(self.run_id, {k: v for k, v in self.rows[-1].items() if k != "epoch"}, step=epoch + 1)
        if self.csv or (self.run_id is None and self.diagnoses):  # a user's fit without MLflow: a CSV
            self.history.to_csv(self.csv or "probability_monitor.csv", index=False)

    # ---- train end: the diagnosis ----

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self.diagnoses or self.last_raw is None or self.head is None:
            self._end_run()
            return
        from probsweep.probs import analysis

        path = self.found.path if self.found is not None else None
        self.analysis = analysis.analyse(
            self.head,
            self.last_raw,
            self.y_val,
            loss_path=path if path != PATH_LOGITS else None,
            history=self.history,
            probes=self.probe_frame(),
            class_names=self.class_names,
        )
        files = {"history.csv": self.history, **self.analysis.files}
        if self.run_id is not None:
            from probsweep import tracking

            tracking.log_metrics(self.run_id, self.analysis.metrics, step=len(self.rows))
            tracking.set_tags(self.run_id, self.analysis.tags)
            tracking.log_artifacts(self.run_id, files)
            where = f"MLflow run {self.run_id}"
        else:
            where = str(write_files(Path(self.out_dir or "probability_monitor"), files))
        self.printer(f"probsweep diagnosis ({where}):\n{self.analysis.files['diagnosis.txt']}")
        self._end_run()

    def _end_run(self) -> None:
        if self._started_run and self.run_id is not None:
            from probsweep import tracking

            tracking.end_active_run()
            self._started_run = False

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


def _wants_tracking(track: bool | str) -> bool:
    """track=True or 'auto' with MLflow installed."""
    if track == "auto":
        return importlib.util.find_spec("mlflow") is not None
    return bool(track)


def _fallback_head(found: CheckResult) -> Head:
    """A head the metrics can read the outputs with when the check could not name the pair."""
    activation = Activation.linear if found.activation == "linear" else Activation.softmax
    return Head(activation, Loss.sparse_categorical_crossentropy)


def write_files(folder: Path, files: dict[str, Any]) -> Path:
    """The analysis's files (text, bytes or frames) under `folder`; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        dest = folder / rel
        if isinstance(content, pd.DataFrame):
            content.to_csv(dest, index=False)
        elif isinstance(content, bytes):
            dest.write_bytes(content)
        else:
            dest.write_text(str(content))
    return folder
