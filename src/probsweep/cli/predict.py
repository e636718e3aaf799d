"""`make predict TEXT="..."` or `FILE=texts.txt`: top classes of a logged model for new texts."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from probsweep import tracking
from probsweep.config import ConfigError
from probsweep.train.fit import predict_texts

from . import command


def predict(model_uri: str, texts: list, top: int = 3) -> list:
    if not texts:
        raise ConfigError("no texts given: pass TEXT=\"...\" or FILE=texts.txt (one text per line)")
    tracking.setup(None, "probsweep-train")  # only to point MLflow at the project's store
    model = tracking.load_keras_model(model_uri)
    classes = tracking.load_classes(model_uri)
    outputs = predict_texts(model, texts)
    results = []
    for text, row in zip(texts, outputs, strict=True):
        best = np.argsort(row)[::-1][:top]
        results.append([(classes[i], float(row[i])) for i in best])
        shown = "  ".join(f"{classes[i]} {row[i]:.4f}" for i in best)
        print(f"{text[:60]!r:<64} {shown}   (sum of outputs {row.sum():.4f})")
    return results


parser = argparse.ArgumentParser(prog="probsweep predict", description=(__doc__ or "").splitlines()[0])
parser.add_argument("texts", nargs="*", help="texts to classify")
parser.add_argument("--file", help="a text file, one text per line")
parser.add_argument("--model", default="models:/probsweep-best/latest", help="an MLflow model URI")
parser.add_argument("--top", type=int, default=3)


@command(parser)
def main(args: argparse.Namespace) -> None:
    texts = list(args.texts)
    if args.file:
        path = Path(args.file)
        if not path.exists():
            raise ConfigError(f"{path} does not exist: pass --file with an existing text file")
        texts += [line.strip() for line in path.read_text().splitlines() if line.strip()]
    predict(args.model, texts, args.top)


if __name__ == "__main__":
    main()
