"""Real processes, real signals: kill -9 mid-trial then resume (random, Bayesian, Hyperband), SIGTERM to a
training, two sweeps at once on one SQLite store, and a resumed sweep whose search was edited.

Each sweep runs as `python -m probsweep.cli.sweep` on the tiny data set (2 epochs a trial, no XLA).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import defaultdict

import pytest
from mlflow.tracking import MlflowClient

from conftest import TINY, compose_config
from probsweep.cli.sweep import sweep
from probsweep.config import ConfigError

pytestmark = pytest.mark.slow

# Three heads, every trial 2 epochs long. Hyperband sets the epochs itself: with max_epochs=2 and
# factor=3 it has one bracket of two trials of 2 epochs (factor=2 would run five trials).
HEADS = """objective: val_brier
direction: min
space:
  head:
    choice:
      seed-mismatch-B: {model.activation: sigmoid, model.loss: sparse_categorical_crossentropy, model.mismatch_path: B}
      softmax+sparse: {model.activation: softmax, model.loss: sparse_categorical_crossentropy}
      sigmoid+binary: {model.activation: sigmoid, model.loss: binary_crossentropy}
"""
SEARCH = {"two": HEADS + "  train.epochs: {choice: [2]}\n", "heads": HEADS}
TUNER = {
    "random": ["search=two", "tuner.max_trials=2"],
    "bayesian": ["search=two", "tuner.max_trials=2"],
    "hyperband": ["search=heads", "tuner.max_epochs=2", "tuner.factor=3"],
}
EPOCH = re.compile(r"epoch (\d+)/(\d+)")


def search_dir(store):
    """A config dir holding the search spaces above (Hydra adds it to its search path)."""
    folder = store["tmp"] / "conf" / "search"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in SEARCH.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder.parent


def command(store, name, kind):
    return [
        sys.executable,
        "-m",
        "probsweep.cli.sweep",
        f"--config-dir={search_dir(store)}",
        *TINY,
        f"sweep.dir={store['sweeps']}",
        f"sweep.name={name}",
        f"tuner={kind}",
        "search.baseline=false",  # the baseline's own resume is tested in test_sweep.py
        *TUNER[kind],
    ]


def start(cmd, store):
    env = {**os.environ, "MLFLOW_TRACKING_URI": store["uri"], "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run_to_end(cmd, store, timeout=300):
    proc = start(cmd, store)
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def kill_mid_trial(cmd, store):
    """Start the sweep; kill -9 it when a trial after the first has logged epoch 1 of 2."""
    proc, seen, finished_one = start(cmd, store), [], False
    try:
        for line in proc.stdout:
            seen.append(line)
            m = EPOCH.search(line)
            if m and m.group(1) == m.group(2):
                finished_one = True  # a training ended: the next epoch 1/2 is mid-trial
            elif m and finished_one and m.groups() == ("1", "2"):
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, "".join(seen)[-3000:]
    return line


def trial_statuses(uri, name):
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(name).experiment_id])
    by_trial = defaultdict(list)
    for r in runs:
        if r.data.tags.get("kind") == "trial":
            by_trial[r.data.tags["trial_id"]].append(r.info.status)
    parents = [r.info.status for r in runs if r.data.tags.get("kind") == "sweep"]
    return parents, {k: sorted(v) for k, v in by_trial.items()}


def kill_then_resume(store, kind):
    cmd = command(store, f"kill-{kind}", kind)
    killed_at = kill_mid_trial(cmd, store)
    return killed_at, run_to_end(cmd, store)


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """The three kill -9 and resume cycles, started together, each on its own store: the sweeps are
    single-process, so on 2 cores they take about half the time one after the other does. Each test
    below waits for its own."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(len(TUNER))
    jobs = {}
    for kind in TUNER:
        tmp = tmp_path_factory.mktemp(f"kill-{kind}")
        store = {"uri": f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}", "sweeps": str(tmp / "sweeps"), "tmp": tmp}
        jobs[kind] = (store, pool.submit(kill_then_resume, store, kind))
    yield jobs
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("kind", list(TUNER))
def test_kill_9_mid_trial_then_resume(resumed, kind, monkeypatch):
    store, job = resumed[kind]
    killed_at, out = job.result()
    assert "resuming sweep" in out
    parents, by_trial = trial_statuses(store["uri"], f"kill-{kind}")
    assert parents == ["FINISHED"]
    assert all(v.count("FINISHED") == 1 for v in by_trial.values()), by_trial  # none lost, none duplicated
    killed = [t for t, v in by_trial.items() if "KILLED" in v]
    assert len(killed) == 1 and by_trial[killed[0]] == ["FINISHED", "KILLED"], (killed_at, by_trial)
    assert len(by_trial) == 2  # trial ids: "0", "1" (Hyperband: "0000", "0001")
    if kind == "random":  # the same sweep with an edited search refuses to resume, before loading anything
        monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
        base = [*TINY, f"sweep.dir={store['sweeps']}", f"sweep.name=kill-{kind}", "tuner=random", "tuner.max_trials=2"]
        with pytest.raises(ConfigError, match=r"started with search\.space\.train\.epochs=.*sweep\.restart=true"):
            sweep(compose_config([*base, "search=quick"]))  # the same heads, epochs [1, 5]
        edited = compose_config([*base, "search=quick", "search.objective=val_ece"])
        edited.search.space["train.epochs"] = {"choice": [2]}
        with pytest.raises(
            ConfigError, match=r"started with search\.objective=\"val_brier\" and is now given \"val_ece\""
        ):
            sweep(edited)


def test_sigterm_to_a_training_ends_its_run_killed_with_exit_130(store):
    cmd = [sys.executable, "-m", "probsweep.cli.train", *TINY, "train.epochs=50"]
    proc = start(cmd, store)
    try:
        for line in proc.stdout:
            if EPOCH.search(line):
                proc.send_signal(signal.SIGTERM)
                break
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "KILLED" in out and "Traceback" not in out
    client = MlflowClient(store["uri"])
    runs = client.search_runs([client.get_experiment_by_name("probsweep-train").experiment_id])
    assert [r.info.status for r in runs] == ["KILLED"]


def test_two_sweeps_at_once_on_one_sqlite_store(store):
    """On a store that does not exist yet: both processes create its tables at the same moment."""
    procs = [start(command(store, f"both-{i}", "random")[:-1] + ["tuner.max_trials=1"], store) for i in (1, 2)]
    outs = [p.communicate(timeout=400)[0] for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-3000:]
        assert "Traceback" not in out and "database is locked" not in out
    for i in (1, 2):
        parents, by_trial = trial_statuses(store["uri"], f"both-{i}")
        assert parents == ["FINISHED"] and by_trial == {"0": ["FINISHED"]}


def test_a_trial_finished_in_mlflow_but_not_saved_by_the_tuner_is_not_trained_again(store, monkeypatch, capsys):
    """The window between a trial's run ending FINISHED and Keras Tuner saving the trial."""
    from probsweep.sweep.tuner import SweepTuner

    cfg = compose_config(
        [
            *TINY,
            f"sweep.dir={store['sweeps']}",
            "sweep.name=unsaved",
            "tuner=random",
            "tuner.max_trials=1",
            "search=quick",
        ]
    )
    cfg.search.space["train.epochs"] = {"choice": [1]}
    real = SweepTuner.on_trial_end

    def killed_before_saving(self, trial):
        raise KeyboardInterrupt

    monkeypatch.setattr(SweepTuner, "on_trial_end", killed_before_saving)
    with pytest.raises(KeyboardInterrupt):
        sweep(cfg)
    monkeypatch.setattr(SweepTuner, "on_trial_end", real)
    capsys.readouterr()
    sweep(cfg)
    assert "[trial #1] finished already" in capsys.readouterr().out
    parents, by_trial = trial_statuses(store["uri"], "unsaved")
    assert parents == ["FINISHED"] and by_trial == {"0": ["FINISHED"]}
