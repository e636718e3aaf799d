"""XLA (`train.jit_compile`) against plain TF graphs for the seed's model, as ratios within one run.

    .venv/bin/python benchmarks/xla_speed.py [--epochs 4]

Prints, for each setting, the first epoch (compilation included) and the mean of the later epochs,
then the ratio no-XLA / XLA of the later epochs: the per-epoch speed-up that `jit_compile` buys.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from epoch_speed import clock as epoch_clock  # noqa: E402  (this folder is on sys.path: the script's own)

from conftest import compose_config  # noqa: E402
from probsweep.config import validate  # noqa: E402
from probsweep.data.loading import load_dataset  # noqa: E402
from probsweep.train.fit import fit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    later = {}
    for jit in (True, False):
        cfg = validate(
            compose_config(["model.activation=softmax", f"train.epochs={args.epochs}", f"train.jit_compile={jit}"])
        )
        data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
        clock = epoch_clock()
        fit(cfg.model, cfg.train, data, cfg.seed, callbacks=[clock])
        later[jit] = sum(clock.seconds[1:]) / max(1, len(clock.seconds) - 1)
        print(
            f"jit_compile={jit}: epoch 1 {clock.seconds[0]:.1f} s, later epochs {later[jit]:.2f} s each "
            f"(train + validation + probability metrics, {len(data.y_train)} training rows)"
        )
    print(f"later epochs, no-XLA / XLA: {later[False] / later[True]:.2f}x")


if __name__ == "__main__":
    main()
