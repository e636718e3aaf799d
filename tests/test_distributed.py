"""A sweep across worker processes (Keras Tuner's chief/worker mode) on loopback, tracked on an
MLflow server over a real PostgreSQL cluster or over the SQLite store; faults by SIGKILL and SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from mlflow.tracking import MlflowClient

from conftest import TINY

TIMEOUT = 420  # seconds for one launch on a loaded 2-core machine


class Launch:
    """`python -m probsweep.cli.sweep ...` in the background, its output collected line by line."""

    def __init__(self, tmp, name, *extra, uri, trials=4, epochs=2, workers=2):
        args = [
            *TINY,
            "search=smoke",
            f"tuner.max_trials={trials}",
            f"train.epochs={epochs}",
            f"sweep.workers={workers}",
            f"sweep.name={name}",
            f"sweep.dir={tmp / 'sweeps'}",
            *extra,
        ]
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "probsweep.cli.sweep", *args],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines = []
        threading.Thread(target=lambda: [self.lines.append(ln) for ln in self.proc.stdout], daemon=True).start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = TIMEOUT) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ln in list(self.lines):
                if m := re.search(pattern, ln):
                    return m
            assert self.proc.poll() is None, f"the launcher exited before '{pattern}':\n{self.output[-3000:]}"
            time.sleep(0.05)
        raise AssertionError(f"no '{pattern}' within {timeout}s:\n{self.output[-3000:]}")

    def kill_worker_mid_trial(self) -> tuple:
        """SIGKILL the first worker to end an epoch (of 2 or more); returns (worker, its trial's id)."""
        worker, trial = self.wait_for(r"\[(worker-\d) trial #(\d+)\] epoch 1/").groups()
        pid = int(self.wait_for(rf"\[launcher\] {worker} started \(pid (\d+)\)").group(1))
        os.kill(pid, signal.SIGKILL)
        return worker, str(int(trial) - 1)

    def finish(self) -> int:
        code = self.proc.wait(TIMEOUT)
        time.sleep(0.2)  # the reader thread's last lines
        return code


def trial_runs(uri, name):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("kind") == "sweep"]
    assert len(parents) == 1, "one parent run per sweep"
    children = [r for r in runs if r.data.tags.get("kind") == "trial"]
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in children)
    return client, parents[0], children


def check_each_trial_finished_once(client, parent, children, trials):
    finished = [r for r in children if r.info.status == "FINISHED"]
    assert Counter(r.data.tags["trial_id"] for r in finished) == {str(i): 1 for i in range(trials)}
    assert parent.info.status == "FINISHED"
    assert all(r.info.status in ("FINISHED", "KILLED") for r in children), [
        (r.data.tags["trial_id"], r.data.tags.get("worker"), r.info.status) for r in children
    ]
    keys = {frozenset(r.data.params) for r in finished}
    assert len(keys) == 1 and {"model.dropout", "train.epochs", "data_report.n_train"} <= set(next(iter(keys)))
    epochs = int(finished[0].data.params["train.epochs"])
    for r in finished:
        assert [m.step for m in client.get_metric_history(r.info.run_id, "val_brier")] == list(range(1, epochs + 1))
    return finished


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One tracking server over one SQLite store for the tests whose subject is not the launcher's own
    server (each its own sweep.name, so its own experiment): each launch saves the ~10 s of starting and stopping one.
    Given an http:// store, the launcher starts no server of its own (test_two_workers_on_a_server_...)."""
    from probsweep import tracking

    tmp = tmp_path_factory.mktemp("shared-server")
    proc, url = tracking.start_server(f"sqlite:///{tmp / 'mlflow.db'}", tmp / "server.log")
    try:
        yield url
    finally:
        tracking.stop_server(proc)


@pytest.fixture(scope="module", autouse=True)
def recycling(request, tmp_path_factory):
    """The recycled-worker sweep (one worker, so one core of two, and three process starts one after the
    other) starts with this module, beside the tests before its own: that test waits for it and checks it."""
    if not any(
        item.name == test_a_worker_recycled_after_each_trial_runs_every_trial_once_in_its_own_process.__name__
        for item in request.session.items
    ):
        yield None
        return
    recycled = ("sweep.trials_per_worker=1", "search.baseline=false")
    tmp = tmp_path_factory.mktemp("recycle")
    run = Launch(tmp, "recycle", *recycled, uri=request.getfixturevalue("server"), trials=2, epochs=1, workers=1)
    try:
        yield run
    finally:
        if run.proc.poll() is None:  # its test did not run to the end: the launcher takes its workers with it
            run.proc.terminate()
            run.finish()


@pytest.mark.slow
def test_two_workers_on_a_server_over_postgresql(tmp_path, postgres_uri):
    from probsweep import tracking

    server, url = tracking.start_server(postgres_uri, tmp_path / "server.log", artifacts=str(tmp_path / "artifacts"))
    try:
        run = Launch(tmp_path, "pg", uri=url)
        assert run.finish() == 0, run.output[-3000:]
        client, parent, children = trial_runs(url, "pg")
        finished = check_each_trial_finished_once(client, parent, children, trials=4)
        assert len(children) == 4 and {r.data.tags["worker"] for r in finished} == {"worker-0", "worker-1"}
        assert "tracking server" not in run.output  # the given server is used, none is started
        assert re.search(r"\[worker-[01] trial #\d\] epoch 2/2", run.output)  # progress lines name the worker
        assert client.get_run(parent.info.run_id).data.tags["best_run_id"] in {r.info.run_id for r in finished}
        # a worker on other data stops with one line, before it asks the chief for anything
        before = len(client.search_runs([parent.info.experiment_id]))
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": url,
            "PROBSWEEP_PARENT_RUN_ID": parent.info.run_id,
            "KERASTUNER_TUNER_ID": "worker-x",
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": "9",
        }
        other = subprocess.run(
            [
                sys.executable,
                "-m",
                "probsweep.cli.worker",
                *TINY,
                "search=smoke",
                "sweep.name=pg",
                f"sweep.dir={tmp_path / 'sweeps'}",
                "data.synthetic.label_noise=0.2",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert other.returncode == 2 and "Traceback" not in other.stderr
        errors = [ln for ln in other.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and "worker-x: this worker's data (fingerprint" in errors[0]
        assert len(client.search_runs([parent.info.experiment_id])) == before  # it opened no run
    finally:
        tracking.stop_server(server)


@pytest.mark.slow
def test_sqlite_store_behind_the_launchers_server_and_a_killed_worker_restarted(tmp_path):
    db = tmp_path / "mlruns" / "mlflow.db"
    run = Launch(tmp_path, "lite", uri=f"sqlite:///{db}", trials=2, epochs=2)
    worker, killed_trial = run.kill_worker_mid_trial()
    assert run.finish() == 0, run.output[-3000:]
    assert "[launcher] tracking server http://127.0.0.1:" in run.output
    assert f"{worker} died (exit code -9)" in run.output and "restart 1/3 with the same tuner ID" in run.output
    log = (tmp_path / "sweeps" / "lite" / "mlflow-server.log").read_text()
    assert "database is locked" not in run.output + log
    client, parent, children = trial_runs(f"sqlite:///{db}", "lite")
    check_each_trial_finished_once(client, parent, children, trials=2)
    again = [r for r in children if r.data.tags["trial_id"] == killed_trial]
    assert sorted(r.info.status for r in again) == ["FINISHED", "KILLED"]
    assert {r.data.tags["worker"] for r in again} == {worker}  # the chief handed its trial back


@pytest.mark.slow
def test_a_worker_recycled_after_each_trial_runs_every_trial_once_in_its_own_process(recycling, server):
    run = recycling
    assert run.finish() == 0, run.output[-3000:]
    assert run.output.count("[worker-0] 1 trial(s) run: this process ends, a fresh one takes the next trial") == 2
    pids = re.findall(r"\[launcher\] worker-0 started \(pid (\d+)\)", run.output)
    assert len(set(pids)) == 3  # one process per trial, then one that is told no trials are left
    assert "died" not in run.output and "[worker-0] no trials left: done" in run.output
    client, parent, children = trial_runs(server, "recycle")
    finished = check_each_trial_finished_once(client, parent, children, trials=2)
    for r in finished:  # the memory of the process that ran the trial, logged after it
        assert 50 < r.data.metrics["process_rss_mb"] <= r.data.metrics["process_peak_rss_mb"]


@pytest.mark.slow
def test_without_restarts_an_expired_lease_sends_the_trial_to_another_worker(tmp_path, server):
    lease = ("sweep.max_restarts=0", "sweep.trial_lease=10", "search.baseline=false")
    run = Launch(tmp_path, "lease", *lease, uri=server, trials=2, epochs=2)
    worker, killed_trial = run.kill_worker_mid_trial()
    assert run.finish() == 0, run.output[-3000:]
    assert "not restarted (sweep.max_restarts=0)" in run.output
    assert "reported no epoch for 10s (sweep.trial_lease): back to the queue" in run.output
    client, parent, children = trial_runs(server, "lease")
    check_each_trial_finished_once(client, parent, children, trials=2)
    again = {r.info.status: r.data.tags["worker"] for r in children if r.data.tags["trial_id"] == killed_trial}
    other = {"worker-0": "worker-1", "worker-1": "worker-0"}[worker]
    assert again == {"KILLED": worker, "FINISHED": other}  # another worker picked it up


@pytest.mark.slow
def test_a_worker_paused_past_its_lease_stops_its_attempt_when_another_worker_runs_the_trial(tmp_path, server):
    # 10 epochs: paused at the end of epoch 1, its worker is surely still mid-trial; 2 would race the SIGSTOP.
    run = Launch(tmp_path, "late", "sweep.trial_lease=10", "search.baseline=false", uri=server, trials=2, epochs=10)
    worker, trial = run.wait_for(r"\[(worker-\d) trial #(\d+)\] epoch 1/10").groups()
    pid = int(run.wait_for(rf"\[launcher\] {worker} started \(pid (\d+)\)").group(1))
    os.kill(pid, signal.SIGSTOP)  # paused, not dead: no epoch is reported, and the launcher sees no exit
    other = {"worker-0": "worker-1", "worker-1": "worker-0"}[worker]
    try:
        run.wait_for(rf"\[chief\] trial #{trial} \({worker}\) reported no epoch for 10s")
        run.wait_for(rf"\[{other} trial #{trial}\] epoch 1/10")  # the other worker runs it now
    finally:
        os.kill(pid, signal.SIGCONT)
    assert run.finish() == 0, run.output[-3000:]
    assert f"[chief] trial #{trial}: {worker}'s lease had expired: told to stop" in run.output
    assert f"[{worker} trial #{trial}] {worker}'s lease on trial #{trial} expired" in run.output
    client, parent, children = trial_runs(server, "late")
    check_each_trial_finished_once(client, parent, children, trials=2)
    again = [r for r in children if r.data.tags["trial_id"] == str(int(trial) - 1)]
    assert {r.info.status: r.data.tags["worker"] for r in again} == {"KILLED": worker, "FINISHED": other}
    killed = next(r for r in again if r.info.status == "KILLED")
    assert "another worker runs it now" in killed.data.tags["killed_because"]


def alive(pid: int) -> bool:
    """Running: neither gone nor a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def group(pgid: int) -> list[int]:
    """The live processes of a process group (a server's: the supervisor, `mlflow server`, uvicorn)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry))
    return pids


@pytest.mark.slow
def test_a_sweep_stopped_by_sigterm_then_its_launcher_killed_outright_resumes_without_duplicate_runs(tmp_path):
    """One sweep, three launches (one shared setup for both faults): SIGTERM ends every open run KILLED and
    exits 130; the resumed launch, SIGKILLed, takes its workers and server with it; the third resumes and
    runs each trial once."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)  # the launchers' servers come and go: read the SQLite file itself
    first = Launch(tmp_path, "orphans", uri=uri, trials=3, epochs=2)
    first.wait_for(r"\[worker-\d trial #\d\] epoch 1/2")
    first.proc.send_signal(signal.SIGTERM)
    assert first.finish() == 130, first.output[-3000:]
    experiment_id = client.get_experiment_by_name("orphans").experiment_id
    runs = client.search_runs([experiment_id])
    assert "RUNNING" not in {r.info.status for r in runs}  # the parent and the open trials ended KILLED
    assert {r.info.status for r in runs if r.data.tags.get("kind") in ("sweep", "trial")} == {"KILLED"}
    before = {r.info.run_id for r in runs}
    second = Launch(tmp_path, "orphans", uri=uri, trials=3, epochs=2)
    second.wait_for(r"\[worker-\d trial #\d\] epoch 1/2")
    assert "resuming sweep 'orphans'" in second.output
    server = int(second.wait_for(r"\[launcher\] tracking server http://\S+ \(pid (\d+)").group(1))
    workers = [int(p) for p in re.findall(r"\[launcher\] worker-\d started \(pid (\d+)\)", second.output)]
    assert len(workers) == 2 and all(map(alive, workers)) and len(group(server)) >= 3
    second.proc.kill()  # SIGKILL: the launcher runs no cleanup of its own
    assert second.finish() == -signal.SIGKILL
    deadline = time.monotonic() + 90
    while (any(map(alive, workers)) or group(server)) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in workers if alive(p)] + group(server)
    assert not left, f"still running after the launcher's SIGKILL: {left}\n{second.output[-3000:]}"
    assert second.output.count("the launcher is gone: this worker stops") == 2
    runs = client.search_runs([experiment_id])
    statuses: dict = {}
    for r in runs:  # the reopened parent, and the trial runs this launch opened
        if r.info.run_id not in before or r.data.tags.get("kind") == "sweep":
            statuses.setdefault(r.data.tags.get("kind"), set()).add(r.info.status)
    assert statuses["sweep"] == {"KILLED"} and "KILLED" in statuses["trial"], statuses
    assert "RUNNING" not in {r.info.status for r in runs}, statuses  # every interrupted run ended KILLED
    third = Launch(tmp_path, "orphans", uri=uri, trials=3, epochs=2)
    assert third.finish() == 0, third.output[-3000:]
    assert "resuming sweep 'orphans'" in third.output
    client, parent, children = trial_runs(uri, "orphans")
    try:
        check_each_trial_finished_once(client, parent, children, trials=3)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\nfirst launch:\n{first.output[-3000:]}\nsecond:\n{second.output[-4000:]}\n"
            f"third:\n{third.output[-6000:]}"
        ) from exc


# Issue 22, items 1 and 2: the launcher fits the baseline; 60 training texts a class make that fit take
# about 10 s here (360 texts, char n-grams), long enough to kill someone during it.
SLOW_BASELINE = ("data.synthetic.train_per_class=60",)
BASELINE_DONE = r"\[baseline\] TF-IDF \+ logistic regression: val_acc"


def statuses_by_kind(uri: str, name: str) -> dict[str, set[str]]:
    client = MlflowClient(uri)
    found: dict[str, set[str]] = {}
    for r in client.search_runs([client.get_experiment_by_name(name).experiment_id]):
        found.setdefault(r.data.tags.get("kind", "?"), set()).add(r.info.status)
    return found


@pytest.mark.slow
def test_a_launcher_killed_during_the_baseline_fit_leaves_no_run_running_without_a_resume(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = Launch(tmp_path, "faultC", *SLOW_BASELINE, uri=uri, trials=2, epochs=1)
    run.wait_for(r"\[baseline\] fitting TF-IDF")
    server = int(run.wait_for(r"\[launcher\] tracking server http://\S+ \(pid (\d+)").group(1))
    workers = [int(p) for p in re.findall(r"\[launcher\] worker-\d started \(pid (\d+)\)", run.output)]
    assert statuses_by_kind(uri, "faultC")["baseline"] == {"RUNNING"}  # killed during its fit
    run.proc.kill()
    killed_at = time.monotonic()
    assert run.finish() == -signal.SIGKILL
    assert not re.search(BASELINE_DONE, run.output), run.output[-3000:]
    found = statuses_by_kind(uri, "faultC")
    while any("RUNNING" in s for s in found.values()) and time.monotonic() < killed_at + 60:
        time.sleep(1)
        found = statuses_by_kind(uri, "faultC")
    assert not any("RUNNING" in s for s in found.values()), f"{found}\n{run.output[-3000:]}"
    assert found["baseline"] == {"KILLED"} and found["sweep"] == {"KILLED"}, found
    deadline = time.monotonic() + 90  # and nothing of it is left running
    while (any(map(alive, workers)) or group(server)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in workers if alive(p)] + group(server)


@pytest.mark.slow
def test_a_worker_killed_during_the_baseline_fit_is_restarted_at_once(tmp_path, server):
    run = Launch(tmp_path, "early", *SLOW_BASELINE, uri=server, trials=2, epochs=1)
    run.wait_for(r"\[baseline\] fitting TF-IDF")
    pid = int(run.wait_for(r"\[launcher\] worker-0 started \(pid (\d+)\)").group(1))
    os.kill(pid, signal.SIGKILL)
    run.wait_for(r"\[launcher\] worker-0 died \(exit code -9\).*restart 1/3")
    restarted = run.wait_for(r"\[launcher\] worker-0 started \(pid (?!" + str(pid) + r"\))(\d+)")
    lines = list(run.lines)
    restart_at = next(i for i, ln in enumerate(lines) if restarted.group(0) in ln)
    done_at = next((i for i, ln in enumerate(lines) if re.search(BASELINE_DONE, ln)), len(lines))
    assert restart_at < done_at, run.output[-3000:]  # restarted while the baseline was still being fitted
    assert run.finish() == 0, run.output[-3000:]
    client, parent, children = trial_runs(server, "early")
    check_each_trial_finished_once(client, parent, children, trials=2)
    assert statuses_by_kind(server, "early")["baseline"] == {"FINISHED"}


@pytest.mark.slow
def test_the_launchers_runs_are_ended_through_the_servers_rest_api_alone(tmp_path):
    """What a worker does when its launcher is SIGKILLed, with the standard library only (no mlflow import)."""
    from probsweep import lifeline, tracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    server, url = tracking.start_server(uri, tmp_path / "server.log")
    try:
        client = MlflowClient(url)
        exp = client.create_experiment("gone")
        parent = client.create_run(exp, tags={"kind": "sweep"}).info.run_id
        child = {"mlflow.parentRunId": parent}
        baseline = client.create_run(exp, tags={"kind": "baseline", **child}).info.run_id
        trial = client.create_run(exp, tags={"kind": "trial", "worker": "worker-0", **child}).info.run_id
        other = client.create_run(exp, tags={"kind": "baseline"}).info.run_id  # another sweep's
        assert lifeline.end_launcher_runs(url, parent) == 2
        status = {r: client.get_run(r).info.status for r in (parent, baseline, trial, other)}
        assert status == {parent: "KILLED", baseline: "KILLED", trial: "RUNNING", other: "RUNNING"}
        assert client.get_run(parent).info.end_time is not None
        assert lifeline.end_launcher_runs(url, parent) == 0  # nothing left to mark
    finally:
        tracking.stop_server(server)


def test_a_watched_parent_that_is_gone_calls_on_gone_and_a_live_one_does_not():
    from probsweep import lifeline

    gone, here = threading.Event(), threading.Event()
    lifeline.watch_parent(here.set, os.getppid(), poll=0.05)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that is not our parent: as if ours had died and we had been re-parented
    lifeline.watch_parent(gone.set, child.pid, poll=0.05)
    assert gone.wait(5) and not here.wait(0.5)
    assert lifeline.watch_parent(here.set, 0) is None and lifeline.tethered(["x"])[-3:] == [str(os.getpid()), "--", "x"]


def test_the_lifeline_supervisor_returns_its_commands_exit_code_and_refuses_a_bad_command_line():
    ok = subprocess.run(
        [sys.executable, "-m", "probsweep.lifeline", str(os.getpid()), "--", sys.executable, "-c", "exit(7)"],
        timeout=60,
    )
    assert ok.returncode == 7
    bad = subprocess.run([sys.executable, "-m", "probsweep.lifeline", "x"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("usage: python -m probsweep.lifeline PARENT_PID --")


def test_the_oracle_listens_on_loopback_unless_a_host_is_configured():
    import socket

    import keras_tuner as kt

    from conftest import compose_config
    from probsweep.config import ConfigError
    from probsweep.sweep.chief import serve
    from probsweep.sweep.tuner import make_oracle

    def addresses(port):  # local addresses listening on `port`, as the kernel lists them (hex)
        rows = [ln.split() for f in ("/proc/net/tcp", "/proc/net/tcp6") for ln in open(f).readlines()[1:]]
        return {r[1].rsplit(":", 1)[0] for r in rows if r[1].rsplit(":", 1)[1] == f"{port:04X}" and r[3] == "0A"}

    cfg = compose_config([])
    assert cfg.sweep.oracle_host == "127.0.0.1" and cfg.sweep.oracle_port == 0 and cfg.sweep.workers == 1
    oracle = make_oracle(cfg.tuner, "val_brier", "min", chief=True)
    server, _, port = serve(oracle, cfg.sweep.oracle_host, 0)
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        loopback = {"0100007F", "0000000000000000FFFF00000100007F"}  # 127.0.0.1 (byte-reversed), or IPv4-mapped
        assert addresses(port) and addresses(port) <= loopback  # not 0.0.0.0 or ::
        with pytest.raises(ConfigError, match="cannot listen on 127.0.0.1"):
            serve(oracle, "127.0.0.1", port)  # taken: one line, not a traceback
    finally:
        server.stop(None)
    server, _, port = serve(oracle, "0.0.0.0", 0)  # a configured host is used as given
    try:
        assert addresses(port) & {"00000000", "0" * 32}  # all interfaces (IPv4, or IPv6 dual-stack)
    finally:
        server.stop(None)
    assert isinstance(oracle, kt.oracles.RandomSearchOracle)


def chief_oracle(tmp_path, trials):
    from omegaconf import OmegaConf

    from conftest import compose_config
    from probsweep.sweep import space as search
    from probsweep.sweep.tuner import make_oracle

    cfg = compose_config(["search=smoke", f"tuner.max_trials={trials}"])
    oracle = make_oracle(cfg.tuner, "val_brier", "min", chief=True)
    oracle.announce = lambda line: None
    oracle._set_project_dir(str(tmp_path), "chief")
    hp = oracle.get_space()
    search.declare(hp, search.parse(OmegaConf.create(cfg.search.space)))
    oracle.update_space(hp)
    return oracle


def complete(oracle, trial, score):
    from keras_tuner.src.engine.trial import TrialStatus

    oracle.update_trial(trial.trial_id, {"val_brier": score})
    trial.status = TrialStatus.COMPLETED
    oracle.end_trial(trial)


def test_an_expired_lease_requeues_the_trial_once_and_a_late_result_is_ignored(tmp_path):
    from keras_tuner.src.engine.trial import TrialStatus

    from probsweep.sweep.chief import lease_report

    oracle = chief_oracle(tmp_path, trials=2)
    a = oracle.create_trial("w-a")
    b = oracle.create_trial("w-b")
    time.sleep(0.05)
    report = lease_report("w-b", 1)
    oracle.update_trial(b.trial_id, report, step=1)  # b reports an epoch, a does not
    assert oracle.expire_leases(0.04) == [a.trial_id]  # only a's lease expired
    assert not any(oracle.trials[b.trial_id].metrics.exists(k) for k in report)  # a report is never a metric
    assert oracle.create_trial("w-b").trial_id == b.trial_id  # b still holds its own trial
    complete(oracle, b, 0.3)
    again = oracle.create_trial("w-b")
    assert again.trial_id == a.trial_id and again.status == TrialStatus.RUNNING  # from Keras Tuner's retry queue
    assert oracle.create_trial("w-c").status == TrialStatus.IDLE  # budget spent, but a trial is out: wait
    complete(oracle, again, 0.2)
    complete(oracle, a, 0.9)  # the first holder comes back late: ignored, the score stays
    assert oracle.trials[a.trial_id].score == 0.2 and oracle.end_order.count(a.trial_id) == 1
    assert oracle.create_trial("w-c").status == TrialStatus.STOPPED
    assert oracle.create_trial("w-b").status == TrialStatus.STOPPED and oracle.finished()


def test_a_worker_late_after_its_lease_expired_keeps_its_trial_if_free_and_is_stopped_if_taken(tmp_path):
    from keras_tuner.src.engine.trial import TrialStatus

    from probsweep.sweep.chief import lease_report

    oracle = chief_oracle(tmp_path, trials=3)
    a, b = oracle.create_trial("w-a"), oracle.create_trial("w-b")
    time.sleep(0.05)
    assert sorted(oracle.expire_leases(0.04)) == sorted([a.trial_id, b.trial_id])
    # a reports before anyone took its trial from the queue: it keeps it, and nobody else gets it
    assert oracle.update_trial(a.trial_id, lease_report("w-a", 2), step=2).status == TrialStatus.RUNNING
    assert oracle.ongoing_trials["w-a"].trial_id == a.trial_id and a.trial_id not in oracle._retry_queue
    c = oracle.create_trial("w-c")
    assert c.trial_id == b.trial_id  # the trial still in the queue goes to c
    before = oracle.seen[b.trial_id]
    # b reports late: c runs its trial now, so b is told to stop, and c's lease is not renewed by b
    assert oracle.update_trial(b.trial_id, lease_report("w-b", 2), step=2).status == TrialStatus.STOPPED
    assert oracle.seen[b.trial_id] == before and oracle.ongoing_trials["w-c"].trial_id == b.trial_id
    assert oracle.update_trial(b.trial_id, lease_report("w-c", 1), step=1).status == TrialStatus.RUNNING
    assert oracle.seen[b.trial_id] > before
    complete(oracle, a, 0.5)
    complete(oracle, c, 0.4)
    assert oracle.trials[b.trial_id].score == 0.4 and oracle.trials[a.trial_id].score == 0.5


def test_a_stopped_answer_ends_the_attempt_killed_and_an_unreachable_chief_does_not(tmp_path, monkeypatch, capsys):
    import grpc
    from keras_tuner.src.engine.trial import Trial, TrialStatus
    from mlflow.tracking import MlflowClient

    from probsweep import tracking
    from probsweep.sweep.tuner import EpochReport

    class Chief:
        def __init__(self, status):
            self.status, self.calls = status, []

        def update_trial(self, trial_id, metrics, step=0):
            self.calls.append((trial_id, metrics, step))
            return Trial(None, trial_id=trial_id, status=self.status)

    running = Chief(TrialStatus.RUNNING)
    EpochReport(running, "3", "worker-1").on_epoch_end(1)
    assert running.calls == [("3", {"probsweep/epoch@worker-1": 2.0}, 2)]

    class Gone(grpc.RpcError):  # what a blocking call raises when the chief dies during it
        def code(self):
            return grpc.StatusCode.UNAVAILABLE

    class DeadChief:
        def update_trial(self, trial_id, metrics, step=0):
            raise Gone()

    EpochReport(DeadChief(), "3", "worker-1").on_epoch_end(2)  # a missed renewal, not a failed trial
    assert "the chief did not take the epoch's report (UNAVAILABLE): training goes on" in capsys.readouterr().out
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = tracking.setup(None, "late")
    with pytest.raises(tracking.Stopped, match="worker-1's lease on trial #4 expired"):
        with tracking.run(experiment, name="trial-3", tags={"kind": "trial"}) as run_id:
            EpochReport(Chief(TrialStatus.STOPPED), "3", "worker-1").on_epoch_end(2)
    run = MlflowClient().get_run(run_id)
    assert run.info.status == "KILLED" and "another worker runs it now" in run.data.tags["killed_because"]


def test_an_idle_worker_waits_between_asks_instead_of_spinning():
    from keras_tuner.src.engine.trial import Trial, TrialStatus

    from probsweep.sweep.tuner import patient

    asks = []

    def create_trial(tuner_id):
        asks.append(time.monotonic())
        return Trial(None, trial_id="0", status=TrialStatus.IDLE if len(asks) < 5 else TrialStatus.RUNNING)

    t0 = time.monotonic()
    assert patient(create_trial)("w").status == TrialStatus.RUNNING
    assert len(asks) == 5 and time.monotonic() - t0 >= 0.2 + 0.4 + 0.8 + 1.6  # backs off, up to 5 s per wait
