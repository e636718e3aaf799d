"""What a random-search sweep will draw, without training anything.

    .venv/bin/python benchmarks/sweep_draws.py                    # the default sweep's draws
    .venv/bin/python benchmarks/sweep_draws.py --scan 600         # tuner seeds whose draws cover the space

The default sweep's `tuner.seed` was picked with --scan 560: of the seeds whose draws cover all five
heads and both dropouts, train both paths of the seed's mismatch and a softmax head long enough to
show their epoch behaviour (>= 16, >= 16 and >= 8 epochs), and stay within the 10-minute budget (<= 64 epochs
in all, at about 6 s per epoch plus about 20 s per trial on 2 cores), 553 needs the fewest epochs (45).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras_tuner as kt  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from probsweep.config import CONF_DIR, register  # noqa: E402
from probsweep.sweep import space as search  # noqa: E402


def draws(entries, seed: int, n: int):
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_brier", "min"), max_trials=n, seed=seed)
    oracle._display.verbose = 0
    oracle._set_project_dir(tempfile.mkdtemp(), "draws")
    hp = kt.HyperParameters()
    search.declare(hp, entries)
    oracle.update_space(hp)
    rows = []
    for _ in range(n):
        trial = oracle.create_trial("draws")
        if trial.status != "RUNNING":
            break
        rows.append(dict(trial.hyperparameters.values))
        oracle.update_trial(trial.trial_id, {"val_brier": 1.0})
        oracle.end_trial(trial)
    return rows


def covers(rows) -> bool:
    heads = {r["head"] for r in rows}

    def longest(prefix):
        return max([r["train.epochs"] for r in rows if r["head"].startswith(prefix)] or [0])

    return (
        len(heads) == 5
        and len({r["model.dropout"] for r in rows}) == 2
        and sum(r["train.epochs"] for r in rows) <= 64
        and longest("seed-mismatch-A") >= 16
        and longest("seed-mismatch-B") >= 16
        and longest("softmax") >= 8
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--search", default="default")
    parser.add_argument("--tuner", default="random")
    parser.add_argument("--scan", type=int, default=0, help="scan tuner seeds 0..N-1 for covering draws")
    args = parser.parse_args()
    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):  # the composed config, defaults included
        cfg = compose(config_name="config", overrides=[f"search={args.search}", f"tuner={args.tuner}"])
    entries, tuner = search.parse(cfg.search.space), cfg.tuner
    if args.scan:
        for seed in range(args.scan):
            rows = draws(entries, seed, tuner.max_trials)
            if covers(rows):
                print(f"seed {seed}: {sum(r['train.epochs'] for r in rows)} epochs")
        return
    rows = draws(entries, tuner.seed, tuner.max_trials)
    for r in rows:
        print(r)
    print(
        f"tuner.seed={tuner.seed}: {len(rows)} trials, {sum(r['train.epochs'] for r in rows)} epochs in all, "
        f"covers the space: {covers(rows)}"
    )


if __name__ == "__main__":
    main()
