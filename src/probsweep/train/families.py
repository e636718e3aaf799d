"""Model families beyond the seed's: body builders reached by `model._target_`, each with its keys
under model.<family>.* (config.py: NgramConfig, CnnConfig) and the input it reads (`@reads`).

Plain Keras: knows nothing of MLflow or tuners. Each returns a keras.Model from its input to one
feature vector per text; build_model adds the head, so the head/loss pairing, both mismatch paths and
the whole diagnosis are the same on every family. docs/families.md has the measured figures.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from probsweep.config import ConfigError
from probsweep.data.features import reads
from probsweep.train.model import load_vectors


@reads("ngrams")
def ngram_body(
    vocab_size: int, n_classes: int, max_len: int, *, embed_dim: int, hidden: int, dropout: float
) -> keras.Model:
    """The bag of word and character n-grams (probsweep.data.features.ngram_features): one embedding
    per n-gram, averaged over the text's n-grams (padding masked), then dropout and an optional ReLU
    layer. With hidden=0 the head sees a linear map of the bag, as the baseline's logistic regression."""
    ids = keras.Input(shape=(max_len,), dtype="int32", name="ngram_ids")
    x = layers.Embedding(vocab_size, embed_dim, mask_zero=True, name="ngram_embedding")(ids)
    x = layers.GlobalAveragePooling1D(name="bag")(x)  # the mask: the mean over the text's own n-grams
    x = layers.Dropout(dropout, name="dropout")(x)
    if hidden:
        x = layers.Dense(hidden, activation="relu", name="hidden")(x)
        x = layers.Dropout(dropout, name="hidden_dropout")(x)
    return keras.Model(ids, x, name="ngram_classifier")


def cnn_body(
    vocab_size: int,
    n_classes: int,
    max_len: int,
    embedding_matrix: np.ndarray | None,
    *,
    embed_dim: int,
    trainable_embedding: bool,
    dropout: float,
    widths: list[int],
    filters: int,
) -> keras.Model:
    """Kim (2014): the token embedding, one Conv1D(filters, width, ReLU) per width in parallel, each
    max-pooled over time, concatenated, dropout."""
    if max(widths) > max_len:
        raise ConfigError(
            f"model.cnn.widths={list(widths)} has a width above the texts' length {max_len} tokens: "
            f"use widths up to {max_len} or a larger data.max_len"
        )
    tokens = keras.Input(shape=(max_len,), dtype="int32", name="tokens")
    embedding = layers.Embedding(vocab_size, embed_dim, trainable=trainable_embedding, name="embedding")
    x = embedding(tokens)
    pooled = [
        layers.GlobalMaxPooling1D(name=f"max_pool_{w}")(
            layers.Conv1D(filters, w, activation="relu", name=f"conv_{w}")(x)
        )
        for w in widths
    ]
    x = layers.Concatenate(name="concatenate")(pooled) if len(pooled) > 1 else pooled[0]
    x = layers.Dropout(dropout, name="dropout")(x)
    load_vectors(embedding, embedding_matrix, vocab_size, embed_dim)
    return keras.Model(tokens, x, name="cnn_classifier")
