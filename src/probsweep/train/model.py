"""The seed's classifier and its head/loss wiring. Plain Keras: knows nothing of MLflow or tuners.

Embedding -> Bidirectional(GRU) -> Conv1D -> concat(global avg, global max) -> Dense(n_classes).
"""
from __future__ import annotations

import warnings
from typing import Optional

import keras
import numpy as np
from keras import layers, ops

from probsweep.config import ModelConfig
from probsweep.head import Head

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
    outputs = layers.Dense(n_classes, activation=Head.of(cfg).activation.value, name="head")(x)
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

    def __init__(self, head: Head, label_smoothing: float, strip_cached_logits: bool, name: str = "head_loss"):
        super().__init__(name=name)
        self.head = head
        self.from_logits = head.from_logits
        self.label_smoothing = float(label_smoothing)
        self.strip_cached_logits = strip_cached_logits
        self.path: Optional[str] = None

    def call(self, y_true, y_pred):
        if self.strip_cached_logits:
            y_pred = ops.copy(y_pred)  # a new tensor: no cached logits, so path B
        self.path = PATH_LOGITS if self.from_logits else (PATH_A if hasattr(y_pred, "_keras_logits") else PATH_B)
        if self.head.sparse:
            return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)
        if self.head.categorical:
            return keras.losses.categorical_crossentropy(
                y_true, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
            )
        return keras.losses.binary_crossentropy(
            y_true, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
        )


def make_loss(cfg: ModelConfig) -> HeadLoss:
    head = Head.of(cfg)
    if head.mismatch:
        warnings.warn(head.explain(), HeadLossMismatchWarning, stacklevel=2)
    return HeadLoss(head, label_smoothing=cfg.label_smoothing,
                    strip_cached_logits=head.mismatch and head.mismatch_path.value == PATH_B)


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
            if Head.of(cfg).sparse
            else keras.metrics.CategoricalAccuracy(name="accuracy")
        ],
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return loss


def encode_targets(y: np.ndarray, n_classes: int, head: Head) -> np.ndarray:
    """Integer labels for the sparse loss; one-hot for the categorical and binary losses."""
    y = np.asarray(y, dtype="int64")
    if head.sparse:
        return y.astype("int32")
    return np.eye(n_classes, dtype="float32")[y]
