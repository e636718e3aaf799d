"""The seed's model: its sizes, its head/loss/target wiring, and which path the mismatch takes."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from probsweep.config import ModelConfig
from probsweep.head import Head
from probsweep.train.model import (
    PATH_A,
    PATH_B,
    PATH_LOGITS,
    HeadLossMismatchWarning,
    build_model,
    compile_model,
    encode_targets,
)


def model_cfg(**overrides):
    return OmegaConf.merge(OmegaConf.structured(ModelConfig), overrides)


def test_seed_sizes_match_the_seed_summary_layer_by_layer():
    model = build_model(model_cfg(), vocab_size=884, n_classes=102, max_len=150, embedding_matrix=np.ones((884, 100)))
    params = {layer.name: layer.count_params() for layer in model.layers}
    # The seed's table: embedding 88,400, bidirectional 25,536, conv1d 6,176, dense 6,630.
    assert params["embedding"] == 88_400 and params["bidirectional"] == 25_536
    assert params["conv1d"] == 6_176 and params["head"] == 6_630
    assert model.count_params() == 126_742
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == 88_400
    assert model.get_layer("bidirectional").output.shape == (None, 150, 64)
    assert model.get_layer("conv1d").output.shape == (None, 148, 32)
    assert model.get_layer("concatenate").output.shape == (None, 64)
    assert np.allclose(model.get_layer("embedding").get_weights()[0], 1.0)


def test_trainable_embedding_moves_the_88400_weights_to_trainable():
    model = build_model(model_cfg(trainable_embedding=True), 884, 102, 150)
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == 0


@pytest.mark.parametrize(
    "setting,vectors,trainable",
    [
        ("auto", True, False),
        ("auto", False, True),  # auto: pretrained vectors stay frozen, a random start is trained
        (True, True, True),
        (False, False, False),  # an explicit setting wins
    ],
)
def test_auto_embedding_is_frozen_with_vectors_and_trained_without(setting, vectors, trainable):
    model = build_model(
        model_cfg(trainable_embedding=setting), 884, 102, 150, embedding_matrix=np.ones((884, 100)) if vectors else None
    )
    assert model.get_layer("embedding").trainable is trainable
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == (0 if trainable else 88_400)


def test_embedding_matrix_of_wrong_dimension_is_refused():
    with pytest.raises(ValueError, match="model.embed_dim"):
        build_model(model_cfg(), 884, 102, 150, embedding_matrix=np.ones((884, 50)))


@pytest.mark.parametrize(
    "loss,shape,dtype",
    [
        ("sparse_categorical_crossentropy", (3,), np.int32),
        ("categorical_crossentropy", (3, 4), np.float32),
        ("binary_crossentropy", (3, 4), np.float32),
    ],
)
def test_targets_are_encoded_to_match_the_loss(loss, shape, dtype):
    y = encode_targets(np.array([0, 3, 1]), 4, Head("softmax", loss))
    assert y.shape == shape and y.dtype == dtype
    if y.ndim == 2:
        assert (y.argmax(1) == [0, 3, 1]).all() and (y.sum(1) == 1).all()


def _fit_once(**overrides):
    cfg = model_cfg(embed_dim=8, gru_units=4, conv_filters=4, **overrides)
    model = build_model(cfg, vocab_size=20, n_classes=5, max_len=10)
    loss = compile_model(model, cfg, 1e-3, jit_compile=False)
    rng = np.random.default_rng(0)
    x, y = rng.integers(1, 20, (16, 10)).astype("int32"), rng.integers(0, 5, 16)
    model.fit(x, encode_targets(y, 5, Head.of(cfg)), epochs=1, batch_size=8, verbose=0)
    return model, loss, x, y


@pytest.mark.parametrize(
    "overrides,path,warns",
    [
        ({"activation": "sigmoid", "loss": "sparse_categorical_crossentropy", "mismatch_path": "A"}, PATH_A, True),
        ({"activation": "sigmoid", "loss": "sparse_categorical_crossentropy", "mismatch_path": "B"}, PATH_B, True),
        ({"activation": "softmax", "loss": "categorical_crossentropy"}, PATH_A, False),
        ({"activation": "sigmoid", "loss": "binary_crossentropy"}, PATH_A, False),
        ({"activation": "linear", "loss": "sparse_categorical_crossentropy"}, PATH_LOGITS, False),
    ],
)
def test_each_pairing_trains_and_records_its_loss_path(overrides, path, warns):
    with pytest.warns(HeadLossMismatchWarning) if warns else _no_mismatch_warning():
        model, loss, x, _ = _fit_once(**overrides)
    assert loss.path == path
    assert model.predict(x, verbose=0).shape == (16, 5)


class _no_mismatch_warning:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("error", HeadLossMismatchWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def test_path_a_and_path_b_compute_different_losses_for_the_same_outputs():
    """A: softmax cross-entropy of the cached logits. B: -log(p_y / sum p) of the sigmoid outputs."""
    logits = np.array([[2.0, -1.0, 0.5]], dtype="float32")
    y = np.array([0])
    sig = 1 / (1 + np.exp(-logits))
    expect_a = -np.log(np.exp(logits[0, 0]) / np.exp(logits).sum())
    expect_b = -np.log(sig[0, 0] / sig.sum())
    cfg_a, cfg_b = (model_cfg(mismatch_path=p) for p in "AB")
    inputs = keras.Input((3,))
    outputs = keras.layers.Activation("sigmoid")(inputs)
    for cfg, expect in ((cfg_a, expect_a), (cfg_b, expect_b)):
        m = keras.Model(inputs, outputs)
        with pytest.warns(HeadLossMismatchWarning):
            compile_model(m, cfg, 1e-3, jit_compile=False)
        assert m.evaluate(logits, y, verbose=0)[0] == pytest.approx(float(expect), rel=1e-4)


def test_label_smoothing_changes_the_categorical_loss_as_keras_defines_it():
    p = np.array([[0.7, 0.2, 0.1]], dtype="float32")
    y = np.array([[1.0, 0.0, 0.0]], dtype="float32")
    eps = 0.1
    smoothed = y * (1 - eps) + eps / 3
    expect = -(smoothed * np.log(p)).sum()
    inputs = keras.Input((3,))
    m = keras.Model(inputs, keras.layers.Identity()(inputs))
    compile_model(m, model_cfg(activation="softmax", loss="categorical_crossentropy", label_smoothing=eps), 1e-3, False)
    assert m.evaluate(p, y, verbose=0)[0] == pytest.approx(float(expect), rel=1e-4)
