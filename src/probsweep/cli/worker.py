"""`make worker` / `probsweep worker`: one worker of a distributed sweep, pointed at its chief.

    MLFLOW_TRACKING_URI=http://10.0.0.5:5000 make worker ARGS="sweep.oracle_host=10.0.0.5 sweep.oracle_port=8000"

Give it the same overrides (data, sweep.name, search) as the chief; KERASTUNER_TUNER_ID names it.
"""

from __future__ import annotations

from omegaconf import DictConfig

from probsweep import lifeline
from probsweep.sweep.space import check_search

from . import command


@command(preflight=check_search)  # the search space and objective, before TensorFlow loads
def main(cfg: DictConfig) -> None:
    from probsweep.sweep.worker import run_worker  # TensorFlow loads once the command line is known good

    code = run_worker(cfg)
    if code:
        raise SystemExit(code)  # RECYCLED: the launcher starts a fresh process in its place


if __name__ == "__main__":
    lifeline.watch_parent(lifeline.launcher_gone)  # first: a launcher killed while this one starts is seen at once
    main()
