"""What fine-tuning the encoder costs on CPU, and what a bounded run reaches: the encoder family with
model.encoder.trainable=true (backbone, mean pooling, L2 norm, softmax head; Adam with the family's
warm-up and cosine schedule) on a class-balanced subset of HWU64's training split, for a bounded
number of steps, then validation accuracy on the full validation split.

Prints CPU seconds per training step and per 1,000 training texts (the load-independent cost), the
wall time, and the extrapolated cost of one epoch over all of HWU64's 8,995 training texts.

    make encoder && PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/encoder_finetune.py [--per-class 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pandas as pd  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hwu64.csv"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--preset", default="models/all-MiniLM-L6-v2")
    parser.add_argument("--per-class", type=int, default=20, help="training texts per class")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    import keras
    from omegaconf import OmegaConf

    from probsweep.config import ModelConfig
    from probsweep.encoder.body import trainable_body
    from probsweep.encoder.family import learning_rate, token_ids
    from probsweep.encoder.features import pad_id
    from probsweep.encoder.preset import check_preset, load_backbone, load_tokenizer

    frame = pd.read_csv(args.data)
    train = frame[frame.split == "train"].groupby("label", group_keys=False).head(args.per_class)
    val = frame[frame.split == "val"]
    classes = sorted(frame.label.unique())
    index = {c: i for i, c in enumerate(classes)}
    preset = check_preset(args.preset)
    tokenizer = load_tokenizer(preset, 32)
    tokenizer.no_padding()
    pad = pad_id(tokenizer)
    x_train, x_val = (token_ids(tokenizer, f.text.astype(str).tolist(), 32, pad) for f in (train, val))
    y_train, y_val = (f.label.map(index).to_numpy() for f in (train, val))
    keras.utils.set_random_seed(0)
    body = trainable_body(load_backbone(preset), pad, 32, normalize=True, dropout=0.1, hidden=0)
    model = keras.Model(body.inputs, keras.layers.Dense(len(classes), activation="softmax")(body.outputs[0]))
    cfg = OmegaConf.structured(ModelConfig(_target_="probsweep.encoder.family.encoder_body"))
    cfg.encoder.trainable, cfg.encoder.learning_rate = True, args.learning_rate
    steps = args.epochs * (len(x_train) // args.batch_size)
    optimizer = keras.optimizers.Adam(learning_rate(cfg, 1e-3, steps))
    model.compile(optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    cpu, wall = time.process_time(), time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=2)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    _, accuracy = model.evaluate(x_val, y_val, batch_size=256, verbose=0)
    texts = len(x_train) * args.epochs
    print(f"fine-tuned on {len(x_train)} texts ({args.per_class}/class) x {args.epochs} epoch(s), {steps} steps")
    print(f"val accuracy {accuracy:.4f} (full validation split, {len(x_val)} texts)")
    print(f"cost: {cpu / steps:.1f} CPU-s per step, {1000 * cpu / texts:.0f} CPU-s per 1,000 texts; wall {wall:.0f} s")
    print(f"one epoch over HWU64's 8,995 training texts: ~{8.995 * cpu / texts * 1000 / 60:.0f} CPU-minutes")


if __name__ == "__main__":
    main(sys.argv[1:])
