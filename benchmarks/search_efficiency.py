"""Search efficiency on the tuning space: Hyperband against random search with 3x its budget.

    .venv/bin/python benchmarks/search_efficiency.py                # ~25-35 min idle on 2 cores
    .venv/bin/python benchmarks/search_efficiency.py --max-epochs 3 # a smaller run

Both searches run `search=tune` (the real-data tuning space of conf/search/tune.yaml, objective
in-scope val_accuracy) with `run_sweep` on the intents stand-in (`data=intents`: 150 intents, 7,500
short training queries), without early stopping: Hyperband sets each trial's epochs, and random
search trains every trial for max_epochs. Hyperband (max_epochs 9, factor 3, one iteration) spends E
epochs in total; random search then gets 3E epochs: trials of max_epochs each. Every trial trains
from scratch, so a trial's cost is its epochs. Printed: both searches' best objective and epochs
spent, and whether Hyperband reached within 1% of random search's best with at most a third of its
epochs (the target of issue 11); the curves (best objective against epochs spent) go to a PNG.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

TUNING = [
    "data=intents",
    "search=tune",
    "train.early_stopping.enabled=false",
    "search.baseline=false",
    "train.verbose=0",
]


def search(kind_overrides, name, root):
    from conftest import compose_config
    from probsweep import tracking
    from probsweep.sweep.run import run_sweep

    cfg = compose_config([*TUNING, *kind_overrides, f"sweep.name={name}", f"sweep.dir={root}/sweeps"])
    with contextlib.redirect_stdout(io.StringIO()):
        parent = run_sweep(cfg)
    runs = tracking.child_runs(tracking.setup(None, name), parent)
    runs = runs[runs["status"] == "FINISHED"].sort_values("start_time")
    objective = cfg.search.objective
    sign = 1 if cfg.search.direction == "max" else -1
    spent, best, curve = 0, None, []
    for _, row in runs.iterrows():
        spent += int(row["params.train.epochs"])
        value = float(row[f"metrics.{objective}"])
        best = value if best is None or sign * value > sign * best else best
        curve.append((spent, best))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, default=9, help="Hyperband's longest trial (and random search's)")
    parser.add_argument("--factor", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7, help="tuner.seed of Hyperband (and of random search)")
    parser.add_argument(
        "--random-seed",
        type=int,
        default=None,
        help="tuner.seed of random search; default --seed, so both draw the same first points (recorded that way)",
    )
    parser.add_argument("--png", default=os.path.join(tempfile.gettempdir(), "search_efficiency.png"))
    args = parser.parse_args()
    root = tempfile.mkdtemp()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root}/mlflow.db"
    warnings.simplefilter("ignore")
    from conftest import compose_config
    from probsweep.config import register

    register()
    space = compose_config(TUNING).search
    print(
        f"{os.cpu_count()} cores; search=tune on data=intents: {list(space.space)}; objective {space.objective} "
        f"({space.direction})",
        flush=True,
    )
    hb = search(
        [
            "tuner=hyperband",
            f"tuner.max_epochs={args.max_epochs}",
            f"tuner.factor={args.factor}",
            f"tuner.seed={args.seed}",
        ],
        "hyperband",
        root,
    )
    hb_epochs = hb[-1][0]
    n_random = -(-3 * hb_epochs // args.max_epochs)
    print(f"hyperband: {len(hb)} trials, {hb_epochs} epochs, best {hb[-1][1]:.4f}", flush=True)
    rs = search(
        [
            "tuner=random",
            f"tuner.max_trials={n_random}",
            f"train.epochs={args.max_epochs}",
            f"tuner.seed={args.seed if args.random_seed is None else args.random_seed}",
        ],
        "random",
        root,
    )
    print(
        f"random search: {len(rs)} trials of {args.max_epochs} epochs, {rs[-1][0]} epochs, best {rs[-1][1]:.4f}",
        flush=True,
    )
    sign = 1 if space.direction == "max" else -1
    gap = sign * (rs[-1][1] - hb[-1][1]) / abs(rs[-1][1])
    ok = gap <= 0.01 and hb_epochs * 3 <= rs[-1][0]
    print(
        f"hyperband's best is {gap * 100:+.2f}% {'below' if sign > 0 else 'above'} random search's, with "
        f"{hb_epochs / rs[-1][0]:.2f} of its epochs: {'meets' if ok else 'misses'} the target "
        f"(within 1%, at most a third of the epochs)"
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for curve, label in ((hb, "Hyperband"), (rs, f"random search, {args.max_epochs} epochs per trial")):
        ax.step([0] + [c[0] for c in curve], [curve[0][1]] + [c[1] for c in curve], where="post", label=label)
    ax.set_xlabel("epochs spent")
    ax.set_ylabel(f"best {space.objective} so far")
    ax.set_title("Search efficiency on the tuning space")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.png, dpi=100)
    print(f"curves: {args.png}")


if __name__ == "__main__":
    main()
