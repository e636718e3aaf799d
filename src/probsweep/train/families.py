"""Model families beyond the seed's: body builders reached by `model._target_`, each with its keys
under model.<family>.* (config.py: NgramConfig, CnnConfig) and the input it reads (`@reads`).

Plain Keras: knows nothing of MLflow or tuners. Each returns a keras.Model from its input to one
feature vector per text; build_model adds the head, so the head/loss pairing, both mismatch paths and
the whole diagnosis are the same on every family. docs/families.md has the measured figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers

from probsweep.config import ConfigError
from probsweep.data.features import reads
from probsweep.train.model import load_vectors


@keras.saving.register_keras_serializable(package="probsweep")
class SparseDropout(layers.Layer):
    """Dropout that also takes a sparse tensor: it drops stored values (present n-grams), so the bag's
    input dropout never densifies 24,000 features per text. Dense inputs get ordinary dropout."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.rate, self.seed = float(rate), seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, x: Any, training: bool = False) -> Any:
        if not training or self.rate == 0:
            return x
        import tensorflow as tf

        if isinstance(x, tf.SparseTensor):
            values = keras.random.dropout(x.values, self.rate, seed=self.seed_generator)
            return tf.SparseTensor(x.indices, values, x.dense_shape)
        return keras.random.dropout(x, self.rate, seed=self.seed_generator)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@reads("ngrams")
def ngram_body(n_features: int, n_classes: int, *, hidden: int, dropout: float) -> keras.Model:
    """The baseline's TF-IDF vector (probsweep.data.features.ngram_features), sparse, with dropout on
    its present n-grams, then one ReLU layer and dropout. With hidden=0 the head sees the vector itself:
    the baseline's logistic regression, regularised by dropout instead of C."""
    bag = keras.Input(shape=(n_features,), sparse=True, name="tfidf")
    x = SparseDropout(dropout, name="ngram_dropout")(bag)
    if hidden:
        x = layers.Dense(hidden, activation="relu", name="hidden")(x)
        x = layers.Dropout(dropout, name="hidden_dropout")(x)
    return keras.Model(bag, x, name="ngram_classifier")


class NgramTextModel:
    """The served `ngram` model: raw strings -> the fitted TF-IDF vectorizer -> the Keras model (body and
    head), saved side by side in one folder (vectorizer.joblib, model.keras)."""

    VECTORIZER, MODEL = "vectorizer.joblib", "model.keras"

    def __init__(self, featurizer: Any, model: keras.Model):
        self.featurizer, self.model = featurizer, model

    @classmethod
    def of(cls, featurizer: Any, model: keras.Model) -> NgramTextModel:
        return cls(featurizer, keras.Model(model.inputs, model.outputs, name="classifier"))  # no compile state

    def predict(self, texts: Any) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, int(self.model.outputs[0].shape[-1])), np.float32)
        x = self.featurizer.transform(texts)
        return np.asarray(self.model.predict(x, batch_size=min(4096, x.shape[0]), verbose=0))

    def save(self, folder: Any) -> None:
        import joblib

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.featurizer.vectorizer, folder / self.VECTORIZER)
        self.model.save(folder / self.MODEL)

    @classmethod
    def load(cls, folder: Any) -> NgramTextModel:
        import joblib

        from probsweep.data.features import TfidfFeaturizer

        folder = Path(folder)
        model = keras.saving.load_model(folder / cls.MODEL, compile=False)
        return cls(TfidfFeaturizer(joblib.load(folder / cls.VECTORIZER)), model)


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
