"""`make report [SWEEP=name]`: one self-contained HTML page answering the sweep's question.

    python -m probsweep.cli.report                      # sweeps/seed-question/report/index.html
    python -m probsweep.cli.report quick --sweeps-dir /elsewhere/sweeps

Reads MLflow only (no training); the page is also logged to the parent run as report/index.html.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from probsweep.config import locate_sweep

from . import command

DEFAULT_SWEEP = "seed-question"


def report(sweep_name: str, sweeps_dir: str | None = None) -> Path:
    """Build sweeps/<name>/report/index.html from the sweep's MLflow runs; returns its path."""
    folder, parent_run_id = locate_sweep(sweep_name, sweeps_dir)
    # MLflow loads only once the sweep is known to exist: errors stay instant.
    from probsweep.report.page import publish_report

    return publish_report(sweep_name, parent_run_id, folder / "report")


parser = argparse.ArgumentParser(prog="probsweep report", description=(__doc__ or "").splitlines()[0])
parser.add_argument("sweep", nargs="?", default=DEFAULT_SWEEP, help="sweep name (sweeps/<name>/)")
parser.add_argument("--sweeps-dir", default=None, help="folder holding the sweeps (default: <project>/sweeps)")


@command(parser)
def main(args: argparse.Namespace) -> None:
    print(report(args.sweep, args.sweeps_dir))


if __name__ == "__main__":
    main()
