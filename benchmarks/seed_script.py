"""The seed's own training script, as written in its question (/work/shared/seed/question-ru.txt),
on Keras 3 defaults: the baseline that benchmarks/epoch_speed.py times our training against.

Its layer sizes are those of the seed's model summary (GRU 32 per direction, Conv1D 32: 126,742
parameters with the Keras 2 GRU), as in conf/model/seed.yaml; everything else is as the seed wrote
it: `tf.keras` layers with their defaults (Keras 3's GRU, reset_after=True), `compile` with the
seed's loss, optimiser and metric (no `jit_compile`: Keras 3's "auto" means no XLA on a CPU-only
machine), and `fit(x_train, y_train, validation_data=..., epochs=..., verbose=...)` with the
default batch size of 32 and Keras's own shuffling.

    .venv/bin/python benchmarks/seed_script.py [--epochs 2]    # runs it once on the embedded data
    .venv/bin/python benchmarks/seed_script.py --monitor       # with probsweep.keras.ProbabilityMonitor added
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def get_model(max_len, vocab_size, embed_size, embedding_matrix, n_classes, gru_units=32, conv_filters=32):
    import tensorflow as tf

    input = tf.keras.layers.Input(shape=(max_len,))
    embedding = tf.keras.layers.Embedding(vocab_size, embed_size, weights=[embedding_matrix], trainable=False)(input)
    layer = tf.keras.layers.Bidirectional(
        tf.keras.layers.GRU(gru_units, return_sequences=True, dropout=0.1, recurrent_dropout=0.1)
    )(embedding)
    layer = tf.keras.layers.Conv1D(conv_filters, kernel_size=3, padding="valid", kernel_initializer="glorot_uniform")(
        layer
    )
    avg_pool = tf.keras.layers.GlobalAveragePooling1D()(layer)
    max_pool = tf.keras.layers.GlobalMaxPooling1D()(layer)
    layer = tf.keras.layers.concatenate([avg_pool, max_pool])
    output = tf.keras.layers.Dense(n_classes, activation="sigmoid")(layer)
    return tf.keras.Model(input, output)


def train(x_train, y_train, x_val, y_val, embedding_matrix, n_classes, epochs, callbacks=(), verbose=2):
    """The seed's compile and fit calls (Adam(lr=0.001) is spelled learning_rate in Keras 3)."""
    import tensorflow as tf

    model = get_model(
        x_train.shape[1], embedding_matrix.shape[0], embedding_matrix.shape[1], embedding_matrix, n_classes
    )
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=tf.keras.optimizers.Adam(learning_rate=0.001),
        metrics=["accuracy"],
    )
    model.fit(
        x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, verbose=verbose, callbacks=list(callbacks)
    )
    return model


def main() -> None:
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
    from probsweep.config import Config, validate
    from probsweep.data.loading import load_dataset

    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--monitor", action="store_true", help="with probsweep's ProbabilityMonitor (docs/diagnose.md)")
    args = parser.parse_args()
    cfg = validate(Config())
    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    callbacks = []
    if args.monitor:  # the two lines docs/diagnose.md adds to the seed's script:
        from probsweep.keras import ProbabilityMonitor

        callbacks = [ProbabilityMonitor(data.x_val, data.y_val)]
    train(
        data.x_train,
        data.y_train,
        data.x_val,
        data.y_val,
        data.embedding_matrix,
        data.n_classes,
        args.epochs,
        callbacks=callbacks,
    )


if __name__ == "__main__":
    main()
