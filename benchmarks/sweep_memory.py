"""Memory over a long sweep: the resident memory after each trial of a 20-trial sweep, three ways.

    .venv/bin/python benchmarks/sweep_memory.py                  # 20 trials per mode (~20 min idle on 2 cores)
    .venv/bin/python benchmarks/sweep_memory.py -n 6             # fewer trials
    .venv/bin/python benchmarks/sweep_memory.py --only workers   # one mode

Each mode is `python -m probsweep.cli.sweep` on the embedded data with the seed's model, `search=smoke`
(a continuous dropout: every draw is a new model, hence new compiled functions) and 1 epoch per
trial, in a throwaway MLflow store:
- `on`: one process, the speed switches on (`train.clear_session`: Keras's state freed before each trial);
- `off`: one process, the switches off (the previous approach);
- `workers`: `sweep.trials_per_worker=1`, each trial in a fresh worker process started by the launcher.

Every trial's run logs `process_rss_mb` (the resident memory of the process that ran it, after the
trial) and `process_peak_rss_mb`; they are read back from MLflow. Printed per mode: the RSS after each
trial, its growth from trial 2 to the last, the largest peak of a trial's process and the wall time.
Target (issue 11): growth from trial 2 to trial 20 under 100 MB.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from sweep_speed import OFF, run_sweep  # this folder is on sys.path: the script's own

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = {"on": [], "off": OFF, "workers": ["sweep.trials_per_worker=1"]}


def run_mode(mode: str, trials: int) -> dict:
    """One sweep in a child process (sweep_speed's runner); the RSS after each trial from its MLflow runs."""
    smoke = ["search=smoke", f"tuner.max_trials={trials}", "train.epochs=1", "search.baseline=false"]
    res = run_sweep(f"memory-{mode}", [*smoke, *MODES[mode]], tempfile.mkdtemp())
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{res['root']}/mlflow.db")
    exp = client.get_experiment_by_name(res["name"])
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("kind") == "trial"]
    runs.sort(key=lambda r: int(r.data.tags["trial_id"]))
    after = [r.data.metrics["process_rss_mb"] for r in runs if r.info.status == "FINISHED"]
    peak = max(r.data.metrics["process_peak_rss_mb"] for r in runs)
    return {"after": after, "trial_peak": peak, "seconds": res["seconds"]}


def plot(after: dict[str, list[float]], path: str) -> None:
    """RSS after each trial, one line per mode, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {
        "on": "one process, switches on",
        "off": "one process, switches off",
        "workers": "sweep.trials_per_worker=1",
    }
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for mode, values in after.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=labels.get(mode, mode))
    ax.set(xlabel="trial", ylabel="RSS after the trial (MB)", title="Memory over a sweep", ylim=(0, None))
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--trials", type=int, default=20)
    parser.add_argument("--only", choices=list(MODES))
    parser.add_argument("--png", default=os.path.join(tempfile.gettempdir(), "sweep_memory.png"))
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(HERE, "..", "src"))
    print(
        f"{os.cpu_count()} cores; {args.trials}-trial sweeps (search=smoke, 1 epoch each, the seed's model on the "
        "embedded data); RSS of the trial's process after each trial",
        flush=True,
    )
    curves = {}
    for mode in [args.only] if args.only else list(MODES):
        res = run_mode(mode, args.trials)
        after = curves[mode] = res["after"]
        growth = after[-1] - after[1] if len(after) >= 2 else float("nan")
        print(f"{mode:8s} RSS after each trial (MB): {' '.join(f'{x:.0f}' for x in after)}")
        print(
            f"{mode:8s} growth trial 2 -> {len(after)}: {growth:+.0f} MB ({growth / max(1, len(after) - 2):+.1f} MB "
            f"per trial); largest trial-process peak {res['trial_peak']:.0f} MB; {res['seconds']:.0f} s for the sweep"
            f"{'   (target < 100 MB)' if len(after) >= 20 else ''}",
            flush=True,
        )

    plot(curves, args.png)


if __name__ == "__main__":
    main()
