"""probsweep.check: the static check of a compiled model, over every pairing of the three heads and the three
losses, an op between the activation and the loss (path B), the training's own HeadLoss, and its import cost."""

import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from keras import layers

import probsweep
from probsweep.compiled import PATH_A, PATH_B, PATH_LOGITS, path_taken
from probsweep.config import ModelConfig
from probsweep.head import FIX_PAIRING
from probsweep.train.model import compile_model

SPARSE, CATEGORICAL, BINARY = "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy"
LOSS_OBJECTS = {
    SPARSE: keras.losses.SparseCategoricalCrossentropy,
    CATEGORICAL: keras.losses.CategoricalCrossentropy,
    BINARY: keras.losses.BinaryCrossentropy,
}


def model(activation, loss, between=None):
    x = inputs = keras.Input((4,))
    x = layers.Dense(3, activation=activation, name="head")(x)
    if between is not None:
        x = between(x)
    m = keras.Model(inputs, x)
    m.compile(loss=loss)
    return m


# (activation, loss) -> ok, path. The linear head is checked with the loss told from_logits=True (its
# healthy form); its plain-string form is a mismatch of its own below.
PAIRINGS = {
    ("sigmoid", SPARSE): (False, PATH_A),  # the seed's pairing
    ("sigmoid", CATEGORICAL): (False, PATH_A),
    ("sigmoid", BINARY): (True, None),
    ("softmax", SPARSE): (True, None),
    ("softmax", CATEGORICAL): (True, None),
    ("softmax", BINARY): (False, PATH_A),
    ("linear", SPARSE): (True, PATH_LOGITS),
    ("linear", CATEGORICAL): (True, PATH_LOGITS),
    ("linear", BINARY): (True, PATH_LOGITS),
}


@pytest.mark.parametrize(("activation", "loss"), list(PAIRINGS))
def test_every_head_with_every_loss(activation, loss):
    compiled = LOSS_OBJECTS[loss](from_logits=True) if activation == "linear" else loss
    found = probsweep.check(model(activation, compiled))
    ok, path = PAIRINGS[(activation, loss)]
    assert (found.activation, found.loss, found.ok, found.path) == (activation, loss, ok, path)
    if ok:
        assert found.fix == "" and "matches" in found.verdict and str(found) == found.verdict
    else:
        assert found.fix == FIX_PAIRING and f"path {path}" in found.verdict and "Fix: " in str(found)
    assert found.seed_pairing == ((activation, loss) == ("sigmoid", SPARSE))


@pytest.mark.parametrize("loss", [SPARSE, CATEGORICAL])
def test_linear_head_with_a_loss_that_reads_probabilities(loss):
    found = probsweep.check(model("linear", loss))
    assert found.ok is False and found.path == PATH_B and "from_logits=True" in found.fix


def test_activation_followed_by_a_loss_from_logits():
    found = probsweep.check(model("sigmoid", keras.losses.BinaryCrossentropy(from_logits=True)))
    assert found.ok is False and "applies its own link again" in found.verdict


def test_an_op_between_the_activation_and_the_loss_is_path_b():
    found = probsweep.check(model("sigmoid", SPARSE, layers.Lambda(lambda t: t * 1.0, name="scale")))
    assert found.activation == "sigmoid" and found.mismatch and found.path == PATH_B
    assert "path B" in found.verdict and "clips the outputs" in found.verdict
    # an identity or a linear Activation hands the very tensor on: the logits stay cached, path A
    assert probsweep.check(model("sigmoid", SPARSE, layers.Identity())).path == PATH_A
    assert probsweep.check(model("sigmoid", SPARSE, layers.Activation("linear"))).path == PATH_A


def test_static_path_agrees_with_the_tensor_the_loss_receives():
    """The check's path is the one path_taken (the training's own rule) finds on the model's real output."""
    x = np.zeros((2, 4), "float32")
    for between in (None, layers.Lambda(lambda t: t + 0.0), layers.Identity()):
        m = model("sigmoid", SPARSE, between)
        assert probsweep.check(m).path == path_taken(m(x), from_logits=False)


def test_softmax_layer_and_nested_model():
    inputs = keras.Input((4,))
    inner = keras.Model(inputs, layers.Softmax()(layers.Dense(3)(inputs)))
    outer_in = keras.Input((4,))
    m = keras.Model(outer_in, inner(outer_in))
    m.compile(loss=BINARY)
    found = probsweep.check(m)
    assert found.activation == "softmax" and found.mismatch


@pytest.mark.parametrize(("path", "expected"), [("A", PATH_A), ("B", PATH_B)])
def test_the_trainings_own_loss_names_its_path(path, expected):
    cfg = ModelConfig(activation="sigmoid", loss=SPARSE, mismatch_path=path)
    m = model("sigmoid", None)
    with pytest.warns(UserWarning):
        compile_model(m, cfg, 1e-3, jit_compile=False)
    found = probsweep.check(m)
    assert found.seed_pairing and found.path == expected and found.head is not None


def test_uncompiled_or_unknown_loss_is_not_checked():
    inputs = keras.Input((4,))
    bare = keras.Model(inputs, layers.Dense(3, activation="softmax")(inputs))
    assert probsweep.check(bare).ok is None
    assert probsweep.check(model("softmax", "mse")).ok is None


def test_milliseconds():
    m = model("sigmoid", SPARSE)
    t0 = time.perf_counter()
    for _ in range(100):
        probsweep.check(m)
    assert (time.perf_counter() - t0) / 100 < 0.05  # generous: about 0.1 ms measured


def test_import_cost():
    """probsweep.keras and probsweep.check bring Keras, never MLflow, Hydra or Keras Tuner."""
    code = (
        "import sys, keras\n"
        "import probsweep.keras, probsweep\n"
        "i = keras.Input((4,)); m = keras.Model(i, keras.layers.Dense(3, activation='sigmoid')(i))\n"
        "m.compile(loss='sparse_categorical_crossentropy'); print(probsweep.check(m).path)\n"
        "print(sorted({n.split('.')[0] for n in sys.modules} & {'mlflow', 'hydra', 'keras_tuner', 'kerastuner'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split() == ["A", "[]"]
