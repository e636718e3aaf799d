"""Each plot returns PNG bytes, including on the gaps real runs have (empty bins, NaN, no data)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from probsweep.probs import plots as run_plots
from probsweep.report import plots

PNG = b"\x89PNG\r\n\x1a\n"


def bins(calibrated_too=True):
    edges = np.linspace(0, 1, 16)
    rows = []
    for split in ("val", "test"):
        for cal in ([False, True] if calibrated_too else [False]):
            for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
                empty = i % 3 == 0
                rows.append({"split": split, "calibrated": cal, "bin_lower": lo, "bin_upper": hi,
                             "count": 0 if empty else 10 + i, "confidence": np.nan if empty else (lo + hi) / 2,
                             "accuracy": np.nan if empty else min(1.0, (lo + hi) / 2 + (0.0 if cal else -0.2))})
    return pd.DataFrame(rows)


def test_reliability_diagram_raw_and_calibrated_with_nan_bins():
    assert run_plots.reliability_diagram(bins(), "trial 0").startswith(PNG)
    assert run_plots.reliability_diagram(bins(calibrated_too=False), "raw only", split="test").startswith(PNG)


def test_reliability_diagram_from_csv_strings_and_degenerate_input():
    b = bins().astype({"calibrated": str})  # read back from CSV: "True"/"False"
    assert run_plots.reliability_diagram(b).startswith(PNG)
    all_empty = bins().assign(count=0, confidence=np.nan, accuracy=np.nan)
    assert run_plots.reliability_diagram(all_empty).startswith(PNG)
    assert run_plots.reliability_diagram(None).startswith(PNG)
    assert run_plots.reliability_diagram(pd.DataFrame()).startswith(PNG)


def test_probe_plot_shows_a_collapse_to_tiny_outputs_and_handles_one_epoch():
    rows = [{"epoch": e, "probe": p, "class": k, "output": 0.9 ** k * 10 ** (-e / 20)}
            for e in range(1, 129, 8) for p in (3, 11) for k in range(102)]
    frame = pd.DataFrame(rows)
    assert run_plots.probe_plot(frame, top=5, title="collapse").startswith(PNG)
    assert run_plots.probe_plot(frame[frame["epoch"] == 1], top=3).startswith(PNG)
    zeros = frame[frame["probe"] == 3].assign(output=0.0)  # a log axis cannot show 0: drawn at the floor
    assert run_plots.probe_plot(zeros).startswith(PNG)
    assert run_plots.probe_plot(pd.DataFrame(columns=["epoch", "probe", "class", "output"])).startswith(PNG)


def test_epoch_curves_by_head_with_missing_metrics_and_nan():
    h = lambda n, s: pd.DataFrame({"epoch": range(1, n + 1), "val_accuracy": np.linspace(0.2, 0.8, n),  # noqa: E731
                                   "val_max_prob": np.linspace(0.5, 0.01, n), "val_prob_sum": np.full(n, s),
                                   "val_entropy_norm": np.nan, "val_ece": np.linspace(0.1, 0.3, n)})
    histories = {"trial 0": h(30, 0.05), "trial 1": h(10, 1.0), "trial 2": h(1, 40.0),
                 "trial 3": h(5, 1.0).drop(columns=["val_ece"])}
    heads = {"trial 0": "sigmoid (path B)", "trial 1": "softmax", "trial 2": "sigmoid (path A)", "trial 3": "softmax"}
    assert plots.epoch_curves(histories, heads).startswith(PNG)
    assert plots.epoch_curves({}, {}).startswith(PNG)


def test_head_colors_are_stable_whatever_the_order():
    assert plots.head_colors(["b", "a", "b"]) == plots.head_colors(["a", "b"])


def test_effects_plot_with_single_trial_groups_and_empty():
    eff = pd.DataFrame({"hp": ["head", "head", "model.dropout", "model.dropout"] * 2,
                        "value": ["softmax", "seed", "0.1", "0.3"] * 2,
                        "metric": ["val_brier"] * 4 + ["val_ece"] * 4,
                        "mean": [0.3, 0.9, 0.5, np.nan, 0.05, 0.7, 0.3, 0.2],
                        "std": [0.1, np.nan, 0.2, np.nan, 0.01, np.nan, 0.1, 0.1],
                        "count": [3, 1, 2, 0, 3, 1, 2, 2]})
    assert plots.effects_plot(eff).startswith(PNG)
    assert plots.effects_plot(eff.iloc[:0]).startswith(PNG)
