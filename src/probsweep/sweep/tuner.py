"""Keras Tuner over the Hydra-declared space; every trial is a nested MLflow run.

The only module that imports keras_tuner. A trial is the base config with the sampled keys
overridden (probsweep.search.apply); the trial hook (SweepTuner.run_trial) opens the trial's
MLflow run, trains through probsweep.runner, and returns the final-epoch metrics to the oracle.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import grpc
import keras
import keras_tuner as kt
from keras_tuner.engine.base_tuner import BaseTuner
from keras_tuner.src import config as kt_config
from omegaconf import DictConfig

from probsweep import tracking
from probsweep.config import ConfigError, one_line
from probsweep.data.loading import Dataset
from probsweep.report.tables import trial_number
from probsweep.sweep import space as search
from probsweep.sweep.chief import lease_report, leased
from probsweep.train.fit import process_memory
from probsweep.train.tracked import log_inputs, tracked_fit

log = logging.getLogger(__name__)
HYPERBAND_EPOCHS = "tuner/epochs"
# Keras Tuner prints every failed trial's traceback (DEBUG defaults to True). A failed trial here
# prints one line; its traceback is kept in its MLflow run as error.txt.
kt_config.DEBUG = False


class SpaceHyperModel(kt.HyperModel):
    """Declares the configured space; `build` returns the sampled values (the trial's overrides)."""

    def __init__(self, entries: list[search.Entry]):
        super().__init__(name="probsweep")
        self.entries = entries

    def declare_hyperparameters(self, hp: kt.HyperParameters) -> None:
        search.declare(hp, self.entries)

    def build(self, hp: kt.HyperParameters) -> dict[str, Any]:
        search.declare(hp, self.entries)
        return dict(hp.values)


class ResumableGridSearchOracle(kt.oracles.GridSearchOracle):
    """Keras Tuner 1.4.8's grid oracle does not save where it is in the grid, so a resumed grid
    sweep fails with a KeyError. This one saves the grid order and the pending queue with the state."""

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        order, node = [], self._ordered_ids
        index = node._next_index.get(None)  # the list keeps its head at key None
        while index is not None:
            order.append(node._memory[index])
            index = node._next_index.get(index)
        state["grid_order"], state["grid_pending"] = order, list(self._populate_next)
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        for trial_id in state.get("grid_order", []):
            self._ordered_ids.insert(trial_id)
        self._populate_next = list(state.get("grid_pending", []))


def check_declarable(entries: list[search.Entry]) -> None:
    """Keras Tuner's own checks (bounds, steps, sampling) before the first trial, as one line."""
    try:
        search.declare(kt.HyperParameters(), entries)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"search.space: {one_line(exc)}") from None


def make_oracle(tuner_cfg: DictConfig, objective: str, direction: str, chief: bool = False) -> kt.Oracle:
    """The configured oracle; `chief`: with trial leases, to be served to workers (sweep/chief.py)."""
    obj = kt.Objective(objective, direction=direction)
    common = dict(objective=obj, seed=tuner_cfg.seed, max_consecutive_failed_trials=5)
    kind = tuner_cfg.kind
    budget = dict(max_trials=tuner_cfg.max_trials)
    if kind == "random":
        cls = kt.oracles.RandomSearchOracle
    elif kind == "grid":
        cls = ResumableGridSearchOracle
    elif kind == "bayesian":
        cls, budget = kt.oracles.BayesianOptimizationOracle, {**budget, "num_initial_points": tuner_cfg.initial_points}
    elif kind == "hyperband":
        # Each Hyperband trial here trains from scratch for its `tuner/epochs` (no weight reuse),
        # so its per-epoch curves in MLflow always start at epoch 1.
        cls, budget = (
            kt.oracles.HyperbandOracle,
            dict(max_epochs=tuner_cfg.max_epochs, factor=tuner_cfg.factor, hyperband_iterations=1),
        )
    else:
        raise ConfigError(f"tuner.kind={kind!r} must be random, grid, bayesian or hyperband (use tuner=<name>)")
    oracle = (leased(cls) if chief else cls)(**budget, **common)
    if chief:
        oracle.seen, oracle.verbose = {}, 0  # workers print the trials; the chief prints one line each
    return oracle


class EpochReport(keras.callbacks.Callback):
    """On a worker: every epoch end renews the trial's lease with the chief (Keras Tuner's UpdateTrial).

    A chief that answers STOPPED gave the trial to another worker after this one's lease expired:
    the attempt ends here, its run KILLED (tracking.Stopped), and the chief is not told of an end.
    A report that does not get through (the chief died during the call, a network fault) is only a
    missed renewal: training goes on, as it would have had the report been sent a moment earlier."""

    def __init__(self, oracle: Any, trial_id: str, tuner_id: str):
        super().__init__()
        self.oracle, self.trial_id, self.tuner_id = oracle, trial_id, tuner_id

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        try:
            answer = self.oracle.update_trial(self.trial_id, lease_report(self.tuner_id, epoch + 1), step=epoch + 1)
        except grpc.RpcError as exc:
            code = getattr(exc, "code", lambda: None)()
            print(
                f"[{self.tuner_id} trial #{trial_number(self.trial_id)}] the chief did not take the epoch's report "
                f"({code.name if code else type(exc).__name__}): training goes on",
                flush=True,
            )
            return
        if answer.status == kt.engine.trial.TrialStatus.STOPPED:
            raise tracking.Stopped(
                f"{self.tuner_id}'s lease on trial #{trial_number(self.trial_id)} expired (sweep.trial_lease) and "
                "another worker runs it now"
            )


def patient(create_trial):
    """Keras Tuner's worker loop asks again at once on IDLE (Hyperband waiting on a bracket, or trials
    still out): wait between asks instead, up to 5 s, so an idle worker does not spin."""

    def ask(tuner_id: str) -> kt.engine.trial.Trial:
        wait = 0.2
        while True:
            trial = create_trial(tuner_id)
            if trial.status != kt.engine.trial.TrialStatus.IDLE:
                return trial
            time.sleep(wait)
            wait = min(wait * 2, 5.0)

    return ask


class Recycle(Exception):
    """A worker ran its sweep.trials_per_worker trials: it ends, and the launcher starts a fresh process."""


class SweepTuner(BaseTuner):
    def __init__(
        self,
        base: DictConfig,
        entries: list[search.Entry],
        data: Dataset,
        experiment_id: str,
        parent_run_id: str,
        directory: Path,
        overwrite: bool,
        chief: bool = False,
    ):
        """`chief`: the oracle is served to workers (sweep/launch.py). On a worker (KERASTUNER_* set),
        Keras Tuner proxies the oracle to the chief; trials then name the worker and report epochs."""
        self.base, self.entries, self.data = base, entries, data
        self.experiment_id, self.parent_run_id = experiment_id, parent_run_id
        super().__init__(
            oracle=make_oracle(base.tuner, base.search.objective, base.search.direction, chief=chief),
            hypermodel=SpaceHyperModel(entries),
            directory=str(directory.parent),
            project_name=directory.name,
            overwrite=overwrite,
        )
        self.worker = self.tuner_id if self._is_worker() else None
        if self.worker:
            self.oracle.create_trial = patient(self.oracle.create_trial)
        self.trials_run = 0  # in this process
        self.taken_over: set[str] = set()  # trials whose lease expired here and that another worker runs
        self.warned_memory = False

    def pre_create_trial(self) -> None:
        """Before asking for a trial: a worker that has run its sweep.trials_per_worker trials stops here,
        between trials, so its process ends and gives back the memory TensorFlow never frees."""
        limit = self.base.sweep.trials_per_worker
        if self.worker and limit and self.trials_run >= limit:
            raise Recycle(f"{self.trials_run} trial(s) run")
        super().pre_create_trial()

    def trial_config(self, values: dict[str, Any], check: bool = True) -> DictConfig:
        cfg = search.apply(self.base, values, self.entries, check=check)
        if HYPERBAND_EPOCHS in values:
            cfg.train.epochs = int(values[HYPERBAND_EPOCHS])
        return cfg

    def run_trial(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> dict[str, float]:
        values = search.rounded(self.entries, dict(trial.hyperparameters.values))  # 0.3, not 0.30000000000000004
        shown = {k: v for k, v in values.items() if not k.startswith("tuner/")}
        # Keras Tuner's own numbering in its display; a worker's lines carry its name
        number = trial_number(trial.trial_id)
        prefix = f"[{self.worker + ' ' if self.worker else ''}trial #{number}] "
        this_trial = f"tags.trial_id = '{trial.trial_id}' and tags.`mlflow.parentRunId` = '{self.parent_run_id}'"
        done = tracking.finished_metrics(self.experiment_id, this_trial)
        if done is not None:  # killed after its run finished, before Keras Tuner saved the trial: not trained twice
            print(f"{prefix}finished already (its MLflow run is kept): not trained again", flush=True)
            return {k: v for k, v in done.items() if not math.isnan(v)}
        # A run left RUNNING by an earlier, killed attempt at this trial is ended first.
        tracking.end_stale_runs(self.experiment_id, this_trial)
        tags = {
            "trial_id": trial.trial_id,  # Keras Tuner's own id (0-based): what a resumed sweep maps its runs by
            "trial": str(number),  # the number every line, table and report shows
            "sweep": self.base.sweep.name,
            "kind": "trial",
            **({"worker": self.worker} if self.worker else {}),
            # keys whose `when:` this trial does not meet: their config values are defaults nobody sampled,
            # so the trial table and the effects panel leave them blank
            "inactive_keys": ",".join(search.inactive(self.entries, values)),
        }
        with tracking.run(
            self.experiment_id, name=f"trial-{number}", tags=tags, parent_run_id=self.parent_run_id
        ) as run_id:
            tracking.log_params(run_id, {k: v for k, v in shown.items() if "." not in k})  # bundle picks, e.g. head
            try:
                cfg = self.trial_config(values)
            except ConfigError as exc:  # an invalid pairing: this trial fails, the sweep goes on
                log_inputs(self.trial_config(values, check=False), self.data, run_id)  # same param keys as the others
                raise kt.errors.FailedTrialError(str(exc)) from None
            print(f"{prefix}{', '.join(f'{k}={v}' for k, v in shown.items())}", flush=True)
            report = [EpochReport(self.oracle, trial.trial_id, self.worker)] if self.worker else []
            try:
                outcome = tracked_fit(cfg, self.data, run_id, prefix=prefix, extra_callbacks=report)
            except tracking.Stopped as stopped:
                self.taken_over.add(trial.trial_id)
                print(f"{prefix}{stopped}: this attempt stops, its run is KILLED", flush=True)
                raise
        # NaN (e.g. a test precision when no example passes the threshold) is no score for the oracle.
        return {k: v for k, v in outcome.final.items() if isinstance(v, float) and not math.isnan(v)}

    def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
        if trial.trial_id in self.taken_over:  # another worker runs it: the chief hears its end from there
            self.trials_run += 1
            return
        if trial.message:  # the traceback's last line says it all; the whole of it is in MLflow
            trial.message = trial.message.strip().splitlines()[-1].split("FailedTrialError: ", 1)[-1]
            who = f"{self.worker} " if self.worker else ""
            print(
                f"[{who}trial #{trial_number(trial.trial_id)}] FAILED, the sweep goes on: {trial.message}", flush=True
            )
        super().on_trial_end(trial)
        self.trials_run += 1
        if not self.worker and not self.warned_memory:
            self.warned_memory = memory_hint(self.trials_run)


def memory_hint(trials_run: int, share: float = 0.25) -> bool:
    """Once a one-process sweep holds a quarter of the machine's memory, say how to keep it flat."""
    rss = process_memory().get("process_rss_mb")
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (ValueError, OSError, AttributeError):
        return False
    if rss is None or rss < share * total:
        return False
    print(
        f"note: this sweep's process holds {rss / 1024:.1f} GB after {trials_run} trials (TensorFlow keeps each "
        "trial's compiled code): sweep.trials_per_worker=1 runs each trial in a fresh process (docs/scaling-out.md)",
        flush=True,
    )
    return True


def space_summary(entries: list[search.Entry]) -> dict[str, str]:
    return {f"space.{e.name}": f"{e.kind}: {e.spec}" + (f" when {e.when}" if e.when else "") for e in entries}
