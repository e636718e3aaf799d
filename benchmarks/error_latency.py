"""How fast does a bad command line answer? Wall time from start to exit of `probsweep ...` for the
mistakes issue 18 lists, each the median of --repeats runs, with its exit code and its one line.

Target: exit code 2 and one line in under 3 s on an idle machine, none of TensorFlow, Keras or MLflow
imported (tests/test_cli.py checks the imports; this script only times).

    .venv/bin/python benchmarks/error_latency.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 3.0
CASES = [
    ("train", "+model.activaton=softmax"),
    ("train", "train.epochs=0"),
    ("train", "data.max_len=-5"),
    ("train", "model.dropout=2"),
    ("best", "nosuch"),
    ("train", "data=file", "data.path=/no/such/dir/data.csv"),
]


def time_one(args: tuple[str, ...], env: dict[str, str], cwd: str) -> tuple[float, int, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "probsweep", *args], env=env, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, done.returncode, done.stderr.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": str(src)}
    worst = 0.0
    print(f"{'command':<58}{'median s':>9}{'exit':>6}  first line")
    with tempfile.TemporaryDirectory() as cwd:  # nothing to find in the working directory
        for case in CASES:
            runs = [time_one(case, env, cwd) for _ in range(args.repeats)]
            median = statistics.median(t for t, _, _ in runs)
            worst = max(worst, median)
            _, code, err = runs[-1]
            line = err.splitlines()[0] if err else ""
            print(f"{'probsweep ' + ' '.join(case):<58}{median:>9.2f}{code:>6}  {line[:110]}")
    verdict = "met" if worst < TARGET_S else "MISSED"
    print(f"slowest median {worst:.2f} s (target < {TARGET_S:g} s on an idle machine): {verdict}")


if __name__ == "__main__":
    main()
