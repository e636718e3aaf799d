"""`make best [SWEEP=name]`: retrain what the sweep's decision hands over (a trial or the linear baseline) and
register it, with its temperature and threshold, as the registry alias @champion (sweep/champion.py)."""

from __future__ import annotations

import argparse

from . import command

parser = argparse.ArgumentParser(prog="probsweep best", description=(__doc__ or "").splitlines()[0])
parser.add_argument("sweep", nargs="?", default="seed-question", help="sweep name (sweeps/<name>/best.yaml)")


@command(parser)
def main(args: argparse.Namespace) -> None:
    from probsweep.sweep.champion import best  # TensorFlow loads once the command line is known good

    best(args.sweep)


if __name__ == "__main__":
    main()
