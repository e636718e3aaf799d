"""`make report [SWEEP=name]`: one self-contained HTML page answering the sweep's question.

    python -m probsweep.cli.report                      # sweeps/seed-question/report/index.html
    python -m probsweep.cli.report quick --sweeps-dir /elsewhere/sweeps

Reads MLflow only (no training); the page is also logged to the parent run as report/index.html.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from probsweep.config import ConfigError, locate_sweep

from . import command

DEFAULT_SWEEP = "seed-question"


def report(sweep_name: str, sweeps_dir: str | None = None) -> Path:
    """Build sweeps/<name>/report/index.html from the sweep's MLflow runs; returns its path."""
    folder, parent_run_id = locate_sweep(sweep_name, sweeps_dir)
    # MLflow loads only once the sweep is known to exist: errors stay instant.
    from probsweep import tracking
    from probsweep.report.page import build_report

    tracking.setup(None, sweep_name)
    if not tracking.run_exists(parent_run_id):
        raise ConfigError(
            f"parent run {parent_run_id} of sweep '{sweep_name}' is not in the MLflow store "
            f"{tracking.resolve_uri(None)}: set MLFLOW_TRACKING_URI to the store the sweep used"
        )
    experiment_id = tracking.get_run(parent_run_id).info.experiment_id  # the run's own, whatever its name
    path = build_report(experiment_id, parent_run_id, folder / "report")
    tracking.log_artifacts(parent_run_id, {"report/index.html": path})
    return path


parser = argparse.ArgumentParser(prog="probsweep report", description=(__doc__ or "").splitlines()[0])
parser.add_argument("sweep", nargs="?", default=DEFAULT_SWEEP, help="sweep name (sweeps/<name>/)")
parser.add_argument("--sweeps-dir", default=None, help="folder holding the sweeps (default: <project>/sweeps)")


@command(parser)
def main(args: argparse.Namespace) -> None:
    print(report(args.sweep, args.sweeps_dir))


if __name__ == "__main__":
    main()
