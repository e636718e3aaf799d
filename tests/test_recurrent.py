"""train/recurrent.py: both directions of a Bidirectional RNN in one loop give Keras's numbers, bit for bit."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from probsweep.train.recurrent import fusable, fuse_bidirectional

STEPS, VOCAB, CLASSES = 12, 40, 5

RNNS = {
    "seed GRU (reset_after=False, both dropouts)": lambda: layers.GRU(
        6, return_sequences=True, dropout=0.2, recurrent_dropout=0.3, reset_after=False
    ),
    "Keras 3 GRU (reset_after=True, input dropout)": lambda: layers.GRU(6, return_sequences=True, dropout=0.2),
    "LSTM": lambda: layers.LSTM(5, return_sequences=True, dropout=0.1, recurrent_dropout=0.2),
    "SimpleRNN": lambda: layers.SimpleRNN(4, return_sequences=True, dropout=0.2, recurrent_dropout=0.2),
    "GRU, last output only": lambda: layers.GRU(6, dropout=0.2, recurrent_dropout=0.3, reset_after=False),
}


def _model(rnn, *, one_loop: bool, mask_zero: bool = False, steps: int | None = STEPS) -> keras.Model:
    keras.utils.set_random_seed(7)  # the same weights and dropout seeds for both models
    tokens = keras.Input((steps,), dtype="int32")
    x = layers.Embedding(VOCAB, 8, mask_zero=mask_zero)(tokens)
    x = layers.Bidirectional(rnn())(x)
    if len(x.shape) == 3:
        x = layers.GlobalMaxPooling1D()(x)
    model = keras.Model(tokens, layers.Dense(CLASSES, activation="softmax")(x))
    if one_loop:
        fuse_bidirectional(model)
    return model


def _batch():
    rng = np.random.default_rng(0)
    x = rng.integers(1, VOCAB, (8, STEPS)).astype("int32")
    x[:3, -4:] = 0  # padding, for the masked case
    return tf.constant(x), tf.constant(rng.integers(0, CLASSES, 8).astype("int32"))


def _outputs_and_gradients(model, jit: bool):
    """Two training-mode steps (so the second draws new dropout masks), then an inference call."""

    @tf.function(jit_compile=jit)
    def step(x, y):
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, p))
        return p, [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)]

    x, y = _batch()
    first, grads = step(x, y)
    second, _ = step(x, y)
    return [first, second, model(x, training=False), *grads]


@pytest.mark.parametrize("jit", [False, True], ids=["eager-graph", "xla"])
@pytest.mark.parametrize("name", list(RNNS))
def test_one_loop_gives_keras_outputs_and_gradients_bit_for_bit(name, jit):
    keras_model = _model(RNNS[name], one_loop=False)
    one_loop = _model(RNNS[name], one_loop=True)
    assert "call" in vars(one_loop.layers[2]) and "call" not in vars(keras_model.layers[2])
    expected = _outputs_and_gradients(keras_model, jit)
    got = _outputs_and_gradients(one_loop, jit)
    assert len(got) == len(expected) == 3 + len(keras_model.trainable_variables)
    assert not np.array_equal(expected[0].numpy(), expected[1].numpy())  # dropout really drew new masks
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_layers_it_does_not_cover_keep_keras_call():
    assert fuse_bidirectional(_model(RNNS["LSTM"], one_loop=False)) == 1
    for rnn in (
        lambda: layers.GRU(4, return_sequences=True, unroll=True),
        lambda: layers.RNN(layers.GRUCell(4), return_sequences=True),  # a generic RNN: any cell
    ):
        assert fuse_bidirectional(_model(lambda rnn=rnn: rnn(), one_loop=False)) == 0
    summed = layers.Bidirectional(layers.GRU(4, return_sequences=True), merge_mode="sum")
    wider_backward = layers.Bidirectional(
        layers.GRU(4, return_sequences=True), backward_layer=layers.GRU(6, return_sequences=True, go_backwards=True)
    )
    assert not fusable(wider_backward)  # the two directions' outputs cannot be stacked
    assert not fusable(summed) and not fusable(layers.GRU(4)) and not fusable(layers.Dense(3))


@pytest.mark.parametrize("case", [{"mask_zero": True}, {"steps": None}], ids=["masked", "any-length"])
def test_a_call_it_does_not_cover_falls_back_to_keras_and_gives_its_numbers(case):
    keras_model = _model(RNNS["seed GRU (reset_after=False, both dropouts)"], one_loop=False, **case)
    one_loop = _model(RNNS["seed GRU (reset_after=False, both dropouts)"], one_loop=True, **case)
    assert "call" in vars(one_loop.layers[2])  # patched, but the call itself is Keras's
    for a, b in zip(_outputs_and_gradients(keras_model, False), _outputs_and_gradients(one_loop, False), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_the_model_still_saves_and_loads_as_plain_keras(tmp_path):
    model = _model(RNNS["seed GRU (reset_after=False, both dropouts)"], one_loop=True)
    x, _ = _batch()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom objects needed
    assert type(loaded.layers[2]) is layers.Bidirectional and "call" not in vars(loaded.layers[2])
    np.testing.assert_array_equal(model(x, training=False).numpy(), loaded(x, training=False).numpy())
