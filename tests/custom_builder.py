"""A user's own model bodies, as docs/configuration.md ("Bring your own model") describes them.

Importable in the tests as `custom_builder` (pytest puts tests/ on the path):
    model._target_=custom_builder.average_body +model.kwargs.pool=max
"""

from __future__ import annotations

import keras
import numpy as np


def average_body(
    vocab_size: int,
    n_classes: int,
    max_len: int,
    embedding_matrix: np.ndarray | None,
    *,
    embed_dim: int,  # a typed key of ModelConfig: named here, so the builder receives model.embed_dim
    dropout: float,  # likewise model.dropout (the default sweep's space varies it)
    pool: str = "average",  # the builder's own keyword: model.kwargs.pool
) -> keras.Model:
    """Embedding -> GlobalAveragePooling1D (or max) -> Dropout: token ids in, features out, no head."""
    tokens = keras.Input(shape=(max_len,), dtype="int32", name="tokens")
    init = "uniform" if embedding_matrix is None else keras.initializers.Constant(embedding_matrix)
    x = keras.layers.Embedding(vocab_size, embed_dim, embeddings_initializer=init, name="embedding")(tokens)
    pooling = keras.layers.GlobalMaxPooling1D if pool == "max" else keras.layers.GlobalAveragePooling1D
    x = pooling(name=f"{pool}_pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(tokens, x, name="average_body")


def sequence_body(vocab_size: int, n_classes: int, max_len: int, embedding_matrix: np.ndarray | None) -> keras.Model:
    """A wrong body: it forgets to pool, so its output has one vector per token."""
    tokens = keras.Input(shape=(max_len,), dtype="int32")
    return keras.Model(tokens, keras.layers.Embedding(vocab_size, 4)(tokens))


def sizes_only(vocab_size: int, n_classes: int) -> keras.Model:
    """A wrong builder: it does not take the sequence length or the embedding matrix."""
    raise AssertionError("never called: the signature is refused first")
