"""What each figure draws (its bars, lines, scales and labels), including on the gaps real runs have
(empty bins, NaN, missing metrics, no data); and that the PNG twins render those figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from probsweep.probs import plots as run_plots
from probsweep.probs.metrics import CURVES, METRICS, ece_of_bins
from probsweep.report import plots

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def bins(calibrated_too=True):
    edges = np.linspace(0, 1, 16)
    rows = []
    for split in ("val", "test"):
        for cal in [False, True] if calibrated_too else [False]:
            for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
                empty = i % 3 == 0
                shift = (0.0 if cal else -0.2) + (0.05 if split == "test" else 0.0)
                rows.append(
                    {
                        "split": split,
                        "calibrated": cal,
                        "bin_lower": lo,
                        "bin_upper": hi,
                        "count": 0 if empty else 10 + i,
                        "confidence": np.nan if empty else (lo + hi) / 2,
                        "accuracy": np.nan if empty else min(1.0, max(0.0, (lo + hi) / 2 + shift)),
                    }
                )
    return pd.DataFrame(rows)


def bar_heights(ax):
    return [[patch.get_height() for patch in container] for container in ax.containers]


def message_of(fig):
    """The text an empty figure shows instead of a plot."""
    (ax,) = fig.axes
    assert not ax.axison and not ax.lines and not ax.patches
    return ax.texts[0].get_text()


def test_reliability_figure_draws_each_bins_accuracy_and_count_with_its_ece():
    b = bins()
    fig = run_plots.reliability_figure(b, "trial 0")
    top, bottom = fig.axes
    raw = b[(b.split == "val") & ~b.calibrated].reset_index(drop=True)
    cal = b[(b.split == "val") & b.calibrated].reset_index(drop=True)
    drawn = raw["accuracy"].notna()
    # accuracy bars: the non-empty bins only, raw then calibrated, side by side within each bin
    assert bar_heights(top) == [list(raw["accuracy"][drawn]), list(cal["accuracy"][drawn])]
    raw_x = [p.get_x() for p in top.containers[0]]
    cal_x = [p.get_x() for p in top.containers[1]]
    assert raw_x == pytest.approx(list(raw["bin_lower"][drawn]))
    assert np.allclose(np.array(cal_x) - raw_x, (1 / 15) / 2)
    # count bars: every bin, empty ones at 0
    assert bar_heights(bottom) == [list(raw["count"]), list(cal["count"])]
    (diagonal,) = top.lines
    assert list(diagonal.get_xdata()) == [0, 1] and list(diagonal.get_ydata()) == [0, 1]
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    assert labels == [
        "perfect calibration",
        f"raw max output, ECE {ece_of_bins(raw):.3f}",
        f"calibrated (temperature), ECE {ece_of_bins(cal):.3f}",
    ]
    assert ece_of_bins(raw) > 0.15 > 0.01 > ece_of_bins(cal)  # the data: raw is 0.2 off, calibrated on the line
    assert top.get_title() == "trial 0" and bottom.get_xlabel() == "confidence (max output), val"


def test_reliability_figure_picks_the_split_and_reads_booleans_back_from_csv():
    test_raw = bins()[lambda d: (d.split == "test") & ~d.calibrated]
    fig = run_plots.reliability_figure(bins(calibrated_too=False), "raw only", split="test")
    assert bar_heights(fig.axes[0]) == [list(test_raw["accuracy"].dropna())]
    assert fig.axes[1].get_xlabel() == "confidence (max output), test"
    from_csv = bins().astype({"calibrated": str})  # read back from CSV: "True"/"False"
    assert bar_heights(run_plots.reliability_figure(from_csv).axes[0]) == bar_heights(
        run_plots.reliability_figure(bins()).axes[0]
    )


def test_reliability_figure_says_why_it_has_nothing_to_draw():
    all_empty = bins().assign(count=0, confidence=np.nan, accuracy=np.nan)
    assert message_of(run_plots.reliability_figure(all_empty)) == "all bins empty"
    assert message_of(run_plots.reliability_figure(None)) == "no data recorded"
    assert message_of(run_plots.reliability_figure(pd.DataFrame())) == "no data recorded"


def collapse():
    """Two probes whose 102 outputs fall together by 10x every 20 epochs (path B's drift to 0)."""
    rows = [
        {"epoch": e, "probe": p, "class": k, "output": 0.9**k * 10 ** (-e / 20)}
        for e in range(1, 129, 8)
        for p in (3, 11)
        for k in range(102)
    ]
    return pd.DataFrame(rows)


def test_probe_figure_draws_each_probes_sum_and_its_top_classes_on_a_log_axis():
    frame = collapse()
    fig = run_plots.probe_figure(frame, top=5, title="collapse")
    assert [ax.get_title() for ax in fig.axes] == ["val example 3", "val example 11"]
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    lines = {line.get_label(): line for line in ax.lines}
    assert [k for k in lines if k.startswith("class")] == [f"class {k}" for k in range(5)]  # highest at the end
    epochs = np.arange(1, 129, 8)
    expected_sum = frame[frame.probe == 3].groupby("epoch")["output"].sum()
    assert np.allclose(lines["sum"].get_xdata(), epochs)
    assert np.allclose(lines["sum"].get_ydata(), expected_sum.to_numpy())
    assert lines["sum"].get_ydata()[-1] < 1e-4 * lines["sum"].get_ydata()[0]  # the collapse is drawn
    assert np.allclose(lines["class 0"].get_ydata(), 10 ** (-epochs / 20))
    assert fig.axes[0].get_ylabel() == "output (log scale)" and fig._suptitle.get_text() == "collapse"


def test_probe_figure_draws_zeros_at_the_floor_and_one_epoch_with_markers():
    zeros = collapse()[lambda d: d.probe == 3].assign(output=0.0)  # a log axis cannot show 0
    (ax,) = run_plots.probe_figure(zeros).axes
    drawn = [line for line in ax.lines if line.get_label() == "sum" or line.get_label().startswith("class")]
    assert len(drawn) == 6 and all(np.allclose(line.get_ydata(), run_plots.FLOOR) for line in drawn)
    one = run_plots.probe_figure(collapse()[lambda d: d.epoch == 1], top=3)
    class_lines = [line for line in one.axes[0].lines if line.get_label().startswith("class")]
    assert len(class_lines) == 3 and all(line.get_marker() == "o" for line in class_lines)
    assert (
        message_of(run_plots.probe_figure(pd.DataFrame(columns=["epoch", "probe", "class", "output"])))
        == "no data recorded"
    )


def history(n, prob_sum):
    return pd.DataFrame(
        {
            "epoch": range(1, n + 1),
            "val_accuracy": np.linspace(0.2, 0.8, n),
            "val_max_prob": np.linspace(0.5, 0.01, n),
            "val_prob_sum": np.full(n, prob_sum),
            "val_entropy_norm": np.nan,
            "val_ece": np.linspace(0.1, 0.3, n),
        }
    )


def test_epoch_curves_figure_draws_one_line_per_trial_per_metric_coloured_by_head():
    histories = {
        "trial 0": history(30, 0.05),
        "trial 1": history(10, 1.0),
        "trial 2": history(1, 40.0),
        "trial 3": history(5, 1.0).drop(columns=["val_ece"]),
    }
    heads = {"trial 0": "sigmoid (path B)", "trial 1": "softmax", "trial 2": "sigmoid (path A)", "trial 3": "softmax"}
    fig = plots.epoch_curves_figure(histories, heads)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.axison}
    assert list(panels) == [METRICS[m].label for m in CURVES]
    colors = plots.head_colors(heads.values())
    acc = panels[METRICS["val_accuracy"].label]
    assert [to_hex(line.get_color()) for line in acc.lines] == [colors[heads[t]] for t in histories]
    assert [len(line.get_xdata()) for line in acc.lines] == [30, 10, 1, 5]
    assert len(panels[METRICS["val_ece"].label].lines) == 3  # trial 3 never logged it
    prob_sum = panels[METRICS["val_prob_sum"].label]
    assert prob_sum.get_yscale() == "log"
    *trials, one = prob_sum.lines  # the line y=1 a distribution sits on, drawn last
    assert list(one.get_ydata()) == [1.0, 1.0] and [line.get_ydata()[0] for line in trials] == [0.05, 1.0, 40.0, 1.0]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == sorted(set(heads.values()))
    assert message_of(plots.epoch_curves_figure({}, {})) == "no data recorded"


def test_head_colors_are_stable_whatever_the_order():
    assert plots.head_colors(["b", "a", "b"]) == plots.head_colors(["a", "b"])
    assert len(set(plots.head_colors(["a", "b", "c"]).values())) == 3


def test_effects_figure_draws_each_groups_mean_spread_and_count():
    eff = pd.DataFrame(
        {
            "hp": ["head", "head", "model.dropout", "model.dropout"] * 2,
            "value": ["softmax", "seed", "0.1", "0.3"] * 2,
            "metric": ["val_brier"] * 4 + ["val_ece"] * 4,
            "mean": [0.3, 0.9, 0.5, np.nan, 0.05, 0.7, 0.3, 0.2],
            "std": [0.1, np.nan, 0.2, np.nan, 0.01, np.nan, 0.1, 0.1],
            "count": [3, 1, 2, 0, 3, 1, 2, 2],
        }
    )
    fig = plots.effects_figure(eff)
    assert len(fig.axes) == 4
    head_brier, head_ece, dropout_brier, _ = fig.axes
    assert (head_brier.get_title(), head_ece.get_title()) == ("val_brier", "val_ece")
    assert (head_brier.get_ylabel(), dropout_brier.get_ylabel()) == ("head", "model.dropout")
    assert [t.get_text() for t in head_brier.get_yticklabels()] == ["softmax", "seed"]
    means = head_brier.lines[0]
    assert list(means.get_xdata()) == [0.3, 0.9] and list(means.get_ydata()) == [0, 1]
    assert [t.get_text() for t in head_brier.texts] == ["n=3", "n=1"]
    assert [t.get_text() for t in dropout_brier.texts] == ["n=2"]  # no mean, no count drawn
    assert message_of(plots.effects_figure(eff.iloc[:0])) == "no data recorded"


def test_png_twins_render_the_figures():
    assert run_plots.reliability_diagram(bins(), "trial 0").startswith(PNG)
    assert run_plots.probe_plot(collapse(), top=5).startswith(PNG)
    assert plots.epoch_curves({"t": history(3, 1.0)}, {"t": "softmax"}).startswith(PNG)
    assert plots.effects_plot(pd.DataFrame()).startswith(PNG)
    assert plt.get_fignums() == []  # each twin closes its figure
