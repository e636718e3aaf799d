"""Tests for probsweep.probs.diagnosis: every flag fires on a crafted case, none on a healthy run."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from probsweep.head import Head
from probsweep.probs.diagnosis import diagnose, flags_for_outputs, to_text

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SPARSE = "sparse_categorical_crossentropy"
SOFTMAX = Head("softmax", SPARSE)
SEED = Head("sigmoid", SPARSE)  # mismatched
BINARY = Head("sigmoid", "binary_crossentropy")


def names(flags):
    return [f.name for f in flags]


def history(**cols):
    n = len(next(iter(cols.values())))
    return pd.DataFrame({"epoch": np.arange(1, n + 1), **cols})


# a softmax run that improves and stays calibrated
HEALTHY = history(
    val_accuracy=[0.50, 0.65, 0.72, 0.76, 0.78],
    val_loss=[1.60, 1.10, 0.90, 0.80, 0.76],
    val_nll=[1.60, 1.10, 0.90, 0.80, 0.76],
    val_max_prob=[0.45, 0.60, 0.68, 0.73, 0.76],
    val_prob_sum=[1.0, 1.0, 1.0, 1.0, 1.0],
    val_entropy_norm=[0.70, 0.50, 0.40, 0.35, 0.33],
    val_ece=[0.05, 0.05, 0.04, 0.03, 0.03],
)


def test_healthy_run_has_no_flags():
    flags = diagnose(HEALTHY, SOFTMAX)
    assert flags == []
    assert "No problems found" in to_text(flags)


# --- not_a_distribution -----------------------------------------------------------------


def test_not_a_distribution_fires_on_sum_far_from_one():
    h = HEALTHY.assign(val_prob_sum=[1.0, 1.0, 1.0, 1.0, 1.15])
    flags = diagnose(h, SOFTMAX)
    assert names(flags) == ["not_a_distribution"]
    assert flags[0].numbers["prob_sum"] == pytest.approx(1.15)
    assert "1.15" in flags[0].message and "softmax" in flags[0].message


def test_not_a_distribution_silent_within_tolerance_or_binary_loss():
    h = HEALTHY.assign(val_prob_sum=[1.0, 1.0, 1.0, 1.0, 1.05])
    assert diagnose(h, SOFTMAX) == []
    # binary cross-entropy does not assume the outputs form a distribution
    h = HEALTHY.assign(val_prob_sum=[1.0, 1.0, 1.0, 1.0, 1.6])
    assert diagnose(h, BINARY) == []


def test_linear_head_outputs_are_converted_before_checking():
    logits = np.array([[3.0, 1.0, -2.0], [0.5, 2.5, 0.0]])  # raw rows sum to 2 and 3
    assert diagnose(pd.DataFrame(), Head("linear", SPARSE), outputs=logits) == []
    # the same numbers read as a sigmoid head's outputs are not a distribution
    sig = np.array([[0.9, 0.6, 0.1], [0.5, 0.95, 0.4]])  # sums 1.6, 1.85
    assert "not_a_distribution" in names(diagnose(pd.DataFrame(), SEED, None, outputs=sig))


# --- head_loss_mismatch -----------------------------------------------------------------


def test_mismatch_path_a_and_b():
    fa = diagnose(HEALTHY, SEED, "A: keras3 logits")
    assert names(fa) == ["head_loss_mismatch"]
    assert "path A" in fa[0].message and "logits" in fa[0].message
    assert "sigmoid" in fa[0].message and SPARSE in fa[0].message
    assert fa[0].numbers == {"path_A": 1.0, "path_B": 0.0}
    fb = diagnose(HEALTHY, SEED, "B: clip and renormalise")
    assert "path B" in fb[0].message and "towards 0" in fb[0].message
    assert "path A" not in fb[0].message
    fn = diagnose(HEALTHY, SEED, None)  # unknown path: explain both
    assert "path A" in fn[0].message and "path B" in fn[0].message


# --- growing_overconfidence -------------------------------------------------------------
# best NLL 1.00 at epoch 3; last epoch: NLL 1.20 (+20%), ECE 0.03 -> 0.08 (+0.05),
# accuracy 0.80 -> 0.81 (+0.01): fires
OVER = history(
    val_accuracy=[0.70, 0.78, 0.80, 0.81, 0.81],
    val_loss=[1.40, 1.10, 1.00, 1.08, 1.20],
    val_nll=[1.40, 1.10, 1.00, 1.08, 1.20],
    val_max_prob=[0.60, 0.75, 0.82, 0.88, 0.90],
    val_prob_sum=[1.0] * 5,
    val_ece=[0.05, 0.04, 0.03, 0.06, 0.08],
)


def test_growing_overconfidence_fires():
    flags = diagnose(OVER, SOFTMAX)
    assert names(flags) == ["growing_overconfidence"]
    n = flags[0].numbers
    assert n["nll_rise"] == pytest.approx(0.20)
    assert n["ece_rise"] == pytest.approx(0.05)
    assert n["accuracy_change"] == pytest.approx(0.01)
    assert "early stopping" in flags[0].message and "temperature" in flags[0].message


@pytest.mark.parametrize(
    "col,values",
    [
        ("val_accuracy", [0.70, 0.78, 0.80, 0.83, 0.85]),  # accuracy +0.05: not flat
        ("val_nll", [1.40, 1.10, 1.00, 1.04, 1.08]),  # NLL only +8%
        ("val_ece", [0.05, 0.04, 0.03, 0.04, 0.045]),  # ECE only +0.015
    ],
)
def test_growing_overconfidence_needs_all_three(col, values):
    assert diagnose(OVER.assign(**{col: values}), SOFTMAX) == []


def test_growing_overconfidence_falls_back_to_val_loss_and_tolerates_gaps():
    h = OVER.drop(columns=["val_nll"])
    assert names(diagnose(h, SOFTMAX)) == ["growing_overconfidence"]
    assert diagnose(OVER.drop(columns=["val_ece"]), SOFTMAX) == []
    gappy = OVER.copy()
    gappy.loc[3, "val_ece"] = np.nan  # a missing value mid-run is skipped, not fatal
    assert names(diagnose(gappy, SOFTMAX)) == ["growing_overconfidence"]


def test_empty_or_sparse_history_does_not_crash():
    assert diagnose(pd.DataFrame(), SOFTMAX) == []
    assert diagnose(pd.DataFrame({"epoch": [1]}), SOFTMAX) == []


# --- collapse / saturation --------------------------------------------------------------


def test_collapse_from_history():
    h = HEALTHY.assign(val_max_prob=[0.5, 0.3, 0.1, 0.05, 0.03], val_prob_sum=[1.0, 1.0, 1.0, 1.0, 1.0])
    flags = diagnose(h, SOFTMAX)
    assert names(flags) == ["collapse"]
    assert flags[0].numbers["max_prob"] == pytest.approx(0.03)


def test_saturation_from_history():
    h = HEALTHY.assign(val_max_prob=[0.9] * 4 + [0.95], val_prob_sum=[5.0] * 5)
    assert names(diagnose(h, BINARY)) == ["saturation"]
    # sum > 2 but max only 0.8: not saturation
    h = HEALTHY.assign(val_max_prob=[0.8] * 5, val_prob_sum=[5.0] * 5)
    assert diagnose(h, BINARY) == []


def test_flags_for_outputs_without_history():
    assert flags_for_outputs(np.array([0.7, 0.2, 0.1]), SOFTMAX) == []
    assert names(flags_for_outputs(np.full((4, 10), 0.005), SOFTMAX)) == [
        "not_a_distribution",
        "collapse",
    ]  # sum 0.05, max 0.005


# --- the seed's outputs -----------------------------------------------------------------


@pytest.fixture(scope="module")
def seed():
    data = json.loads((FIXTURES / "seed_outputs.json").read_text())
    return {k: np.asarray(data[k], dtype=float) for k in ("epoch_1", "epoch_128")}


def test_seed_epoch_1(seed):
    flags = flags_for_outputs(seed["epoch_1"], SOFTMAX)
    assert "not_a_distribution" in names(flags)
    assert "collapse" not in names(flags)
    # 40 outputs' worth of mass with a top output of 0.96: many near 1 at once
    assert "saturation" in names(flags)
    nad = flags[names(flags).index("not_a_distribution")]
    assert nad.numbers["prob_sum"] == pytest.approx(40.20, abs=0.01)


def test_seed_epoch_128(seed):
    flags = flags_for_outputs(seed["epoch_128"], SOFTMAX)
    assert names(flags) == ["not_a_distribution", "collapse"]
    assert flags[1].numbers["max_prob"] == pytest.approx(0.02685, abs=1e-5)


def test_seed_through_diagnose_with_mismatch(seed):
    flags = diagnose(pd.DataFrame(), SEED, "B: clip and renormalise", outputs=seed["epoch_128"])
    assert names(flags) == ["head_loss_mismatch", "not_a_distribution", "collapse"]
    text = to_text(flags)
    assert text.startswith("3 problem(s) found")
    assert "[collapse]" in text and "0.0674" in text
