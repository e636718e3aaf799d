"""Memory over a long sweep: RSS after each trial of a 20-trial quick sweep, with
`train.clear_session` on and off, each in its own process.

    .venv/bin/python benchmarks/sweep_memory.py             # 20 trials, on then off (~15-20 min idle)
    .venv/bin/python benchmarks/sweep_memory.py -n 8        # fewer trials
    .venv/bin/python benchmarks/sweep_memory.py --only on   # one setting

The quick search space (conf/search/quick.yaml: three heads) with its epochs cut to 1-2 and two
dropouts added, so that 20 random-search draws are 20 distinct trials, and short ones: memory
grows per trial (per model built), not per epoch. Printed: RSS (VmRSS) after each trial, its growth
from trial 2 to the last trial, and the process's peak RSS. Target (issue 11): growth from trial 2
to trial 20 under 100 MB with the switches on.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, n: int) -> None:
    """One sweep in this process; prints a JSON line with RSS after each trial."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    root = tempfile.mkdtemp()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root}/mlflow.db"
    import contextlib
    import io
    import warnings

    from conftest import compose_config
    from probsweep.config import register
    from probsweep.sweep import tuner as tuner_module
    from probsweep.sweep.run import run_sweep

    register()
    warnings.simplefilter("ignore")
    after = []
    original = tuner_module.SweepTuner.on_trial_end

    def on_trial_end(self, trial):
        original(self, trial)
        after.append(rss_mb())
        print(f"  [{mode}] trial {len(after)}: RSS {after[-1]:.0f} MB", file=sys.stderr, flush=True)

    tuner_module.SweepTuner.on_trial_end = on_trial_end
    cfg = compose_config(
        [
            "search=quick",
            f"tuner.max_trials={n}",
            "train.verbose=0",
            f"sweep.name=memory-{mode}",
            f"sweep.dir={root}/sweeps",
            *(
                []
                if mode == "on"
                else ["train.clear_session=false", "train.single_validation_pass=false", "train.steps_per_execution=1"]
            ),
        ]
    )
    from omegaconf import OmegaConf

    space = OmegaConf.to_container(cfg.search.space)
    space["train.epochs"] = {"int": [1, 2]}
    space["model.dropout"] = {"choice": [0.1, 0.2, 0.3, 0.4]}
    cfg.search.space = space
    with contextlib.redirect_stdout(io.StringIO()):
        run_sweep(cfg)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "after": after, "peak": peak}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--trials", type=int, default=20)
    parser.add_argument("--only", choices=["on", "off"])
    parser.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.trials)
    print(f"{os.cpu_count()} cores; quick sweep of {args.trials} trials (epochs 1-2), RSS after each trial", flush=True)
    for mode in [args.only] if args.only else ["on", "off"]:
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode, "-n", str(args.trials)],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        ).stdout
        res = json.loads(out.strip().splitlines()[-1])
        after = res["after"]
        growth = after[-1] - after[1] if len(after) >= 2 else float("nan")
        print(f"clear_session {mode}: RSS after each trial (MB): {' '.join(f'{x:.0f}' for x in after)}")
        print(
            f"clear_session {mode}: growth trial 2 -> {len(after)}: {growth:+.0f} MB "
            f"({growth / max(1, len(after) - 2):+.1f} MB per trial), peak RSS {res['peak']:.0f} MB"
            f"{'   (target < 100 MB)' if mode == 'on' else ''}",
            flush=True,
        )


if __name__ == "__main__":
    main()
