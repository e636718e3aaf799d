"""The end-of-training analysis on crafted outputs: calibration, thresholds, out-of-scope, diagnosis."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from probsweep.head import Head
from probsweep.probs import metrics
from probsweep.probs.analysis import analyse
from probsweep.probs.metrics import reliability_bins


def overconfident_softmax(n=3000, k=5, factor=3.0, seed=0, n_oos=0):
    """Labels drawn from softmax(z), outputs softmax(factor * z): over-confident by a known factor."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, k))
    y = np.array([rng.choice(k, p=row) for row in metrics.softmax(z)])
    if n_oos:
        z[:n_oos] = rng.normal(0, 0.2, (n_oos, k))  # out-of-scope: flat logits, low confidence
        y[:n_oos] = -1
    return metrics.softmax(factor * z), y


def history_frame(epochs=3):
    return pd.DataFrame(
        {
            "epoch": range(1, epochs + 1),
            "val_accuracy": [0.5] * epochs,
            "val_ece": [0.05] * epochs,
            "val_nll": [1.0] * epochs,
            "val_prob_sum": [1.0] * epochs,
            "val_max_prob": [0.6] * epochs,
        }
    )


def test_reliability_bins_count_every_example_once():
    p, y = overconfident_softmax(n=500)
    bins = reliability_bins(p, y)
    assert len(bins) == 15 and bins["count"].sum() == 500
    filled = bins.dropna()
    weighted_gap = (filled["count"] * (filled["confidence"] - filled["accuracy"]).abs()).sum() / 500
    assert weighted_gap == np.float64(metrics.ece(p, y)) or abs(weighted_gap - metrics.ece(p, y)) < 1e-9


def test_calibration_lowers_ece_and_threshold_reaches_target_on_val():
    p_val, y_val = overconfident_softmax(seed=1)
    p_test, y_test = overconfident_softmax(seed=2)
    out = analyse(
        Head("softmax", "sparse_categorical_crossentropy"),
        p_val,
        y_val,
        raw_test=p_test,
        y_test=y_test,
        loss_path="A",
        history=history_frame(),
        target_precision=0.9,
    )
    report = json.loads(out.files["calibration.json"])
    assert 2.5 < out.metrics["temperature"] < 3.5
    assert report["val"]["ece_after"] < report["val"]["ece_before"] / 2
    assert out.metrics["test_ece_calibrated"] < out.metrics["test_ece"]
    threshold = json.loads(out.files["threshold.json"])
    assert threshold["reached"] and threshold["val_precision"] >= 0.9
    assert 0 < threshold["test_coverage"] <= 1 and threshold["test_precision"] > 0.8
    assert out.files["reliability.png"].startswith(b"\x89PNG")
    assert "thresholds.json" not in out.files  # per-class thresholds are for sigmoid heads
    assert out.tags["diagnosis_flags"] == ""
    # Test figures beside the validation ones, from the raw test outputs.
    assert out.metrics["test_accuracy"] == metrics.accuracy(p_test, y_test)
    assert out.metrics["test_brier"] == metrics.brier(p_test, y_test)
    assert out.metrics["test_nll"] == metrics.nll(p_test, y_test)
    np.testing.assert_allclose(out.calibrated["test"].sum(axis=1), 1.0)


def test_probes_and_per_class_table_name_classes_by_label():
    p_val, y_val = overconfident_softmax(n=60, k=3, seed=6)
    probes = pd.DataFrame(
        [
            {"epoch": e, "probe": i, "class": k, "output": float(p_val[i, k])}
            for e in (1, 2)
            for i in (0, 5)
            for k in range(3)
        ]
    )
    names = ["weather", "music", "alarm"]
    out = analyse(
        Head("softmax", "sparse_categorical_crossentropy"),
        p_val,
        y_val,
        history=history_frame(),
        probes=probes,
        target_precision=0.9,
        class_names=names,
    )
    logged = out.files["probes.csv"]
    assert set(logged["label"]) == set(names)
    assert list(logged[logged["probe"] == 5]["true_label"].unique()) == [names[y_val[5]]]
    table = out.files["per_class.csv"]
    assert list(table["label"]) == names and table["val_n"].sum() == 60
    for k, name in enumerate(names):
        pred = p_val.argmax(axis=1)
        assert table.set_index("label").loc[name, "val_recall"] == (pred[y_val == k] == k).mean()


def test_sigmoid_mismatch_gets_flags_and_per_class_thresholds():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 400)
    raw = np.full((400, 4), 0.001) + rng.uniform(0, 0.001, (400, 4))
    raw[np.arange(400), y] = 0.03  # the seed after 128 epochs: right argmax, every output near 0
    out = analyse(
        Head("sigmoid", "sparse_categorical_crossentropy", "B"),
        raw,
        y,
        loss_path="B",
        history=history_frame(),
        target_precision=0.95,
        class_names=["book", "cancel", "pay", "track"],
    )
    flags = out.tags["diagnosis_flags"].split(",")
    assert {"not_a_distribution", "head_loss_mismatch", "collapse"} <= set(flags)
    assert out.tags["diag.collapse"] == "true"
    assert set(json.loads(out.files["thresholds.json"])) == {"book", "cancel", "pay", "track"}  # by label, not index
    assert list(out.files["per_class.csv"]["label"]) == ["book", "cancel", "pay", "track"]
    assert "test_ece" not in out.metrics


def test_out_of_scope_rejection_is_reported_on_test():
    p_val, y_val = overconfident_softmax(seed=4, factor=1.0, n_oos=300)
    p_test, y_test = overconfident_softmax(seed=5, factor=1.0, n_oos=300)
    out = analyse(
        Head("softmax", "sparse_categorical_crossentropy"),
        p_val,
        y_val,
        raw_test=p_test,
        y_test=y_test,
        loss_path="A",
        history=history_frame(),
        target_precision=0.95,
    )
    oos = json.loads(out.files["oos.json"])
    assert oos["reported_on"] == "test"
    assert oos["auroc"] > 0.8 and 0 < oos["oos_recall"] <= 1
    assert out.metrics["oos_auroc"] == oos["auroc"]
