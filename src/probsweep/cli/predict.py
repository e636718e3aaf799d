"""`make predict TEXT="..."` or `FILE=texts.txt`: calibrated probabilities and a decision per text.

Loads the model `make best` registered (`models:/probsweep-best@champion`; any runs:/ or
models:/<name>@<alias> URI works with --model): it applies its own temperature and threshold.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from probsweep import tracking
from probsweep.config import ConfigError

from . import command

DEFAULT_MODEL = "models:/probsweep-best@champion"


def predict(model_uri: str, texts: list, top: int = 3) -> pd.DataFrame:
    """The served model's output frame (a column per class, prediction, confidence, decision), printed."""
    if not texts:
        raise ConfigError('no texts given: pass TEXT="..." or FILE=texts.txt (one text per line)')
    tracking.setup(None, "probsweep-train")  # only to point MLflow at the project's store
    model = tracking.load_served_model(model_uri)
    out = model.predict(pd.DataFrame({"text": texts}))
    classes = [c for c in out.columns if c not in ("prediction", "confidence", "decision")]
    for text, (_, row) in zip(texts, out.iterrows(), strict=True):
        probs = row[classes].astype(float).nlargest(top)
        shown = "  ".join(f"{c} {p:.4f}" for c, p in probs.items())
        print(f"{text[:60]!r:<64} {shown}   -> {row['prediction']}: {row['decision']}")
    print("(calibrated probabilities: the model's outputs after its temperature; they sum to 1)")
    return out


parser = argparse.ArgumentParser(prog="probsweep predict", description=(__doc__ or "").splitlines()[0])
parser.add_argument("texts", nargs="*", help="texts to classify")
parser.add_argument("--file", help="a text file, one text per line")
parser.add_argument("--model", default=DEFAULT_MODEL, help="an MLflow model URI (runs:/..., models:/<name>@<alias>)")
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
