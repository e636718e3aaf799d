"""The encoder's Keras layers: masked mean pooling over a keras-hub backbone, and the two bodies.

- frozen: the body reads the cached pooled features (features.py) and adds only what sits between
  them and the head (optional L2 normalisation, dropout, an optional hidden layer): trials train in
  seconds;
- fine-tuned (`model.encoder.trainable=true`): the body reads token ids and runs the backbone, whose
  weights train with the head (its own learning rate and warm-up: train/fit.py reads them).

Plain Keras; nothing here knows of MLflow or tuners.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="probsweep")
class MaskedMeanPooling(layers.Layer):
    """Mean of the token vectors where the padding mask is 1 (what sentence-transformers do for MiniLM)."""

    def call(self, sequence, mask):
        mask = ops.cast(ops.expand_dims(mask, -1), sequence.dtype)
        total = ops.sum(sequence * mask, axis=1)
        return total / ops.maximum(ops.sum(mask, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="probsweep")
class L2Normalize(layers.Layer):
    def call(self, x):
        return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True)), 1e-12)


@keras.saving.register_keras_serializable(package="probsweep")
class BertInputs(layers.Layer):
    """token ids -> the dict a keras-hub BERT-style backbone takes (padding mask from the pad id, one segment)."""

    def __init__(self, pad_id: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.pad_id = int(pad_id)

    def call(self, token_ids):
        return {
            "token_ids": token_ids,
            "padding_mask": ops.cast(ops.not_equal(token_ids, self.pad_id), "int32"),
            "segment_ids": ops.zeros_like(token_ids),
        }

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pad_id": self.pad_id}


def backbone_inputs(backbone: Any) -> set[str]:
    return set(backbone.input.keys()) if isinstance(backbone.input, dict) else set()


def pooled_encoder(backbone: Any, pad_id: int = 0, sequence_length: int | None = None) -> keras.Model:
    """token ids (batch, length) -> mean-pooled token vectors (batch, hidden): the sentence embedding."""
    tokens = keras.Input(shape=(sequence_length,), dtype="int32", name="tokens")
    inputs = BertInputs(pad_id, name="bert_inputs")(tokens)
    wanted = backbone_inputs(backbone)
    outputs = backbone({k: v for k, v in inputs.items() if k in wanted})
    sequence = outputs["sequence_output"] if isinstance(outputs, dict) else outputs
    pooled = MaskedMeanPooling(name="mean_pooling")(sequence, inputs["padding_mask"])
    return keras.Model(tokens, pooled, name="pooled_encoder")


def top(x: Any, normalize: bool, dropout: float, hidden: int) -> Any:
    """What sits between the sentence embedding and the head."""
    if normalize:
        x = L2Normalize(name="l2_normalize")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    if hidden:
        x = layers.Dense(hidden, activation="relu", name="hidden")(x)
        if dropout:
            x = layers.Dropout(dropout, name="hidden_dropout")(x)
    return x


def frozen_body(dim: int, normalize: bool, dropout: float, hidden: int) -> keras.Model:
    """Cached pooled features (batch, dim) -> the features the head reads."""
    features = keras.Input(shape=(dim,), dtype="float32", name="encoder_features")
    return keras.Model(features, top(features, normalize, dropout, hidden), name="encoder_frozen")


def trainable_body(
    backbone: Any, pad_id: int, sequence_length: int, normalize: bool, dropout: float, hidden: int
) -> keras.Model:
    """token ids (batch, sequence_length) -> backbone -> mean pooling -> the features the head reads."""
    backbone.trainable = True
    for layer in backbone.layers:  # BERT's [CLS] pooler: mean pooling never reads it, so it gets no gradient
        if layer.name == "pooled_dense":
            layer.trainable = False
    encoder = pooled_encoder(backbone, pad_id, sequence_length)
    return keras.Model(encoder.inputs, top(encoder.outputs[0], normalize, dropout, hidden), name="encoder_finetuned")
