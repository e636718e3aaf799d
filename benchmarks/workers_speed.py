"""Trials per hour with one process (WORKERS=1) against a chief and two workers (WORKERS=2), on the
same trials, as a ratio within one run.

    .venv/bin/python benchmarks/workers_speed.py [--trials 4] [--epochs 2] [--tiny]

Runs `python -m probsweep.cli.sweep` both ways on the seed's model and the embedded data (`--tiny`:
the test suite's tiny model and data), same tuner seed, so both draw the same trials, each into a
fresh SQLite store. The wall time is the whole command: TensorFlow's start, the data, the MLflow
server (WORKERS=2 only), XLA compilation, training and the report.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))


def run(workers: int, trials: int, epochs: int, tiny: bool, tmp: str) -> float:
    from conftest import TINY

    args = [
        *(TINY if tiny else []),
        "search=smoke",
        f"tuner.max_trials={trials}",
        f"train.epochs={epochs}",
        f"sweep.workers={workers}",
        f"sweep.name=speed-{workers}",
        f"sweep.dir={tmp}/sweeps",
    ]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/w{workers}/mlflow.db", "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "probsweep.cli.sweep", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    model = "tiny" if args.tiny else "seed"
    print(f"{args.trials} trials of {args.epochs} epochs, {model} model, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        walls = {w: run(w, args.trials, args.epochs, args.tiny, tmp) for w in (1, 2)}
    for w, wall in walls.items():
        print(f"WORKERS={w}: {wall:6.1f} s, {args.trials / wall * 3600:6.1f} trials/hour")
    print(f"ratio WORKERS=2 / WORKERS=1 trials per hour: {walls[1] / walls[2]:.2f}")


if __name__ == "__main__":
    main()
