"""`make best [SWEEP=name]`: retrain the sweep's best config exactly, save and register the model.

The trial's final metrics are printed beside the rerun's: under the same seed and deterministic
ops they agree within TOLERANCE.
"""
from __future__ import annotations

import argparse
from types import SimpleNamespace

import keras
from omegaconf import OmegaConf

from probsweep import tracking
from probsweep.config import ConfigError, locate_sweep, sweep_dir, validate
from probsweep.data.loading import load_dataset
from probsweep.probs.metrics import FINAL
from probsweep.train.fit import predict_texts
from probsweep.train.tracked import tracked_fit

from . import command

TOLERANCE = 1e-3  # absolute, on each final-epoch metric
COMPARED = FINAL  # the final-epoch metrics of the comparison table


def text_model(vectorizer, model: keras.Model) -> keras.Model:
    """Raw strings in, the head's outputs out: the vectorisation travels with the model."""
    texts = keras.Input(shape=(1,), dtype="string", name="text")
    # A fresh Functional over the same layers: carries no compile state, so it loads without probsweep.
    inference = keras.Model(model.inputs, model.outputs, name="classifier")
    return keras.Model(texts, inference(vectorizer(texts)), name="text_classifier")


def best(sweep_name: str, sweeps_root: str | None = None) -> dict:
    best_yaml = sweep_dir(SimpleNamespace(name=sweep_name, dir=sweeps_root)) / "best.yaml"
    if not best_yaml.exists():
        raise ConfigError(f"{best_yaml} does not exist: run `make sweep` "
                          f"(with sweep.name={sweep_name}) until it finishes, or pass SWEEP=<name>")
    cfg = validate(OmegaConf.load(best_yaml))
    experiment_id = tracking.setup(cfg.tracking.uri, sweep_name)
    _, parent_id = locate_sweep(sweep_name, sweeps_root)
    trial_run_id = tracking.get_run(parent_id).data.tags["best_run_id"]
    trial = tracking.get_run(trial_run_id)
    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    with tracking.run(experiment_id, name=f"best-rerun-of-{trial.data.tags.get('trial_id', '?')}",
                      tags={"kind": "best", "rerun_of_run_id": trial_run_id, "sweep": sweep_name}) as run_id:
        outcome = tracked_fit(cfg, data, run_id, prefix="[best] ")
        served = text_model(data.vectorizer, outcome.trained.model)
        examples = list(data.texts_val[:3])
        model_uri = tracking.log_keras_model(run_id, served, examples, predict_texts(served, examples),
                                             data.class_names, cfg.tracking.registered_model)
    rows = []
    for key in COMPARED:
        a, b = trial.data.metrics.get(key), outcome.final.get(key)
        rows.append((key, a, b, None if a is None or b is None else abs(a - b)))
    print(f"\n{'metric':<18}{'trial':>12}{'rerun':>12}{'|diff|':>12}")
    for key, a, b, d in rows:
        nan = float("nan")
        print(f"{key:<18}{a if a is not None else nan:>12.5f}{b:>12.5f}{d if d is not None else nan:>12.2e}")
    worst = max(d for *_, d in rows if d is not None)
    verdict = "agree" if worst <= TOLERANCE else "DIFFER"
    print(f"\ntrial and rerun {verdict} within {TOLERANCE:g} (largest difference {worst:.2e})")
    print(f"model: {model_uri}  registered as '{cfg.tracking.registered_model}'")
    print('predict: make predict TEXT="some text"')
    return {"run_id": run_id, "model_uri": model_uri, "max_diff": worst, "trial_run_id": trial_run_id}


parser = argparse.ArgumentParser(prog="probsweep best", description=(__doc__ or "").splitlines()[0])
parser.add_argument("sweep", nargs="?", default="seed-question", help="sweep name (sweeps/<name>/best.yaml)")


@command(parser)
def main(args: argparse.Namespace) -> None:
    best(args.sweep)


if __name__ == "__main__":
    main()
