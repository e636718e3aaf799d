"""`make worker` / `probsweep worker`: one worker of a distributed sweep, pointed at its chief.

    MLFLOW_TRACKING_URI=http://10.0.0.5:5000 make worker ARGS="sweep.oracle_host=10.0.0.5 sweep.oracle_port=8000"

Give it the same overrides (data, sweep.name, search) as the chief; KERASTUNER_TUNER_ID names it.
"""
from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from probsweep.config import CONF_DIR, register
from . import check_overrides, friendly_errors

register()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    from probsweep.sweep.worker import run_worker  # TensorFlow loads once the command line is known good

    friendly_errors(lambda: run_worker(cfg))


if __name__ == "__main__":
    check_overrides(sys.argv[1:])
    main()
