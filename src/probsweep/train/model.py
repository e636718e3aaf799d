"""The seed's classifier and its head/loss wiring. Plain Keras: knows nothing of MLflow or tuners.

Embedding -> Bidirectional(GRU) -> Conv1D -> concat(global avg, global max) -> Dense(n_classes).
"""
from __future__ import annotations

import warnings
from typing import Optional

import keras
import numpy as np
from keras import layers, ops

from probsweep.config import Activation, Loss, MismatchPath, ModelConfig, is_mismatch

# What the loss actually read, recorded at trace time (see HeadLoss.call).
PATH_A = "A"  # cached pre-activation logits (Keras 3 on TensorFlow)
PATH_B = "B"  # the probabilities themselves: clipped, renormalised, -log(p_y / sum p)
PATH_LOGITS = "logits"  # a linear head: the loss was told from_logits=True


class HeadLossMismatchWarning(UserWarning):
    pass


def build_model(
    cfg: ModelConfig,
    vocab_size: int,
    n_classes: int,
    max_len: int,
    embedding_matrix: Optional[np.ndarray] = None,
) -> keras.Model:
    """The seed's architecture with every size taken from `cfg`."""
    tokens = keras.Input(shape=(max_len,), dtype="int32", name="tokens")
    embedding = layers.Embedding(vocab_size, cfg.embed_dim, trainable=cfg.trainable_embedding, name="embedding")
    x = embedding(tokens)
    # reset_after=False is the Keras 2 / TF1 GRU the seed used: 3*(u*(d+u)+u) weights per direction.
    gru = layers.GRU(
        cfg.gru_units,
        return_sequences=True,
        dropout=cfg.dropout,
        recurrent_dropout=cfg.recurrent_dropout,
        reset_after=False,
    )
    x = layers.Bidirectional(gru, name="bidirectional")(x)
    x = layers.Conv1D(cfg.conv_filters, cfg.kernel_size, padding="valid", kernel_initializer="glorot_uniform", name="conv1d")(x)
    x = layers.Concatenate(name="concatenate")(
        [layers.GlobalAveragePooling1D(name="avg_pool")(x), layers.GlobalMaxPooling1D(name="max_pool")(x)]
    )
    outputs = layers.Dense(n_classes, activation=Activation(cfg.activation).value, name="head")(x)
    model = keras.Model(tokens, outputs, name="seed_classifier")
    if embedding_matrix is not None:
        if embedding_matrix.shape != (vocab_size, cfg.embed_dim):
            raise ValueError(
                f"embedding matrix is {embedding_matrix.shape}, expected ({vocab_size}, {cfg.embed_dim}): "
                "set model.embed_dim to the vectors' dimension"
            )
        embedding.set_weights([embedding_matrix.astype("float32")])
    return model


class CachedLogits(layers.Layer):
    """The logits the loss reads: those a softmax/sigmoid cached on its output, else the outputs (a linear head)."""

    def call(self, outputs):
        return getattr(outputs, "_keras_logits", outputs)


def inference_model(model: keras.Model) -> keras.Model:
    """The same layers and weights with two outputs, (logits, outputs), from one forward pass: the
    monitor computes val_loss from them as the loss would (path A reads the logits), so validation
    runs once per epoch instead of twice."""
    outputs = model.outputs[0]
    return keras.Model(model.inputs, [CachedLogits(name="logits")(outputs), outputs], name=f"{model.name}_inference")


def with_cached_logits(outputs, logits):
    """`outputs` as a tensor carrying `logits` the way Keras 3 on TensorFlow caches them, so a HeadLoss
    called on it takes the same path (A, B or from_logits) as it did in training."""
    import tensorflow as tf

    y_pred = tf.convert_to_tensor(outputs)
    if logits is not None:
        y_pred._keras_logits = tf.convert_to_tensor(logits)
    return y_pred


class HeadLoss(keras.losses.Loss):
    """The configured Keras loss, plus a record of which code path it took.

    Keras 3 on TensorFlow looks for `_keras_logits`, which its softmax and sigmoid activations cache
    on their output, and if present computes the loss from those logits (path A). Any op between the
    activation and the loss drops that attribute, and the loss then clips and renormalises the
    probabilities instead (path B), as older Keras and the JAX and torch backends always do.
    `mismatch_path=B` inserts such an op (an identity), so both paths are reproducible here.
    """

    def __init__(self, loss: str, from_logits: bool, label_smoothing: float, strip_cached_logits: bool, name: str = "head_loss"):
        super().__init__(name=name)
        self.loss_name = Loss(loss)
        self.from_logits = from_logits
        self.label_smoothing = float(label_smoothing)
        self.strip_cached_logits = strip_cached_logits
        self.path: Optional[str] = None

    def call(self, y_true, y_pred):
        if self.strip_cached_logits:
            y_pred = ops.copy(y_pred)  # a new tensor: no cached logits, so path B
        self.path = PATH_LOGITS if self.from_logits else (PATH_A if hasattr(y_pred, "_keras_logits") else PATH_B)
        if self.loss_name == Loss.sparse_categorical_crossentropy:
            return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)
        if self.loss_name == Loss.categorical_crossentropy:
            return keras.losses.categorical_crossentropy(
                y_true, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
            )
        return keras.losses.binary_crossentropy(
            y_true, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
        )


def mismatch_message(activation: str, loss: str, path: str) -> str:
    how = {
        PATH_A: "path A: Keras 3 on TensorFlow reads the logits cached on the sigmoid and computes softmax "
        "cross-entropy on them, so nothing fixes the sigmoid's level and many outputs can saturate towards 1",
        PATH_B: "path B: the loss clips the outputs and renormalises them, -log(p_y / sum p), so once training "
        "accuracy is high every output drifts towards 0",
    }[path]
    return (
        f"head/loss mismatch: activation={activation} with loss={loss} ({how}). The raw outputs are not "
        "probabilities you can threshold: use model.activation=softmax with a categorical loss, or "
        "model.loss=binary_crossentropy with a sigmoid head."
    )


def make_loss(cfg: ModelConfig) -> HeadLoss:
    activation, loss = Activation(cfg.activation), Loss(cfg.loss)
    mismatch = is_mismatch(activation, loss)
    if mismatch:
        warnings.warn(mismatch_message(activation.value, loss.value, MismatchPath(cfg.mismatch_path).value), HeadLossMismatchWarning, stacklevel=2)
    return HeadLoss(
        loss,
        from_logits=activation == Activation.linear,
        label_smoothing=cfg.label_smoothing,
        strip_cached_logits=mismatch and MismatchPath(cfg.mismatch_path) == MismatchPath.B,
    )


def compile_model(model: keras.Model, cfg: ModelConfig, learning_rate: float, jit_compile: bool,
                  steps_per_execution: int = 1) -> HeadLoss:
    """Compile with the configured head/loss; returns the loss so callers can read `loss.path`."""
    loss = make_loss(cfg)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=loss,
        # Named "accuracy" whatever the target encoding, so every head logs the same metric key.
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy")
            if Loss(cfg.loss) == Loss.sparse_categorical_crossentropy
            else keras.metrics.CategoricalAccuracy(name="accuracy")
        ],
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return loss


def encode_targets(y: np.ndarray, n_classes: int, loss: str) -> np.ndarray:
    """Integer labels for the sparse loss; one-hot for the categorical and binary losses."""
    y = np.asarray(y, dtype="int64")
    if Loss(loss) == Loss.sparse_categorical_crossentropy:
        return y.astype("int32")
    return np.eye(n_classes, dtype="float32")[y]
