"""`make sweep WORKERS=N`: Keras Tuner's chief/worker mode, supervised. No scheduler of our own.

This process is the chief. It opens the sweep's one parent run, serves the oracle over gRPC
(sweep/chief.py, 127.0.0.1 unless sweep.oracle_host says otherwise) and starts N worker processes
(`python -m probsweep.cli.worker`), each with its share of the cores. Over the default SQLite store
it first starts an `mlflow server`, the store's single writer, and points everyone at it.

Faults: a worker that dies is restarted with the same tuner ID, so the chief hands its trial back,
and its open runs are marked KILLED; after `sweep.max_restarts` it is named and left dead, and its
trial goes back to the queue when its lease expires. Ctrl-C or SIGTERM stops the workers and the
chief and marks the open runs KILLED; the same command resumes (the oracle reloads from sweeps/<name>/).
A launcher killed outright (SIGKILL, out of memory) takes its workers and server with it (lifeline.py):
the workers end their own runs and the launcher's (the sweep's, the baseline's) as KILLED, then the
server stops. The baseline is fitted on a thread beside the supervision, so a worker that dies during
that fit is restarted at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

from omegaconf import DictConfig

from probsweep import lifeline, tracking
from probsweep.config import ConfigError
from probsweep.data.loading import load_dataset
from probsweep.sweep.chief import serve
from probsweep.sweep.run import baseline_run, checked, finish, fit_space, parent_run, prepare_dir
from probsweep.sweep.tuner import SweepTuner
from probsweep.sweep.worker import RECYCLED

TERM_GRACE = 30.0  # seconds a worker gets to end its run as KILLED before SIGKILL


@dataclass
class Worker:
    tuner_id: str
    proc: subprocess.Popen | None = None
    crashes: int = 0
    state: str = "running"  # running | done | dead


@dataclass
class Beside:
    """A job on a thread beside the supervision loop (the launcher's baseline fit): the loop keeps
    restarting dead workers while it runs, and re-raises its error."""

    job: Callable[[], None]
    error: BaseException | None = None
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, name="beside-supervision", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.job()
        except BaseException as exc:  # handed to the supervising thread, which raises it
            self.error = exc

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def wait(self) -> None:
        self.thread.join()
        self.check()


def threads_per_worker(n: int) -> int:
    """TF intra- and inter-op threads per worker: the machine's cores shared out."""
    return max(1, (os.cpu_count() or 1) // max(n, 1))


def worker_args(overrides: Sequence[str]) -> list[str]:
    """The sweep's own command-line overrides, so every worker composes the same config; the store
    comes from MLFLOW_TRACKING_URI (the server), and only the chief may restart the sweep folder."""
    kept = [o for o in overrides if not o.lstrip("+~").startswith(("tracking.uri=", "sweep.restart="))]
    return [*kept, "tracking.uri=null"]


def launch(cfg: DictConfig, overrides: Sequence[str] = ()) -> str:
    """Run (or resume) a distributed sweep; returns the parent run id."""
    cfg, entries = checked(cfg)
    sw = cfg.sweep
    sweep_dir = prepare_dir(cfg)
    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    entries = fit_space(entries, data, cfg)
    with ExitStack() as stack:
        uri = tracking.resolve_uri(cfg.tracking.uri)
        if uri.startswith("sqlite:///"):  # no two processes ever write one SQLite file
            server, uri = tracking.start_server(uri, sweep_dir / "mlflow-server.log")
            stack.callback(tracking.stop_server, server)
            print(
                f"[launcher] tracking server {uri} (pid {server.pid}; the single writer of the SQLite store; log in "
                f"{sweep_dir / 'mlflow-server.log'})",
                flush=True,
            )
        experiment_id = tracking.setup(uri, sw.name)
        parent = stack.enter_context(parent_run(cfg, entries, data, experiment_id, sweep_dir))
        children = f"tags.`mlflow.parentRunId` = '{parent}'"
        if tracking.end_stale_runs(experiment_id, children):
            print("[launcher] runs left RUNNING by an earlier launcher are marked KILLED", flush=True)
        tuner = SweepTuner(cfg, entries, data, experiment_id, parent, sweep_dir, overwrite=False, chief=True)
        grpc_server, servicer, port = serve(tuner.oracle, sw.oracle_host, sw.oracle_port)
        stack.callback(grpc_server.stop, None)
        tuner.save()
        connect = "127.0.0.1" if sw.oracle_host in ("0.0.0.0", "::") else sw.oracle_host
        print(
            f"[chief] oracle on {connect}:{port}; {sw.workers} local worker(s). Another host joins with:\n"
            f'  MLFLOW_TRACKING_URI={uri} make worker ARGS="sweep.oracle_host={connect} sweep.oracle_port={port} '
            f'{" ".join(worker_args(overrides)[:-1])}"',
            flush=True,
        )
        env = {
            **os.environ,
            "KERASTUNER_ORACLE_IP": connect,
            "KERASTUNER_ORACLE_PORT": str(port),
            "MLFLOW_TRACKING_URI": uri,
            "PROBSWEEP_PARENT_RUN_ID": parent,
            "PROBSWEEP_THREADS": str(threads_per_worker(max(sw.workers, 1))),
            lifeline.PARENT_ENV: str(os.getpid()),  # a worker ends its run and exits once this process is gone
        }
        cmd = [sys.executable, "-m", "probsweep.cli.worker", *worker_args(overrides)]

        def start(tuner_id: str) -> subprocess.Popen:
            # Its own session: Ctrl-C reaches the launcher only, which then stops the workers in order.
            proc = subprocess.Popen(cmd, env={**env, "KERASTUNER_TUNER_ID": tuner_id}, start_new_session=True)
            print(f"[launcher] {tuner_id} started (pid {proc.pid})", flush=True)
            return proc

        workers = [Worker(f"worker-{i}") for i in range(sw.workers)]
        try:
            for w in workers:
                w.proc = start(w.tuner_id)
            # The baseline is fitted beside the supervision, so a worker that dies meanwhile is restarted at once.
            fitting = Beside(lambda: baseline_run(cfg, data, experiment_id, parent)) if cfg.search.baseline else None
            supervise(
                workers,
                start,
                tuner.oracle,
                servicer,
                sw,
                lambda w: tracking.end_stale_runs(experiment_id, f"tags.worker = '{w}' and {children}"),
                beside=fitting,
            )
            if fitting:
                fitting.wait()
        finally:
            stop(workers)
            if tracking.end_stale_runs(experiment_id, children):
                print("[launcher] open trial runs marked KILLED; the same command resumes", flush=True)
        finish(cfg, entries, tuner, experiment_id, parent, sweep_dir)
    return parent


def supervise(
    workers: list[Worker],
    start: Callable[[str], subprocess.Popen],
    oracle,
    servicer,
    sw: DictConfig,
    end_runs_of: Callable[[str], int],
    poll: float = 0.5,
    beside: Beside | None = None,
) -> None:
    """Until every trial has ended: restart dead workers (capped), expire leases. Never spins. An error
    of the job `beside` the loop (the baseline fit) stops it."""
    while True:
        if beside is not None:
            beside.check()
        for w in workers:
            code = w.proc.poll() if w.proc is not None and w.state == "running" else None
            if code is None:
                continue
            if code == 0:
                w.state = "done"
                continue
            if code == RECYCLED:  # it ran its sweep.trials_per_worker trials: a fresh process, not a crash
                w.proc = start(w.tuner_id)
                continue
            if code == 2:  # a config or data error: restarting cannot help
                raise ConfigError(
                    f"{w.tuner_id} stopped on the error above; the sweep stops (the same command resumes)"
                )
            killed = end_runs_of(w.tuner_id)
            w.crashes += 1
            if w.crashes <= sw.max_restarts:
                print(
                    f"[launcher] {w.tuner_id} died (exit code {code}); {killed} open run(s) marked KILLED; "
                    f"restart {w.crashes}/{sw.max_restarts} with the same tuner ID",
                    flush=True,
                )
                time.sleep(min(w.crashes, 5))  # a crash loop slows down instead of spinning
                w.proc = start(w.tuner_id)
                continue
            w.state = "dead"
            print(
                f"[launcher] {w.tuner_id} died (exit code {code}, {w.crashes} time(s)); {killed} open run(s) marked "
                f"KILLED; not restarted (sweep.max_restarts={sw.max_restarts})",
                flush=True,
            )
            if sw.trial_lease:  # as for a worker on another host that died with its host
                oracle.forget(w.tuner_id)
                print(
                    f"[launcher] its trial, if any, goes back to the queue when its lease expires "
                    f"({sw.trial_lease:g}s)",
                    flush=True,
                )
            else:
                oracle.release(w.tuner_id, "its worker is dead")
        if sw.trial_lease:
            oracle.expire_leases(sw.trial_lease)
        if all(w.state != "running" for w in workers):
            if servicer.stop_triggered and oracle.finished():
                return
            if workers and not oracle.tuner_ids:
                dead = ", ".join(w.tuner_id for w in workers if w.state == "dead")
                raise RuntimeError(
                    f"no worker left to run the remaining trials ({dead} kept crashing: see their "
                    "output above); fix the cause and run the same command to resume"
                )
        time.sleep(poll)


def stop(workers: list[Worker]) -> None:
    """SIGTERM every running worker (it ends its run as KILLED), SIGKILL any still there after TERM_GRACE."""
    alive = [w.proc for w in workers if w.proc is not None and w.proc.poll() is None]
    for p in alive:
        p.terminate()
    deadline = time.monotonic() + TERM_GRACE
    for p in alive:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
