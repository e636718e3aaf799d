"""`make sweep`: Keras Tuner over the configured space, every trial a nested MLflow run.

    make sweep                               # the seed's question on the embedded data
    make sweep ARGS="search=quick"           # a 2-minute try
    make sweep ARGS="sweep.restart=true"     # forget sweeps/<name>/ and start over
"""
from __future__ import annotations

from omegaconf import DictConfig

from . import command


def sweep(cfg: DictConfig) -> str:
    """Run (or resume) the sweep; returns the parent run id."""
    from probsweep.sweep.run import (
        run_sweep,  # TensorFlow, MLflow and Keras Tuner load once the command line is known good
    )

    return run_sweep(cfg)


@command()
def main(cfg: DictConfig) -> None:
    sweep(cfg)


if __name__ == "__main__":
    main()
