"""Does the embedded data set behave like the user's? Train the seed's model on it and print the curve.

Why: the embedded set is only a fair stand-in if the seed's model, given a correct softmax head, learns
it well (>= 85% validation accuracy within 15 epochs) yet not trivially, and overfits when trained long
(validation loss rises after its minimum), as the user's did. `--head mismatch` instead trains the
seed's own sigmoid head with the sparse categorical loss on path B and prints the raw outputs' mean max
and mean row sum on validation, which should drift towards 0 as accuracy rises.

    PYTHONPATH=src .venv/bin/python benchmarks/embedded_data.py [--epochs 40] [--head softmax|mismatch]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from probsweep.config import Activation, DataConfig, MismatchPath, ModelConfig, SyntheticConfig  # noqa: E402
from probsweep.data.loading import load_dataset  # noqa: E402
from probsweep.train.model import build_model, compile_model  # noqa: E402

TARGET_ACC, TARGET_EPOCH = 0.85, 15


def run(epochs: int, head: str, seed: int, synthetic: SyntheticConfig) -> list:
    """Train and return one dict per epoch; prints the table as it goes."""
    t0 = time.time()
    data = load_dataset(DataConfig(synthetic=synthetic), embed_dim=100, seed=seed)
    print(
        f"data: {data.report['n_train']} train / {data.report['n_val']} val, {data.n_classes} classes, "
        f"vocab {data.vocab_size}, coverage {data.report['vector_coverage']:.2f}, built in {time.time() - t0:.1f} s"
    )
    keras.utils.set_random_seed(seed)
    mcfg = (
        ModelConfig(activation=Activation.softmax)
        if head == "softmax"
        else ModelConfig(activation=Activation.sigmoid, mismatch_path=MismatchPath.B)
    )
    model = build_model(mcfg, data.vocab_size, data.n_classes, data.x_train.shape[1], data.embedding_matrix)
    compile_model(model, mcfg, learning_rate=1e-3, jit_compile=True)
    rows: list = []
    extra = "  val_max  val_sum" if head == "mismatch" else ""
    print(f"epoch  train_acc  val_acc  val_loss  seconds{extra}")

    class Table(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.time()

        def on_epoch_end(self, epoch, logs=None):
            row = {
                "epoch": epoch + 1,
                "train_acc": logs["accuracy"],
                "val_acc": logs["val_accuracy"],
                "val_loss": logs["val_loss"],
                "seconds": time.time() - self.t,
            }
            line = (
                f"{epoch + 1:5d}  {row['train_acc']:9.4f}  {row['val_acc']:7.4f}  {row['val_loss']:8.4f}  "
                f"{row['seconds']:7.1f}"
            )
            if head == "mismatch":
                p = self.model.predict(data.x_val, batch_size=256, verbose=0)
                row["val_max"], row["val_sum"] = float(p.max(1).mean()), float(p.sum(1).mean())
                line += f"  {row['val_max']:7.4f}  {row['val_sum']:7.4f}"
            rows.append(row)
            print(line, flush=True)

    model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=epochs,
        batch_size=32,
        verbose=0,
        callbacks=[Table()],
    )
    return rows


def summarise(rows: list) -> None:
    best = min(rows, key=lambda r: r["val_loss"])
    reached = [r["epoch"] for r in rows if r["val_acc"] >= TARGET_ACC]
    print(
        f"minimum val_loss {best['val_loss']:.4f} at epoch {best['epoch']} (val_acc {best['val_acc']:.4f}); "
        f"last epoch val_loss {rows[-1]['val_loss']:.4f} ({rows[-1]['val_loss'] - best['val_loss']:+.4f} vs minimum)"
    )
    print(
        f"best val_acc {max(r['val_acc'] for r in rows):.4f}; "
        f"{TARGET_ACC:.0%} val_acc reached by epoch {TARGET_EPOCH}: "
        f"{f'yes, first at epoch {reached[0]}' if reached and reached[0] <= TARGET_EPOCH else 'no'}"
    )
    print(f"mean seconds per epoch {np.mean([r['seconds'] for r in rows[1:]] or [rows[0]['seconds']]):.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--head", choices=("softmax", "mismatch"), default="softmax")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--train-per-class", type=int, default=None, help="override SyntheticConfig.train_per_class")
    args = ap.parse_args()
    syn = SyntheticConfig()
    if args.train_per_class:
        syn = replace(syn, train_per_class=args.train_per_class)
    rows = run(args.epochs, args.head, args.seed, syn)
    if args.head == "softmax":
        summarise(rows)


if __name__ == "__main__":
    main()
