"""`make sweep`: Keras Tuner over the configured space, every trial a nested MLflow run.

make sweep                               # the seed's question on the embedded data
make sweep ARGS="search=quick"           # a 2-minute try
make sweep ARGS="sweep.restart=true"     # forget sweeps/<name>/ and start over
make sweep WORKERS=2                     # a chief and 2 worker processes (sweep/launch.py)
"""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig

from probsweep.config import is_distributed
from probsweep.sweep.space import check_search

from . import command


def sweep(cfg: DictConfig, overrides: Sequence[str] = ()) -> str:
    """Run (or resume) the sweep; returns the parent run id. `overrides` reach the workers."""
    # TensorFlow, MLflow and Keras Tuner load once the command line is known good
    if is_distributed(cfg.sweep):
        from probsweep.sweep.launch import launch

        return launch(cfg, overrides)
    from probsweep.sweep.run import run_sweep

    return run_sweep(cfg)


@command(preflight=check_search)  # the search space and objective, before TensorFlow loads
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    sweep(cfg, list(HydraConfig.get().overrides.task))  # the workers compose the same config


if __name__ == "__main__":
    main()
