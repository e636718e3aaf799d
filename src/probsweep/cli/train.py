"""`make train`: one training of the composed config, tracked in MLflow.

make train ARGS="model.activation=softmax train.epochs=3"
"""

from __future__ import annotations

from omegaconf import DictConfig

from probsweep.config import validate
from probsweep.head import Head
from probsweep.sweep.space import check_early_stopping

from . import command


def train(cfg: DictConfig) -> str:
    """Train once; returns the MLflow run id."""
    from probsweep import tracking  # TensorFlow and MLflow load only once the command line is known good
    from probsweep.data.loading import load_dataset
    from probsweep.train.tracked import save_model, tracked_fit

    cfg = validate(cfg)
    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    experiment_id = tracking.setup(cfg.tracking.uri, cfg.tracking.experiment)
    with tracking.run(experiment_id, name=f"train-{Head.of(cfg.model).label}", tags={"kind": "train"}) as run_id:
        outcome = tracked_fit(cfg, data, run_id)
        saved = save_model(outcome.trained, data, cfg.train.save_model, run_id) if cfg.train.save_model else None
    f = outcome.final
    print(
        f"run {run_id} finished: val_accuracy {f['val_accuracy']:.4f}  val_max_prob {f['val_max_prob']:.4f}  "
        f"val_prob_sum {f['val_prob_sum']:.4f}  val_ece {f['val_ece']:.4f}  (loss path {outcome.trained.loss.path})"
    )
    print(f"compare runs in the MLflow UI: make ui   (store: {tracking.resolve_uri(cfg.tracking.uri)})")
    if saved is not None:
        print(f"model saved to {saved}; diagnose it: make diagnose   (or probsweep diagnose --model {saved})")
    return run_id


@command(preflight=check_early_stopping)  # a monitor that is not logged, before TensorFlow loads
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
