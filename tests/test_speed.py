"""The speed switches (issue 11) change how fast a training runs, never what it computes.

Timings are benchmarks (benchmarks/*speed*), not tests: these check the numbers are the same.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import SPEED_SWITCHES_OFF as OFF
from probsweep.config import validate
from probsweep.data.loading import load_dataset
from probsweep.head import Head
from probsweep.train.fit import ValidationScorer, fit
from probsweep.train.model import PATH_A, PATH_B, PATH_LOGITS, encode_targets

ON = [
    "train.single_validation_pass=true",
    "train.steps_per_execution=4",
    "train.clear_session=true",
    "train.one_loop_bidirectional=true",
    "train.trace_once=true",
    "train.fixed_prefetch=true",
    "train.overlap_compile=true",
]

HEADS = {
    "seed-mismatch-A": (
        ["model.activation=sigmoid", "model.loss=sparse_categorical_crossentropy", "model.mismatch_path=A"],
        PATH_A,
    ),
    "seed-mismatch-B": (
        ["model.activation=sigmoid", "model.loss=sparse_categorical_crossentropy", "model.mismatch_path=B"],
        PATH_B,
    ),
    "softmax+sparse": (["model.activation=softmax", "model.loss=sparse_categorical_crossentropy"], PATH_A),
    "softmax+categorical": (
        ["model.activation=softmax", "model.loss=categorical_crossentropy", "model.label_smoothing=0.1"],
        PATH_A,
    ),
    "sigmoid+binary": (
        ["model.activation=sigmoid", "model.loss=binary_crossentropy", "model.label_smoothing=0.05"],
        PATH_A,
    ),
    "logits+sparse": (["model.activation=linear", "model.loss=sparse_categorical_crossentropy"], PATH_LOGITS),
}


def _train(tiny, *overrides):
    cfg = validate(tiny(*overrides))
    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(cfg.model, cfg.train, data, cfg.seed), data, cfg


@pytest.mark.slow
@pytest.mark.parametrize("jit", [False, True])
def test_optimisations_on_and_off_give_the_same_per_epoch_metrics(tiny, jit):
    on, _, _ = _train(tiny, *ON, f"train.jit_compile={jit}", "model.mismatch_path=A")
    off, _, _ = _train(tiny, *OFF, f"train.jit_compile={jit}", "model.mismatch_path=A")
    a, b = on.monitor.history, off.monitor.history
    assert len(a) == len(b) == 2
    columns = [c for c in b.columns if c != "epoch_seconds"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "val_brier", "val_prob_sum"} <= set(columns)
    assert [c for c in a.columns if c in columns] == columns  # same keys, in the same order
    np.testing.assert_allclose(a[columns].to_numpy(float), b[columns].to_numpy(float), atol=1e-4, rtol=0)
    np.testing.assert_allclose(on.monitor.last_raw, off.monitor.last_raw, atol=1e-4, rtol=0)
    assert on.loss.path == off.loss.path == PATH_A


@pytest.mark.slow
@pytest.mark.parametrize("name", list(HEADS))
def test_single_pass_val_loss_equals_keras_val_loss_for_each_head(tiny, name):
    overrides, path = HEADS[name]
    trained, data, cfg = _train(tiny, *OFF, *overrides, "train.epochs=1")
    in_scope = data.y_val >= 0
    y = encode_targets(data.y_val[in_scope], data.n_classes, Head.of(cfg.model))
    keras_scores = trained.model.evaluate(data.x_val[in_scope], y, batch_size=len(y), verbose=0, return_dict=True)
    scorer = ValidationScorer(
        trained.model, trained.loss, data.y_val[in_scope], Head.of(cfg.model), data.n_classes, jit_compile=False
    )
    raw, scores = scorer(data.x_val, in_scope)
    assert scores["val_loss"] == pytest.approx(keras_scores["loss"], abs=1e-5)
    assert scores["val_accuracy"] == pytest.approx(keras_scores["accuracy"], abs=1e-6)
    np.testing.assert_allclose(raw, trained.model.predict(data.x_val, verbose=0), atol=1e-6)
    assert trained.loss.path == path  # scoring did not change the path the training recorded
    # ... and the single pass's val_loss is the one the monitor logged in a single-pass training
    if name in ("seed-mismatch-A", "seed-mismatch-B"):
        single, _, _ = _train(tiny, *ON, *overrides, "train.epochs=1")
        assert single.monitor.history["val_loss"].iloc[0] == pytest.approx(
            trained.monitor.history["val_loss"].iloc[0], abs=1e-5
        )


@pytest.mark.parametrize("jit", [False, True])
def test_trace_once_traces_the_train_step_once_instead_of_twice(tiny, monkeypatch, jit):
    """Keras creates Adam's slots inside the first trace, so TF traces the step again; built first, once."""
    import keras

    traces = []
    keras_train_step = keras.Model.train_step

    def counted(self, data):
        traces.append(self)  # runs once per trace: the compiled step never calls back into Python
        return keras_train_step(self, data)

    monkeypatch.setattr(keras.Model, "train_step", counted)
    counts = {}
    for on in (False, True):
        traces.clear()
        trained, _, _ = _train(tiny, f"train.trace_once={on}", f"train.jit_compile={jit}")
        assert trained.epochs_trained == 2 and all(t is trained.model for t in traces)
        counts[on] = len(traces)
    assert counts == {False: 2, True: 1}


def test_overlap_compile_traces_each_function_once_and_gives_the_same_weights_bit_for_bit(tiny, monkeypatch):
    """The warm-up runs the validation pass once before fit, to compile it, and puts the dropout seed
    states back: the training that follows is the same, to the last bit, as without the warm-up."""
    import keras

    from probsweep.train import fit as fitting

    traces = {"train": 0, "predict": 0}
    keras_train_step, keras_predict_step = keras.Model.train_step, keras.Model.predict_step

    def train_step(self, data):
        traces["train"] += 1
        return keras_train_step(self, data)

    def predict_step(self, data):
        traces["predict"] += 1
        return keras_predict_step(self, data)

    warmed = []
    keras_warm_up = fitting.ValidationScorer.warm_up

    def warm_up(self, x, model, train_batches):
        states = self.seed_states()
        before = [v.numpy() for v in states]
        keras_warm_up(self, x, model, train_batches)
        warmed.append([np.array_equal(v.numpy(), b) for v, b in zip(states, before, strict=True)])

    monkeypatch.setattr(keras.Model, "train_step", train_step)
    monkeypatch.setattr(keras.Model, "predict_step", predict_step)
    monkeypatch.setattr(fitting.ValidationScorer, "warm_up", warm_up)
    runs = {}
    for on in (True, False):
        traces.update(train=0, predict=0)
        trained, _, _ = _train(tiny, f"train.overlap_compile={on}", "train.jit_compile=true", "train.epochs=3")
        runs[on] = (trained, dict(traces))
    (on, on_traces), (off, off_traces) = runs[True], runs[False]
    assert len(warmed) == 1 and warmed[0] and all(warmed[0])  # the GRU's seed states, put back as they were
    assert on_traces == off_traces == {"train": 1, "predict": 1}  # the epoch-end predict reuses the warm-up's trace
    for a, b in zip(on.model.get_weights(), off.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    columns = [c for c in off.monitor.history.columns if c != "epoch_seconds"]
    np.testing.assert_array_equal(on.monitor.history[columns].to_numpy(), off.monitor.history[columns].to_numpy())
    assert on.monitor.history["epoch_seconds"].iloc[0] > 0


def test_fixed_prefetch_gives_the_same_batches_in_the_same_order():
    from probsweep.train.fit import batches

    x = np.arange(300, dtype="int32").reshape(100, 3)
    y = np.arange(100, dtype="int32")

    def epochs(fixed_prefetch):
        ds = batches(x, y, 8, 7, True, fixed_prefetch)
        return [np.concatenate([b.numpy() for b, _ in ds]) for _ in range(3)]  # one new iterator per epoch

    autotuned, fixed = epochs(False), epochs(True)
    assert [len(e) for e in fixed] == [96] * 3  # 12 full batches, the partial one dropped
    assert not np.array_equal(fixed[0], fixed[1])  # reshuffled every epoch
    for a, f in zip(autotuned, fixed, strict=True):
        np.testing.assert_array_equal(a, f)


def test_paths_a_and_b_give_different_val_losses_from_the_same_pass(tiny):
    """Guards the test above: the scorer really reads the logits on path A, the probabilities on path B."""
    import keras

    from probsweep.train.model import build_model, make_loss

    cfg_a = validate(tiny("model.mismatch_path=A"))
    cfg_b = validate(tiny("model.mismatch_path=B"))
    data = load_dataset(cfg_a.data, cfg_a.model.embed_dim, cfg_a.seed)
    keras.utils.set_random_seed(0)
    model = build_model(cfg_a.model, data.vocab_size, data.n_classes, data.x_train.shape[1], data.embedding_matrix)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        losses = [
            ValidationScorer(
                model, make_loss(c.model), data.y_val, Head.of(c.model), data.n_classes, jit_compile=False
            )(data.x_val, data.y_val >= 0)[1]["val_loss"]
            for c in (cfg_a, cfg_b)
        ]
    assert abs(losses[0] - losses[1]) > 1e-3


def test_process_memory_is_reported_and_a_large_one_process_sweep_is_told_how_to_stay_flat(capsys):
    from probsweep.sweep.tuner import memory_hint
    from probsweep.train.fit import process_memory

    mem = process_memory()
    assert 50 < mem["process_rss_mb"] <= mem["process_peak_rss_mb"]  # this test process, TF loaded
    assert memory_hint(3, share=0.0)  # any process holds more than 0% of the memory
    out = capsys.readouterr().out
    assert "after 3 trials" in out and "sweep.trials_per_worker=1" in out and out.count("\n") == 1
    assert not memory_hint(3, share=1.0)  # nobody holds all of it
    assert capsys.readouterr().out == ""
