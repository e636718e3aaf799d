"""`make ui`: the MLflow UI on the project's store, on 127.0.0.1 only (never all interfaces).

The same server as `make server` (cli/server.py), over the store the other commands use.
"""

from __future__ import annotations

import argparse

from . import command
from .server import make_parser, serve

parser = make_parser("probsweep ui", (__doc__ or "").splitlines()[0], store_options=False)


@command(parser)
def main(args: argparse.Namespace) -> None:
    serve(args, banner="MLflow UI", show_runs=True)


if __name__ == "__main__":
    main()
