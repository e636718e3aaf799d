"""Tests for probsweep.probs.metrics against hand-worked numbers and the seed's two output vectors."""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from probsweep.head import Head
from probsweep.probs import metrics as m

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def seed():
    data = json.loads((FIXTURES / "seed_outputs.json").read_text())
    return {k: np.asarray(data[k], dtype=float)[None, :] for k in ("epoch_1", "epoch_128")}


# --- the seed's outputs (one example, 102 sigmoid outputs) --------------------------------


def test_seed_epoch_1_levels(seed):
    p = seed["epoch_1"]
    assert p.shape == (1, 102)
    assert m.prob_sum(p) == pytest.approx(40.20, abs=0.01)
    assert m.max_prob(p) == pytest.approx(0.9647, abs=1e-4)
    assert m.entropy_norm(p) == pytest.approx(0.954, abs=1e-3)


def test_seed_epoch_128_levels(seed):
    p = seed["epoch_128"]
    assert m.prob_sum(p) == pytest.approx(0.0674, abs=1e-4)
    assert m.max_prob(p) == pytest.approx(0.02685, abs=1e-5)
    assert m.entropy_norm(p) == pytest.approx(0.502, abs=1e-3)


# --- a hand-worked 3 x 3 softmax-like case ----------------------------------------------
# row 0: [0.70, 0.20, 0.10], y=0 -> correct, conf 0.70 (bin 10 = [10/15, 11/15))
# row 1: [0.50, 0.40, 0.10], y=1 -> wrong (argmax 0), conf 0.50 (bin 7 = [7/15, 8/15))
# row 2: [0.10, 0.15, 0.75], y=2 -> correct, conf 0.75 (bin 11 = [11/15, 12/15))
# accuracy = 2/3; max_prob = (0.70 + 0.50 + 0.75) / 3 = 0.65; prob_sum = 1
# ECE: every bin holds one example -> (1/3)(|1-0.70| + |0-0.50| + |1-0.75|) = 1.05/3 = 0.35
# Brier: row 0: 0.3^2 + 0.2^2 + 0.1^2 = 0.14; row 1: 0.5^2 + 0.6^2 + 0.1^2 = 0.62;
#        row 2: 0.1^2 + 0.15^2 + 0.25^2 = 0.095 -> mean 0.855/3 = 0.285
# NLL: -(ln 0.7 + ln 0.4 + ln 0.75)/3 = (0.356675 + 0.916291 + 0.287682)/3 = 0.520216
P3 = np.array([[0.70, 0.20, 0.10], [0.50, 0.40, 0.10], [0.10, 0.15, 0.75]])
Y3 = np.array([0, 1, 2])


def test_hand_case_each_metric():
    assert m.accuracy(P3, Y3) == pytest.approx(2 / 3)
    assert m.max_prob(P3) == pytest.approx(0.65)
    assert m.prob_sum(P3) == pytest.approx(1.0)
    assert m.ece(P3, Y3) == pytest.approx(0.35)
    assert m.brier(P3, Y3) == pytest.approx(0.285)
    assert m.nll(P3, Y3) == pytest.approx(0.520216, abs=1e-6)


def test_entropy_matches_scipy():
    from scipy.stats import entropy as scipy_entropy  # independent implementation

    expected = np.mean([scipy_entropy(row) for row in P3])
    assert m.entropy(P3) == pytest.approx(expected)
    assert m.entropy_norm(P3) == pytest.approx(expected / math.log(3))


# --- a sigmoid-like row that is not a distribution ---------------------------------------
# p = [0.9, 0.8, 0.3], y = 1: sum 2.0, max 0.9, argmax 0 -> wrong
# renormalised: [0.45, 0.40, 0.15]; NLL = -ln 0.40 = 0.916291
# Brier on raw: 0.9^2 + (0.8-1)^2 + 0.3^2 = 0.81 + 0.04 + 0.09 = 0.94
# entropy = 0.45*0.798508 + 0.40*0.916291 + 0.15*1.897120 = 1.010413 nats; / ln 3 = 0.919718
def test_non_distribution_row():
    p, y = np.array([[0.9, 0.8, 0.3]]), np.array([1])
    assert m.prob_sum(p) == pytest.approx(2.0)
    assert m.max_prob(p) == pytest.approx(0.9)
    assert m.accuracy(p, y) == 0.0
    np.testing.assert_allclose(m.renormalise(p), [[0.45, 0.40, 0.15]])
    assert m.nll(p, y) == pytest.approx(0.916291, abs=1e-6)
    assert m.brier(p, y) == pytest.approx(0.94)
    assert m.entropy(p) == pytest.approx(1.010413, abs=1e-6)
    assert m.entropy_norm(p) == pytest.approx(0.919718, abs=1e-6)
    # ECE on the RAW max (0.9, bin 13) against correctness 0: |0 - 0.9| = 0.9
    assert m.ece(p, y) == pytest.approx(0.9)


# --- edge cases ------------------------------------------------------------------------


def test_all_zero_row_is_finite():
    p, y = np.zeros((1, 4)), np.array([2])
    np.testing.assert_array_equal(m.renormalise(p), np.zeros((1, 4)))
    assert m.entropy(p) == 0.0
    assert m.nll(p, y) == pytest.approx(-math.log(1e-12))  # clipped, 27.631
    # argmax of an all-zero row is 0; with y = 0 it is "correct" at confidence 0.0, which
    # must land in the first bin: ECE = |1 - 0| = 1
    assert m.ece(p, np.array([0])) == pytest.approx(1.0)


def test_confidence_exactly_one_goes_in_last_bin():
    # row 0 conf 1.0 wrong, row 1 conf 0.95 correct; both in bin 14 = [14/15, 1]:
    # acc 0.5, mean conf 0.975 -> ECE = |0.5 - 0.975| = 0.475
    # (a separate bin for 1.0 would give 0.5*1.0 + 0.5*0.05 = 0.525)
    p = np.array([[1.0, 0.0, 0.0], [0.95, 0.05, 0.0]])
    assert m.ece(p, np.array([1, 0])) == pytest.approx(0.475)


def test_vector_is_one_example():
    assert m.max_prob([0.2, 0.5]) == pytest.approx(0.5)
    assert m.prob_sum([0.2, 0.5]) == pytest.approx(0.7)


def test_label_count_must_match():
    with pytest.raises(ValueError):
        m.accuracy(P3, np.array([0, 1]))


# --- to_probabilities -------------------------------------------------------------------


def test_linear_head_categorical_is_softmax():
    # exp(0), exp(ln 2), exp(ln 5) = 1, 2, 5 -> /8
    raw = np.array([[0.0, math.log(2), math.log(5)]])
    for loss in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        np.testing.assert_allclose(m.to_probabilities(raw, Head("linear", loss)), [[0.125, 0.25, 0.625]])


def test_linear_head_binary_is_sigmoid():
    # sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4
    raw = np.array([[0.0, math.log(3), -math.log(3)]])
    np.testing.assert_allclose(m.to_probabilities(raw, Head("linear", "binary_crossentropy")), [[0.5, 0.75, 0.25]])


def test_probability_heads_pass_through_unchanged():
    raw = np.array([[0.9, 0.8, 0.3]])  # not a distribution: must NOT be renormalised
    for act in ("sigmoid", "softmax"):
        out = m.to_probabilities(raw, Head(act, "sparse_categorical_crossentropy"))
        np.testing.assert_array_equal(out, raw)


def test_conversion_is_numerically_stable():
    raw = np.array([[1000.0, 0.0, -1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow RuntimeWarning fails the test
        sm = m.to_probabilities(raw, Head("linear", "sparse_categorical_crossentropy"))
        sg = m.to_probabilities(raw, Head("linear", "binary_crossentropy"))
    np.testing.assert_allclose(sm, [[1.0, 0.0, 0.0]], atol=1e-300)
    np.testing.assert_allclose(sg, [[1.0, 0.5, 0.0]], atol=1e-300)


def test_unknown_names_raise():
    with pytest.raises(ValueError):
        m.to_probabilities(P3, Head("tanh", "sparse_categorical_crossentropy"))
    with pytest.raises(ValueError):
        m.to_probabilities(P3, Head("linear", "hinge"))


# --- probability_metrics ----------------------------------------------------------------


def test_probability_metrics_dict():
    d = m.probability_metrics(P3, Y3, prefix="val_")
    assert set(d) == {
        "val_accuracy",
        "val_max_prob",
        "val_prob_sum",
        "val_entropy",
        "val_entropy_norm",
        "val_ece",
        "val_brier",
        "val_nll",
    }
    assert all(type(v) is float for v in d.values())
    assert d["val_ece"] == pytest.approx(0.35)
    assert d["val_brier"] == pytest.approx(0.285)
    assert d["val_accuracy"] == pytest.approx(2 / 3)
    assert set(m.probability_metrics(P3, Y3, prefix="test_")) == {k.replace("val_", "test_") for k in d}


def test_the_metric_list_names_what_is_computed():
    # every per-epoch metric is computed here (val_ prefix) or by Keras (loss, accuracy) or the monitor (seconds)
    computed = set(m.probability_metrics(P3, Y3, prefix="val_")) | {"loss", "accuracy", "val_loss", "epoch_seconds"}
    assert set(m.OBJECTIVES) == computed
    for view in (m.PROGRESS, m.FINAL, m.CURVES, m.CALIBRATION, m.REPORT):
        assert set(view) <= set(m.METRICS), view
    assert m.METRICS["val_brier"].direction == "min" and m.METRICS["val_accuracy"].direction == "max"
    assert m.METRICS["val_prob_sum"].direction is None and not m.METRICS["temperature"].per_epoch
