"""Per-epoch time: the seed's own script against our tracked training, on the same data and batch size.

    .venv/bin/python benchmarks/epoch_speed.py                  # 3 repeats of 4 epochs each (~10 min idle)
    .venv/bin/python benchmarks/epoch_speed.py -r 1 -e 3        # quicker, noisier

In one process, each repeat runs, in turn: the seed's script (benchmarks/seed_script.py: its model
and fit call, Keras 3 defaults, no XLA), our tracked training with the speed switches on (the
defaults), and with them off (sweep_speed.OFF, the tests' SPEED_SWITCHES_OFF in tests/conftest.py:
the previous approach). Our trainings log to MLflow (a throwaway store),
with the seed's head and loss, as `make train` does. An epoch is timed from its start to the end of
its last callback (validation, the probability metrics and the MLflow logging included). Printed:
the median of the later epochs (epoch 1 left out: compilation), per run, and the ratios within each
repeat, then their medians. Target (issue 11): seed / ours >= 4.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, HERE)

from sweep_speed import OFF  # noqa: E402  (this folder is on sys.path: the script's own)


def clock():
    import keras

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._t)

    return EpochClock()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-e", "--epochs", type=int, default=4)
    parser.add_argument("-r", "--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tempfile.mkdtemp()}/mlflow.db"

    import warnings

    import seed_script

    from conftest import compose_config
    from probsweep import tracking
    from probsweep.config import register, validate
    from probsweep.data.loading import load_dataset
    from probsweep.train.tracked import tracked_fit

    register()
    warnings.simplefilter("ignore")
    base = [f"train.epochs={args.epochs}", "train.verbose=0"]
    configs = {"ours (on)": validate(compose_config(base)), "ours (off)": validate(compose_config([*base, *OFF]))}
    data = load_dataset(configs["ours (on)"].data, configs["ours (on)"].model.embed_dim, configs["ours (on)"].seed)
    experiment = tracking.setup(None, "epoch-speed")
    print(
        f"{os.cpu_count()} cores, {len(data.y_train)} training rows, batch 32, {args.epochs} epochs per run, "
        f"{args.repeats} repeats",
        flush=True,
    )

    def seed_run():
        c = clock()
        seed_script.train(
            data.x_train,
            data.y_train,
            data.x_val,
            data.y_val,
            data.embedding_matrix,
            data.n_classes,
            args.epochs,
            callbacks=[c],
            verbose=0,
        )
        return c.seconds

    def ours(name):
        def run():
            c = clock()
            with tracking.run(experiment, name=name, tags={}) as run_id:
                tracked_fit(configs[name], data, run_id, extra_callbacks=[c])
            return c.seconds

        return run

    runs = {"seed script": seed_run, "ours (on)": ours("ours (on)"), "ours (off)": ours("ours (off)")}
    later = {name: [] for name in runs}
    for r in range(args.repeats):
        order = list(runs) if r % 2 == 0 else list(runs)[::-1]  # alternate the order: drift hits all alike
        for name in order:
            seconds = runs[name]()
            later[name].append(statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0])
            print(
                f"repeat {r + 1} {name:12s} epoch 1 {seconds[0]:6.2f} s   later epochs (median) "
                f"{later[name][-1]:6.2f} s   all: {' '.join(f'{s:.2f}' for s in seconds)}",
                flush=True,
            )
    ratio_on = [s / o for s, o in zip(later["seed script"], later["ours (on)"], strict=True)]
    ratio_off = [s / o for s, o in zip(later["seed script"], later["ours (off)"], strict=True)]
    gain = [f / o for f, o in zip(later["ours (off)"], later["ours (on)"], strict=True)]
    print(
        f"\nper epoch, median over repeats: seed script {statistics.median(later['seed script']):.2f} s, "
        f"ours (on) {statistics.median(later['ours (on)']):.2f} s, "
        f"ours (off) {statistics.median(later['ours (off)']):.2f} s"
    )
    print(
        f"seed script / ours (on):  {statistics.median(ratio_on):.2f}x  "
        f"(per repeat: {', '.join(f'{x:.2f}' for x in ratio_on)})  target >= 4"
    )
    print(
        f"seed script / ours (off): {statistics.median(ratio_off):.2f}x  "
        f"(per repeat: {', '.join(f'{x:.2f}' for x in ratio_off)})"
    )
    print(f"ours off / on:            {statistics.median(gain):.2f}x")


if __name__ == "__main__":
    main()
