"""The chief of a distributed sweep: Keras Tuner's own oracle and gRPC servicer, plus trial leases.

Keras Tuner 1.4.8 has no heartbeat: a worker that dies mid-trial leaves its trial "ongoing" for ever.
Here each epoch end reports to the chief (an UpdateTrial call whose one "metric" names the worker,
`lease_report`: it never reaches the trial's metrics or score), and a trial silent for longer than
`sweep.trial_lease` goes back to Keras Tuner's own retry queue, as `Oracle.reload` does for a
restarted chief. While any trial is out, a worker asking for more gets IDLE instead of STOPPED, so
it can still pick that trial up if its lease expires.

A worker that was only slow (paused, swapping) reports again after its lease expired. If nobody has
taken the trial from the queue yet, it gets it back; if another worker runs it now, the late one is
answered STOPPED and ends its attempt (its run KILLED, sweep/tuner.py), so a trial never ends up
with two finished runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

import keras_tuner as kt
from keras_tuner.src.distribute import oracle_chief
from keras_tuner.src.engine.trial import Trial, TrialStatus

from probsweep.report.tables import trial_number

LEASE_METRIC = "probsweep/epoch"  # the epoch-end report's key, "probsweep/epoch@<tuner id>"; never a metric


def lease_report(tuner_id: str, epoch: int) -> dict[str, float]:
    """The UpdateTrial metrics a worker sends at an epoch end: the only place a worker's ID can travel."""
    return {f"{LEASE_METRIC}@{tuner_id}": float(epoch)}


def lease_holder(metrics: dict) -> str | None:
    """The worker that sent a lease report, or None for an ordinary metrics update."""
    return next((k.split("@", 1)[1] for k in metrics if k.startswith(f"{LEASE_METRIC}@")), None)


class LeaseMixin(kt.Oracle):
    """Mixed in before a Keras Tuner oracle class on the chief (see `leased`)."""

    seen: dict
    announce: Callable[[str], None] = print

    @kt.synchronized
    def create_trial(self, tuner_id: str) -> Trial:
        trial = super().create_trial(tuner_id)
        if trial.status == TrialStatus.RUNNING:
            self.seen[trial.trial_id] = time.monotonic()
            self.announce(f"[chief] trial #{trial_number(trial.trial_id)} -> {tuner_id}")
        elif trial.status == TrialStatus.STOPPED and self.ongoing_trials:
            self.tuner_ids.add(tuner_id)  # not done yet: a trial that is out may come back to the queue
            trial = Trial(self.get_space(), trial_id=trial.trial_id, status=TrialStatus.IDLE)
        return trial

    @kt.synchronized
    def update_trial(self, trial_id: str, metrics: dict, step: int = 0) -> Trial:
        holder = lease_holder(metrics)
        if holder is None:
            return super().update_trial(trial_id, metrics, step=step)
        held = self.ongoing_trials.get(holder)
        if held is None and trial_id in self._retry_queue:  # late, but nobody took it over: it is its again
            self._retry_queue.remove(trial_id)
            held = self.ongoing_trials[holder] = self.trials[trial_id]
            held.status = TrialStatus.RUNNING
            self.tuner_ids.add(holder)
            self.save()
            self.announce(f"[chief] trial #{trial_number(trial_id)}: {holder} reported again in time, it keeps it")
        if held is None or held.trial_id != trial_id:  # another worker runs it now
            self.announce(f"[chief] trial #{trial_number(trial_id)}: {holder}'s lease had expired: told to stop")
            return Trial(self.get_space(), trial_id=trial_id, status=TrialStatus.STOPPED)
        self.seen[trial_id] = time.monotonic()  # an epoch ended on its worker: the lease is renewed
        return self.trials[trial_id]

    @kt.synchronized
    def end_trial(self, trial: Trial) -> None:
        done = self.trials[trial.trial_id].status in (TrialStatus.COMPLETED, TrialStatus.FAILED)
        if done and trial.trial_id in self.end_order:  # a late worker whose lease had expired: first one wins
            self.announce(f"[chief] trial #{trial_number(trial.trial_id)} had already ended: late result ignored")
            return
        if trial.trial_id in self._retry_queue:  # its lease expired but it finished after all
            self._retry_queue.remove(trial.trial_id)
        super().end_trial(trial)

    @kt.synchronized
    def release(self, tuner_id: str, why: str) -> str | None:
        """Give up on a worker: its ongoing trial goes back to the retry queue; the chief stops waiting for it."""
        self.tuner_ids.discard(tuner_id)
        trial = self.ongoing_trials.pop(tuner_id, None)
        if trial is None:
            return None
        self._retry_queue.append(trial.trial_id)
        self.save()
        self.announce(f"[chief] trial #{trial_number(trial.trial_id)} ({tuner_id}) {why}: back to the queue")
        return trial.trial_id

    @kt.synchronized
    def forget(self, tuner_id: str) -> None:
        """A worker that will not ask again: the chief stops waiting for it (its trial keeps its lease)."""
        self.tuner_ids.discard(tuner_id)

    def expire_leases(self, lease: float) -> list[str]:
        now = time.monotonic()
        late = [tid for tid, t in list(self.ongoing_trials.items()) if now - self.seen.get(t.trial_id, now) > lease]
        why = f"reported no epoch for {lease:g}s (sweep.trial_lease)"
        return [t for t in (self.release(tid, why) for tid in late) if t]

    def finished(self) -> bool:
        """Every worker that asked has been told STOPPED, and nothing is out."""
        return oracle_chief.exit_chief(self)


def leased(oracle_cls: type) -> type:
    return type(f"Leased{oracle_cls.__name__}", (LeaseMixin, oracle_cls), {"seen": None})


def serve(oracle: Any, host: str, port: int) -> tuple[Any, Any, int]:
    """Keras Tuner's OracleServicer on host:port (0 = a free port); returns (server, servicer, port)."""
    import grpc
    from keras_tuner.src import protos

    oracle.seen = {} if oracle.seen is None else oracle.seen
    # No SO_REUSEPORT (gRPC's default): a second chief on a taken port must fail, not share it.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.so_reuseport", 0)])
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        from probsweep.config import ConfigError

        raise ConfigError(
            f"cannot listen on {host}:{port} for the chief's oracle: set sweep.oracle_port to a "
            "free port (0 picks one) and sweep.oracle_host to an address of this machine"
        )
    server.start()
    return server, servicer, bound
