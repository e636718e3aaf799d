"""`make diagnose ARGS="..."`: the sweep's diagnosis of a model you already have, or of its predictions.

    probsweep diagnose --model my.keras [--vectorizer vocabulary.txt] [data=file data.path=my.csv ...]
    probsweep diagnose --predictions preds.csv [--head sigmoid+binary_crossentropy]

The model form runs the model on the validation and test splits of the configured data (the same data
keys and seed it was trained with); the predictions form reads one probability column per class, `label`,
and optionally `split` and `epoch`. Both record an MLflow run (tag kind=diagnosis) and an HTML report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from probsweep.config import ConfigError, under_project

from . import command, compose

parser = argparse.ArgumentParser(prog="probsweep diagnose", description=(__doc__ or "").splitlines()[0])
source = parser.add_mutually_exclusive_group()
source.add_argument(
    "--model", help="a saved Keras model (.keras, .h5); default: the one `make train` saved (train.save_model)"
)
source.add_argument(
    "--predictions", help="a .csv/.parquet/.jsonl file: a probability column per class, label[, split, epoch]"
)
parser.add_argument("--vectorizer", help="for a model on token ids: its vocabulary file or saved TextVectorization")
parser.add_argument(
    "--head",
    help="predictions only: how to read them, activation+loss (default softmax+sparse_categorical_crossentropy)",
)
parser.add_argument("--out", help="the report's folder (default <file>-diagnosis/ beside the file)")
parser.add_argument("--experiment", help="the MLflow experiment (default probsweep-diagnosis)")
parser.add_argument("overrides", nargs="*", help="config overrides, e.g. data=file data.path=my.csv seed=42")


@command(parser)
def main(args: argparse.Namespace) -> None:
    from probsweep.diagnose import inputs

    if args.predictions:
        if args.vectorizer:
            raise ConfigError("--vectorizer is for --model: a predictions file needs none")
        head = inputs.parse_head(args.head or inputs.DEFAULT_HEAD)
        inputs.check_path(args.predictions, inputs.PREDICTION_SUFFIXES, "predictions file")
        cfg = compose(args.overrides)
        outputs = inputs.read_predictions(args.predictions, head, cfg.data.oos_label)
    else:
        if args.head:
            raise ConfigError("--head is for --predictions: a model's head is read from the model")
        if args.model:
            inputs.check_path(args.model, inputs.MODEL_SUFFIXES, "model")
        cfg = compose(args.overrides)
        if not args.model and not cfg.train.save_model:
            raise ConfigError("train.save_model is null, so `make train` saved no model: pass --model my.keras")
        path = args.model or str(under_project(cfg.train.save_model))
        if not args.model and not Path(path).is_file():
            raise ConfigError(f"no {path} yet: run `make train` first (it saves its model there), or pass --model")
        outputs = inputs.from_model(path, args.vectorizer, cfg)
    from probsweep.diagnose.run import EXPERIMENT, run_diagnosis

    done = run_diagnosis(
        outputs,
        target_precision=cfg.train.target_precision,
        tracking_uri=cfg.tracking.uri,
        experiment=args.experiment or EXPERIMENT,
        out_dir=Path(args.out) if args.out else None,
    )
    print(done.verdict)
    print(f"\n{done.found.files['diagnosis.txt']}")
    print(f"\nreport: {done.report}\nMLflow run {done.run_id} (tag kind=diagnosis); open it with: make ui")


if __name__ == "__main__":
    main()
