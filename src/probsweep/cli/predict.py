"""`make predict TEXT="..."` or `FILE=texts.txt`: calibrated probabilities and a decision per text.

Loads the model `make best` registered (`models:/probsweep-best@champion`; any runs:/ or
models:/<name>@<alias> URI works with --model): it applies its own temperature and threshold.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from probsweep.config import ConfigError

from . import command

DEFAULT_MODEL = "models:/probsweep-best@champion"

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
    from probsweep.sweep.champion import predict  # MLflow loads once the command line is known good

    predict(args.model, texts, args.top)


if __name__ == "__main__":
    main()
