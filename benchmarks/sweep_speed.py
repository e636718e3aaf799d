"""The default sweep with the speed switches on and off, in one benchmark run: wall time, peak RSS,
the first-epoch overhead of every trial after the first, and whether the trial tables agree.

    .venv/bin/python benchmarks/sweep_speed.py              # the default sweep, on then off (~12-16 min idle)
    .venv/bin/python benchmarks/sweep_speed.py -r 2         # on, off, off, on: drift hits both alike
    .venv/bin/python benchmarks/sweep_speed.py -t 3         # only the first 3 trials (tuner.max_trials=3)
    .venv/bin/python benchmarks/sweep_speed.py --off train.overlap_compile=false   # one switch alone

Each sweep is `python -m probsweep.cli.sweep` (the `make sweep` command) in its own process, on the
default config, with a throwaway MLflow store and sweeps folder; "off" adds the tests'
SPEED_SWITCHES_OFF (tests/conftest.py: every `train.*` speed switch at its previous value), the
previous approach, or the overrides given with --off (one switch off, the others on). Peak RSS is
the sweep process's own (wait4's ru_maxrss). First-epoch overhead: epoch 1's time minus the median
of the trial's later epochs (trials of 2 or more epochs, from the second trial on: the first trial
also pays TensorFlow's start-up). Targets (issue 11): on <= 240 s, overhead <= 5 s; the trial
tables equal except timings (every logged metric within 1e-4).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "src"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from conftest import SPEED_SWITCHES_OFF as OFF  # noqa: E402  (one list, also the tests')

TIMING = ("epoch_seconds", "process_rss_mb", "process_peak_rss_mb")  # differ between runs by nature
SWITCHES = (*(o.split("=")[0] for o in OFF), "sweep.")


def run_sweep(name: str, overrides: list, root: str) -> dict:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": os.path.join(ROOT, "src"),
    }
    cmd = [
        sys.executable,
        "-m",
        "probsweep.cli.sweep",
        f"sweep.name={name}",
        f"sweep.dir={root}/sweeps",
        "train.verbose=0",
        *overrides,
    ]
    log = open(os.path.join(root, f"{name}.log"), "w")
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"sweep {name} failed (status {status}): see {log.name}")
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "root": root, "name": name}


def trials(result: dict):
    """trial id -> (final metrics without timings, per-epoch seconds) from the sweep's MLflow runs."""
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{result['root']}/mlflow.db"
    from probsweep import tracking

    experiment = tracking.setup(None, result["name"])
    parent = open(os.path.join(result["root"], "sweeps", result["name"], "parent_run_id")).read().strip()
    runs = tracking.child_runs(experiment, parent)
    out = {}
    trial_runs = runs[(runs["status"] == "FINISHED") & (runs["tags.kind"] == "trial")]  # not the baseline
    for _, row in trial_runs.iterrows():
        metrics = {k[8:]: v for k, v in row.items() if k.startswith("metrics.") and k[8:] not in TIMING}
        params = {k[7:]: v for k, v in row.items() if k.startswith("params.") and not k[7:].startswith(SWITCHES)}
        history = tracking.read_artifact(row["run_id"], "history.csv")
        out[int(row["tags.trial_id"])] = (params, metrics, list(history["epoch_seconds"]))
    return out


def overhead_line(mode: str, runs: list) -> str:
    """First-epoch overhead of trials 2+ of 2+ epochs: per trial, the median over the repeats."""
    over = []
    for tid in sorted(runs[0]):
        per_repeat = [
            (secs[0] - statistics.median(secs[1:]), statistics.median(secs[1:]))
            for secs in (run[tid][2] for run in runs if tid in run)
            if len(secs) >= 2
        ]
        if tid >= 1 and per_repeat:
            over.append((tid + 1, [o for o, _ in per_repeat], statistics.median(m for _, m in per_repeat)))
    if not over:
        return f"first-epoch overhead, {mode}: no trial after the first ran 2 or more epochs"
    medians = [statistics.median(o) for _, o, _ in over]
    shown = ", ".join(f"trial {t}: {'/'.join(f'{x:.1f}' for x in o)} s (later epochs {m:.2f} s)" for t, o, m in over)
    return (
        f"first-epoch overhead, {mode}, trials 2+ (per trial the median of {len(runs)} repeat(s)): "
        f"median {statistics.median(medians):.1f} s, max {max(medians):.1f} s   [{shown}]   (target <= 5 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--repeats", type=int, default=1, help="pairs of sweeps (on, off), order alternating")
    parser.add_argument("-t", "--trials", type=int, default=None, help="tuner.max_trials (default: the sweep's 7)")
    parser.add_argument(
        "--off",
        nargs="+",
        default=OFF,
        metavar="OVERRIDE",
        help="the off sweeps' overrides (default: every switch off)",
    )
    args = parser.parse_args()
    extra = [f"tuner.max_trials={args.trials}"] if args.trials else []
    print(
        f"{os.cpu_count()} cores; the default sweep{' of ' + str(args.trials) + ' trials' if args.trials else ''}, "
        f"switches on and off ({' '.join(args.off)}), {args.repeats} pair(s)",
        flush=True,
    )
    results = {"on": [], "off": []}
    for r in range(args.repeats):
        for mode in ("on", "off") if r % 2 == 0 else ("off", "on"):
            res = run_sweep(f"bench-{mode}-{r}", extra + (args.off if mode == "off" else []), tempfile.mkdtemp())
            res["trials"] = trials(res)
            results[mode].append(res)
            print(
                f"pair {r + 1} {mode:3s}: {res['seconds']:6.1f} s, peak RSS {res['peak_rss_mb']:.0f} MB, "
                f"{len(res['trials'])} trials",
                flush=True,
            )
    on_s = [x["seconds"] for x in results["on"]]
    off_s = [x["seconds"] for x in results["off"]]
    print(
        f"\nsweep wall time: on {statistics.median(on_s):.1f} s, off {statistics.median(off_s):.1f} s, "
        f"off / on {statistics.median([b / a for a, b in zip(on_s, off_s, strict=True)]):.2f}x   (target on <= 240 s)"
    )
    print(
        f"peak RSS: on {max(x['peak_rss_mb'] for x in results['on']):.0f} MB, "
        f"off {max(x['peak_rss_mb'] for x in results['off']):.0f} MB"
    )
    for mode in ("on", "off"):
        print(overhead_line(mode, [res["trials"] for res in results[mode]]))
    a, b = results["on"][0]["trials"], results["off"][0]["trials"]
    worst, where = 0.0, ""
    same_params = set(a) == set(b) and all(a[t][0] == b[t][0] for t in a)
    for t in set(a) & set(b):
        for k, v in a[t][1].items():
            w = b[t][1].get(k)
            if isinstance(v, float) and isinstance(w, float) and v == v and w == w and abs(v - w) > worst:
                worst, where = abs(v - w), f"trial {t} {k}"
    print(
        f"trial tables: same trials and params {same_params}; largest metric difference {worst:.2g} "
        f"({where or '-'})   (target: same trials, <= 1e-4)"
    )


if __name__ == "__main__":
    main()
