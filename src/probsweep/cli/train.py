"""`make train`: one training of the composed config, tracked in MLflow.

make train ARGS="model.activation=softmax train.epochs=3"
"""

from __future__ import annotations

from omegaconf import DictConfig

from probsweep.sweep.space import check_early_stopping

from . import command


def train(cfg: DictConfig) -> str:
    """Train once; returns the MLflow run id."""
    from probsweep.train.tracked import train_once  # TensorFlow and MLflow load once the command line is good

    return train_once(cfg)


@command(preflight=check_early_stopping)  # a monitor that is not logged, before TensorFlow loads
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
