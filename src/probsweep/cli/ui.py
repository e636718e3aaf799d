"""`make ui`: the MLflow UI on the project's store, on 127.0.0.1 only (never all interfaces)."""
from __future__ import annotations

import sys

from probsweep.cli.server import main as serve


def main(argv=None) -> None:
    serve(list(argv or []), banner="MLflow UI")


if __name__ == "__main__":
    main(sys.argv[1:])
