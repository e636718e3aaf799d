"""kill -9 a tiny sweep at random points, rerun the same command each time, and count the trials lost or
duplicated (both must be 0).

    .venv/bin/python benchmarks/kill_resume.py [--sweeps 3] [--kills 4] [--trials 3] [--seed 0]

Each sweep (random tuner, tiny data, `--trials` trials of 2 epochs, no XLA, a fresh SQLite store) is
started, killed at a random point, started again, ..., `--kills` times, then run to the end. The kills
aim at four phases in turn (in a random order, each with a random delay inside it; the phase lengths
are measured from the earlier processes' output):

  data     after start-up, before the data set is ready (imports, data generation, TextVectorization)
  compile  after a trial printed its config, before its first epoch ended (model build, Keras tracing)
  epoch    after epoch 1 of a trial, before epoch 2 ended
  between  after a trial's last epoch, up to 1 s past "Trial N Complete" (analysis, artifacts, bookkeeping)

Where the kill actually landed is read from the last line the process printed, and that is what is
counted. After each sweep: per trial id exactly one FINISHED run (none lost, none duplicated), one
FINISHED parent, no run left RUNNING.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from conftest import TINY as TESTS_TINY  # noqa: E402

# The tests' tiny set with 60 training texts per class instead of 12: epochs of ~20 batches, long enough
# that a kill aimed inside one lands there (the later override wins).
TINY = [*TESTS_TINY, "data.synthetic.train_per_class=60"]
SEARCH = """objective: val_brier
direction: min
space:
  head:
    choice:
      softmax+sparse: {model.activation: softmax, model.loss: sparse_categorical_crossentropy}
      sigmoid+binary: {model.activation: sigmoid, model.loss: binary_crossentropy}
  model.dropout: {choice: [0.1, 0.2, 0.3]}
  train.epochs: {choice: [2]}
"""
PHASES = ("data", "compile", "epoch", "between")


class Watched:
    """A sweep process whose output lines are timestamped as they arrive."""

    def __init__(self, cmd, env):
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines, self.lock = [], threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append((time.monotonic() - self.t0, line.rstrip("\n")))

    def wait_for(self, pattern, after=0):
        """Index of the first line from `after` on that matches, or None once the process has ended."""
        rx = re.compile(pattern)
        while True:
            with self.lock:
                for i in range(after, len(self.lines)):
                    if rx.search(self.lines[i][1]):
                        return i
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the reader drain
                with self.lock:
                    hits = [i for i in range(after, len(self.lines)) if rx.search(self.lines[i][1])]
                return hits[0] if hits else None
            time.sleep(0.02)


def landed(lines) -> str:
    """Which phase the process was in, from the last meaningful line it printed."""
    for _, line in reversed(lines):
        if line.startswith("data: ") or "Search: Running Trial" in line or "Hyperparameter" in line:
            return "compile"  # data ready, no epoch yet
        m = re.search(r"\] epoch (\d+)/(\d+)", line)
        if m:
            return "epoch" if m.group(1) != m.group(2) else "between"
        if re.match(r"\[trial #\d+\] head=", line) or "finished already" in line:
            return "compile"
        if "Trial" in line and "Complete" in line or line.startswith("Best val_") or line.startswith("Total elapsed"):
            return "between"
    return "data"


def one_sweep(workdir: Path, name: str, kills: int, trials: int, rng: random.Random, timing: dict) -> dict:
    conf = workdir / "conf" / "search"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "killable.yaml").write_text(SEARCH)
    store = workdir / name / "mlruns"
    store.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{store / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [
        sys.executable,
        "-m",
        "probsweep.cli.sweep",
        f"--config-dir={workdir / 'conf'}",
        *TINY,
        "search=killable",
        "tuner=random",
        f"tuner.max_trials={trials}",
        "tuner.seed=3",
        f"sweep.dir={workdir / name / 'sweeps'}",
        f"sweep.name={name}",
        "search.baseline=false",  # trials only: the figures were first recorded before the baseline existed
    ]
    phases = Counter()
    aims = [p for _ in range(-(-kills // len(PHASES))) for p in rng.sample(PHASES, len(PHASES))][:kills]
    for aim in aims:  # every phase in turn, in a random order, at a random point inside it
        w = Watched(cmd, env)
        if aim == "data":
            w.wait_for(r"oneDNN|^data: |Search: Running")
            time.sleep(rng.uniform(0, timing["data"]))
        elif aim == "compile":
            i = w.wait_for(r"\[trial #\d+\] head=")
            if i is not None:
                time.sleep(rng.uniform(0, timing["compile"]))
        elif aim == "epoch":
            i = w.wait_for(r"\] epoch 1/2")
            if i is not None:
                time.sleep(rng.uniform(0, 0.7 * timing["epoch"]))
        else:
            i = w.wait_for(r"\] epoch 2/2")
            if i is not None:
                time.sleep(rng.uniform(0, timing["between"] + 1.0))
        if w.proc.poll() is not None:  # the sweep ended before the kill: it is complete
            break
        w.proc.send_signal(signal.SIGKILL)
        w.proc.wait()
        time.sleep(0.3)
        with w.lock:
            where = landed(w.lines)
            learn(timing, w.lines)
        phases[where] += 1
        print(f"  {name}: aimed at {aim:8s} killed in {where:8s} after {time.monotonic() - w.t0:5.1f} s", flush=True)
    final = Watched(cmd, env)
    final.proc.wait()
    time.sleep(0.3)
    ok = final.proc.returncode == 0
    with final.lock:
        learn(timing, final.lines)
        if not ok:
            print("\n".join(line for _, line in final.lines[-30:]))
    return {"phases": phases, "ok": ok, **count(uri, name, trials)}


def learn(timing: dict, lines) -> None:
    """Phase lengths from a process's timestamped lines (kept as the latest seen)."""

    def first(pattern, after=0.0):
        return next((t for t, line in lines if t >= after and re.search(pattern, line)), None)

    start, data = first(r"oneDNN"), first(r"^data: ")
    if start is not None and data is not None:
        timing["data"] = max(0.5, data - start)
    head = first(r"\[trial #\d+\] head=")
    e1 = first(r"\] epoch 1/2", head or 0)
    if head is not None and e1 is not None:
        timing["compile"] = max(0.5, e1 - head)
        e2 = first(r"\] epoch 2/2", e1)
        if e2 is not None:
            timing["epoch"] = max(0.2, e2 - e1)
            done = first(r"Trial \d+ Complete", e2)
            if done is not None:
                timing["between"] = max(0.2, done - e2)


def count(uri: str, name: str, trials: int) -> dict:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(name).experiment_id])
    by_trial = defaultdict(list)
    for r in runs:
        if r.data.tags.get("kind") == "trial":
            by_trial[r.data.tags["trial_id"]].append(r.info.status)
    parents = [r.info.status for r in runs if r.data.tags.get("kind") == "sweep"]
    finished = {t: v.count("FINISHED") for t, v in by_trial.items()}
    return {
        "lost": sum(1 for t in map(str, range(trials)) if finished.get(t, 0) == 0),
        "duplicated": sum(n - 1 for n in finished.values() if n > 1),
        "killed_runs": sum(v.count("KILLED") for v in by_trial.values()),
        "running_left": sum(r.info.status == "RUNNING" for r in runs),
        "parents": parents,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweeps", type=int, default=3)
    ap.add_argument("--kills", type=int, default=4, help="kills per sweep before it is let finish")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    timing = {"data": 5.0, "compile": 5.0, "epoch": 1.0, "between": 2.0}  # refined from each process's output
    total, lost, dup, killed, left, bad = Counter(), 0, 0, 0, 0, 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for s in range(args.sweeps):
            out = one_sweep(Path(tmp), f"kr-{s}", args.kills, args.trials, rng, timing)
            total.update(out["phases"])
            lost, dup, killed, left = (
                lost + out["lost"],
                dup + out["duplicated"],
                killed + out["killed_runs"],
                left + out["running_left"],
            )
            bad += (not out["ok"]) + (out["parents"] != ["FINISHED"])
            print(
                f"sweep kr-{s}: kills {dict(out['phases'])}, lost {out['lost']}, duplicated {out['duplicated']}, "
                f"KILLED runs {out['killed_runs']}, left RUNNING {out['running_left']}, parents {out['parents']}, "
                f"final run {'ok' if out['ok'] else 'FAILED'}",
                flush=True,
            )
    print(
        f"\n{sum(total.values())} kills ({', '.join(f'{p} {total[p]}' for p in PHASES)}) over {args.sweeps} sweeps "
        f"of {args.trials} trials: trials lost {lost}, duplicated {dup}; runs left RUNNING {left}; "
        f"sweeps not finished cleanly {bad}; {killed} killed attempts marked KILLED "
        f"({time.monotonic() - started:.0f} s, {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
