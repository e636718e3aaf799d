"""Tests for probsweep.calibration: temperature, thresholds, out-of-scope rejection."""

import json
import math

import numpy as np
import pytest

from probsweep.head import Head
from probsweep.probs import calibration as c
from probsweep.probs import metrics as m

# --- logits_from_outputs ----------------------------------------------------------------


def test_logits_from_sigmoid_outputs():
    # logit(0.5) = 0, logit(0.75) = ln 3, logit(0.25) = -ln 3
    z = c.logits_from_outputs(np.array([[0.5, 0.75, 0.25]]), Head("sigmoid", "binary_crossentropy"))
    np.testing.assert_allclose(z, [[0.0, math.log(3), -math.log(3)]])
    # at T = 1 the single-label probabilities are the normalised odds: 1, 3, 1/3 -> /(13/3)
    np.testing.assert_allclose(c.apply_temperature(z, 1.0), [[3 / 13, 9 / 13, 1 / 13]])


def test_logits_from_saturated_outputs_are_finite():
    z = c.logits_from_outputs(np.array([[1.0, 0.0]]), Head("sigmoid", "binary_crossentropy"))
    np.testing.assert_allclose(z, [[math.log(1e12), -math.log(1e12)]], rtol=1e-3)
    z = c.logits_from_outputs(np.array([[1.0, 0.0]]), Head("softmax", "binary_crossentropy"))
    np.testing.assert_allclose(z, [[0.0, math.log(1e-12)]])


def test_softmax_and_linear_roundtrip():
    p = np.array([[0.125, 0.25, 0.625]])
    np.testing.assert_allclose(
        c.apply_temperature(c.logits_from_outputs(p, Head("softmax", "binary_crossentropy")), 1), p
    )
    raw = np.array([[1.0, -2.0, 3.0]])
    np.testing.assert_array_equal(c.logits_from_outputs(raw, Head("linear", "binary_crossentropy")), raw)


# --- temperature scaling ----------------------------------------------------------------


@pytest.fixture(scope="module")
def calibrated_logits():
    rng = np.random.default_rng(0)
    n, k = 20000, 5
    z = rng.normal(scale=1.5, size=(n, k))
    # labels drawn from softmax(z) via the Gumbel-max trick: z is calibrated by construction
    y = np.argmax(z + rng.gumbel(size=(n, k)), axis=1)
    return z, y


def test_fit_temperature_recovers_known_factor(calibrated_logits):
    z, y = calibrated_logits
    over = 3.0 * z  # over-confident: the true T is 3
    t = c.fit_temperature(over, y)
    assert t == pytest.approx(3.0, rel=0.10)
    ece_before = m.ece(m.softmax(over), y)
    ece_after = m.ece(c.apply_temperature(over, t), y)
    assert ece_after < ece_before / 3
    assert ece_after < 0.02
    # one scalar cannot change the argmax
    assert m.accuracy(c.apply_temperature(over, t), y) == m.accuracy(over, y)


def test_fit_temperature_on_calibrated_logits_is_about_one(calibrated_logits):
    z, y = calibrated_logits
    assert c.fit_temperature(z, y) == pytest.approx(1.0, rel=0.10)
    assert c.fit_temperature(z / 2.0, y) == pytest.approx(0.5, rel=0.10)  # under-confident


# --- coverage and precision thresholds ---------------------------------------------------
# conf [0.9, 0.8, 0.8, 0.6], correct [1, 0, 1, 0]
# t=0.9: keep 1 -> coverage 0.25, accuracy 1
# t=0.8: keep 3 -> coverage 0.75, accuracy 2/3
# t=0.6: keep 4 -> coverage 1.00, accuracy 2/4
CONF = np.array([0.9, 0.8, 0.8, 0.6])
CORRECT = np.array([1, 0, 1, 0])


def test_coverage_curve_by_hand():
    df = c.coverage_curve(CONF, CORRECT)
    assert list(df.columns) == ["threshold", "coverage", "selective_accuracy"]
    np.testing.assert_allclose(df["threshold"], [0.9, 0.8, 0.6])
    np.testing.assert_allclose(df["coverage"], [0.25, 0.75, 1.0])
    np.testing.assert_allclose(df["selective_accuracy"], [1.0, 2 / 3, 0.5])


def test_threshold_for_precision_by_hand():
    r = c.threshold_for_precision(CONF, CORRECT, target=0.95)
    assert r == pytest.approx({"threshold": 0.9, "coverage": 0.25, "precision": 1.0, "reached": True})
    r = c.threshold_for_precision(CONF, CORRECT, target=0.6)
    assert (r["threshold"], r["reached"]) == (0.8, True)
    assert r["precision"] == pytest.approx(2 / 3)


def test_threshold_not_reached_is_reported():
    # t=0.9 keeps one wrong (precision 0); t=0.8 keeps one of two right (0.5): best is 0.8
    r = c.threshold_for_precision([0.9, 0.8], [0, 1], target=0.95)
    assert r["reached"] is False
    assert (r["threshold"], r["precision"], r["coverage"]) == (0.8, 0.5, 1.0)


def test_chosen_threshold_reaches_target_and_is_lowest():
    rng = np.random.default_rng(1)
    conf = rng.uniform(size=2000)
    correct = rng.uniform(size=2000) < conf  # accuracy rises with confidence
    r = c.threshold_for_precision(conf, correct, target=0.9)
    assert r["reached"]
    ev = c.evaluate_threshold(conf, correct, r["threshold"])
    assert ev["precision"] >= 0.9
    assert ev["coverage"] == pytest.approx(r["coverage"])
    # brute force: no lower threshold reaches the target
    for t in np.unique(conf[conf < r["threshold"]]):
        assert correct[conf >= t].mean() < 0.9


def test_evaluate_threshold_by_hand():
    # t=0.7 keeps 0.9, 0.8, 0.8 -> coverage 3/4, precision 2/3
    ev = c.evaluate_threshold(CONF, CORRECT, 0.7)
    assert ev == pytest.approx({"coverage": 0.75, "precision": 2 / 3})
    ev = c.evaluate_threshold(CONF, CORRECT, 0.99)
    assert ev["coverage"] == 0.0 and math.isnan(ev["precision"])


# --- per-class thresholds ---------------------------------------------------------------
# y = [0, 0, 1, 0, 1]
# class 0 scores [0.9, 0.8, 0.7, 0.6, 0.2] (positives: 0.9, 0.8, 0.6)
#   t=0.9 P=1 R=1/3; t=0.8 P=1 R=2/3; t=0.7 P=2/3; t=0.6 P=3/4 R=1; t=0.2 P=3/5
#   target 0.95 -> 0.8 (best recall with P >= 0.95); target 0.7 -> 0.6
# class 1 scores [0.6, 0.5, 0.4, 0.3, 0.2] (positives: 0.4, 0.2): precision never >= 0.95
#   F1: t=0.6,0.5 -> 0; t=0.4 P=1/3 R=1/2 F1=0.4; t=0.3 P=1/4 R=1/2 F1=1/3;
#   t=0.2 P=2/5 R=1 F1=0.8/1.4=0.571 -> 0.2
# class 2 scores [0.1, 0.2, 0.3, 0.05, 0.0]: no positives -> just above 0.3
P_OVR = np.array([[0.9, 0.6, 0.1], [0.8, 0.5, 0.2], [0.7, 0.4, 0.3], [0.6, 0.3, 0.05], [0.2, 0.2, 0.0]])
Y_OVR = np.array([0, 0, 1, 0, 1])


def test_per_class_thresholds_crafted():
    th = c.per_class_thresholds(P_OVR, Y_OVR, target=0.95)
    assert set(th) == {0, 1, 2}
    assert th[0] == 0.8
    assert th[1] == 0.2
    assert th[2] > 0.3 and th[2] == pytest.approx(0.3)
    assert not (P_OVR[:, 2] >= th[2]).any()
    assert c.per_class_thresholds(P_OVR, Y_OVR, target=0.7)[0] == 0.6
    json.dumps(th)  # plain ints and floats
    assert all(type(k) is int and type(v) is float for k, v in th.items())


# --- out-of-scope rejection -------------------------------------------------------------
# idx   0     1    2    3    4    5    6    7
# conf  0.95  0.9  0.8  0.7  0.6  0.5  0.4  0.3
# y     0     1    2    0    1    -1   2    -1
# pred  0     1    0    0    1    2    0    0
# in-scope correct if accepted: idx 0, 1, 3, 4 (idx 2 and 6 are wrong anyway)
# correct out of 8 at each threshold (accepted = conf >= t; rejected oos counts as correct):
#   t=0.3: 4 + 0 = 4   t=0.4: 4 + 1 = 5   t=0.5: 4 + 1 = 5   t=0.6: 4 + 2 = 6  <- best
#   t=0.7: 3 + 2 = 5   t=0.8: 2 + 2 = 4   t=0.9: 2 + 2 = 4   t=0.95: 1 + 2 = 3
# at t=0.6: in-scope accuracy 4/6, oos recall 2/2
# AUROC, in-scope positive: oos 0.5 is below 5 of the 6 in-scope (not 0.4), oos 0.3 below all 6
#   -> (5 + 6) / (6 * 2) = 11/12
OOS_CONF = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
OOS_Y = np.array([0, 1, 2, 0, 1, -1, 2, -1])
OOS_PRED = np.array([0, 1, 0, 0, 1, 2, 0, 0])


def test_choose_rejection_threshold_by_hand():
    assert c.choose_rejection_threshold(OOS_CONF, OOS_PRED, OOS_Y) == 0.6


def test_oos_metrics_by_hand():
    r = c.oos_metrics(OOS_CONF, OOS_PRED, OOS_Y, 0.6)
    assert r == pytest.approx({"in_scope_accuracy": 4 / 6, "oos_recall": 1.0, "auroc": 11 / 12})
    # t=0.45: idx 6 rejected (was wrong anyway), oos 0.5 accepted -> recall 1/2
    r = c.oos_metrics(OOS_CONF, OOS_PRED, OOS_Y, 0.45)
    assert r["in_scope_accuracy"] == pytest.approx(4 / 6)
    assert r["oos_recall"] == pytest.approx(0.5)


def test_auroc_counts_ties_as_half():
    # move idx 6 to 0.5, tied with the oos 0.5: that pair counts 1/2 -> (5.5 + 6) / 12
    conf = OOS_CONF.copy()
    conf[6] = 0.5
    assert c.oos_metrics(conf, OOS_PRED, OOS_Y, 0.6)["auroc"] == pytest.approx(11.5 / 12)


def test_rejection_ties_go_to_the_lower_threshold():
    # conf with idx 6 = 0.5 and pred 2 (correct): t=0.5 -> 5 + 1 = 6, t=0.6 -> 4 + 2 = 6
    conf, pred = OOS_CONF.copy(), OOS_PRED.copy()
    conf[6], pred[6] = 0.5, 2
    assert c.choose_rejection_threshold(conf, pred, OOS_Y) == 0.5


def test_reject_everything_is_a_candidate():
    # conf [0.7, 0.8, 0.9], y [0, -1, -1], the one in-scope prediction wrong:
    # t=0.7: 0/3, t=0.8: 0/3, t=0.9: 1/3, t above 0.9 (reject all): 2/3 -> best
    t = c.choose_rejection_threshold([0.7, 0.8, 0.9], [1, 1, 1], [0, -1, -1])
    assert t > 0.9
    assert c.oos_metrics([0.7, 0.8, 0.9], [1, 1, 1], [0, -1, -1], t)["oos_recall"] == 1.0


def test_auroc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    y = np.where(rng.uniform(size=500) < 0.2, -1, rng.integers(0, 5, size=500))
    conf = np.round(rng.uniform(size=500) + 0.3 * (y != -1), 1)  # rounding makes ties
    expected = roc_auc_score((y != -1).astype(int), conf)
    assert c.oos_metrics(conf, np.zeros(500, int), y, 0.5)["auroc"] == pytest.approx(expected)
    assert math.isnan(c.auroc([0.1, 0.2], [True, True]))
