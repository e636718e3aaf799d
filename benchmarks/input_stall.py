"""How long an epoch waits on the input pipeline between epochs: tf.data's AUTOTUNE prefetch against
`train.fixed_prefetch` (two batches, autotuning off), in alternating rounds.

    .venv/bin/python benchmarks/input_stall.py              # 3 rounds of 25 epochs per variant
    .venv/bin/python benchmarks/input_stall.py -r 1 -e 10

Keras's TF trainer, given a tf.data set and no steps_per_epoch, makes a new iterator at the end of each
epoch and again at the start of the next (keras/src/trainers/epoch_iterator.py). This replays that
pattern on the embedded data's training batches (`train.fit.batches`, 76 batches of 32), with a
matrix product standing in for each train step and 0.2 s for validation, and times each iterator
switch. It also checks that both variants give the same batches in the same order.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def epochs_of(variant: bool, x, y, n_epochs: int):
    import numpy as np
    import tensorflow as tf

    from probsweep.train.fit import batches

    ds = tf.distribute.get_strategy().experimental_distribute_dataset(batches(x, y, 32, 42, True, variant))

    @tf.function
    def step(it):
        a, b = next(it)
        return tf.reduce_sum(tf.cast(a, tf.float64)) + tf.reduce_sum(tf.cast(b, tf.float64))

    w = np.random.default_rng(0).random((600, 600), dtype=np.float32)
    steps = len(x) // 32
    switches, sums = [], []
    for _ in range(n_epochs):
        t = time.perf_counter()
        current = iter(ds)  # the epoch's start: a new iterator, the one made at the last epoch's end dropped
        switches.append(time.perf_counter() - t)
        epoch = []
        for _ in range(steps):
            epoch.append(float(step(current)))
            w @ w  # stands in for the train step's compute
        sums.append(epoch)
        t = time.perf_counter()
        current = iter(ds)  # the epoch's end: Keras makes the next iterator already
        switches.append(time.perf_counter() - t)
        time.sleep(0.2)
    return switches, sums


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("-e", "--epochs", type=int, default=25)
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(HERE, "..", "tests"))
    from conftest import compose_config
    from probsweep.data.loading import load_dataset
    from probsweep.head import Head
    from probsweep.train.model import encode_targets

    cfg = compose_config([])
    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    y = encode_targets(data.y_train, data.n_classes, Head.of(cfg.model))
    print(f"{os.cpu_count()} cores; {args.rounds} round(s) of {args.epochs} epochs per variant", flush=True)
    total = {"autotune": [], "fixed": []}
    same = True
    for r in range(args.rounds):
        got = {}
        for name in ("autotune", "fixed") if r % 2 == 0 else ("fixed", "autotune"):
            switches, sums = epochs_of(name == "fixed", data.x_train, y, args.epochs)
            got[name] = sums
            total[name].append(sum(switches))
            print(
                f"round {r + 1} {name:8s}: iterator switches {sum(switches):5.2f} s in all, "
                f"longest {max(switches):.3f} s, over 0.1 s: {sum(s > 0.1 for s in switches)} of {len(switches)}",
                flush=True,
            )
        same = same and got["autotune"] == got["fixed"]
    a, f = statistics.median(total["autotune"]), statistics.median(total["fixed"])
    print(f"\nstalled per {args.epochs} epochs, median over rounds: autotune {a:.2f} s, fixed {f:.2f} s")
    print(f"same batches in the same order: {same}")


if __name__ == "__main__":
    main()
