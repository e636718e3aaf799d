"""`make best [SWEEP=name]`: retrain the better of the sweep's best trial and its linear baseline, then
register it as the registry alias @champion (sweep/champion.py).

Whether the sweep exists is checked first, from plain files: a wrong name answers in a second, before
TensorFlow and MLflow load.
"""

from __future__ import annotations

import argparse

from probsweep.config import check_best

from . import command, import_tensorflow_quietly


def best(sweep_name: str, sweeps_root: str | None = None) -> dict:
    """Retrain and register the sweep's handed-over model (sweep/champion.py); returns what it did."""
    check_best(sweep_name, sweeps_root)
    import_tensorflow_quietly()
    from probsweep.sweep.champion import best as retrain_and_register

    return retrain_and_register(sweep_name, sweeps_root)


parser = argparse.ArgumentParser(prog="probsweep best", description=(__doc__ or "").splitlines()[0])
parser.add_argument("sweep", nargs="?", default="seed-question", help="sweep name (sweeps/<name>/best.yaml)")


@command(parser)
def main(args: argparse.Namespace) -> None:
    best(args.sweep)


if __name__ == "__main__":
    main()
