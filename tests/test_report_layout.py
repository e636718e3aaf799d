"""The report's figures stay readable: probe titles do not overlap, one outlier does not flatten the effects."""

from __future__ import annotations

import numpy as np
import pandas as pd

from probsweep.probs.plots import probe_figure
from probsweep.report.page import _effects_html
from probsweep.report.plots import effects_figure


def long_named_probes(epochs=4):
    rows = []
    for probe, true in ((3, "alarm_set_reminder_for_tomorrow_morning"), (17, "transport_query_ticket_price_x")):
        for e in range(1, epochs + 1):
            for c in range(6):
                rows.append(
                    {
                        "epoch": e,
                        "probe": probe,
                        "class": c,
                        "output": 0.5 / e,
                        "label": f"a_long_intent_{c}",
                        "true_label": true,
                    }
                )
    return pd.DataFrame(rows)


def test_probe_panel_titles_do_not_overlap_even_with_long_class_names():
    fig = probe_figure(long_named_probes(), title="trial 6: sigmoid+sparse_categorical_crossentropy (path A)")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_title()]
    assert len(boxes) == 2
    assert boxes[0].x1 < boxes[1].x0  # side by side, apart
    assert all("\n" in ax.get_title() for ax in fig.axes if ax.get_title())  # example and its class: two lines


def effects(means, counts):
    return pd.DataFrame(
        {
            "hp": "head",
            "value": [f"h{i}" for i in range(len(means))],
            "metric": "val_brier",
            "mean": means,
            "std": [np.nan if n < 2 else 0.01 for n in counts],
            "count": counts,
        }
    )


def test_an_outlier_puts_the_effects_axis_on_a_log_scale_and_close_values_stay_linear():
    outlier = effects([20.3, 0.76, 0.33, 0.35], [1, 2, 1, 2])
    ax = effects_figure(outlier).axes[0]
    assert ax.get_xscale() == "log" and "log scale" in ax.get_title()
    assert effects_figure(effects([0.3, 0.35, 0.4], [2, 2, 2])).axes[0].get_xscale() == "linear"


def test_a_group_of_one_trial_shows_its_value_without_a_spread():
    page = _effects_html(effects([20.3, 0.76], [1, 2]))
    assert "20.3 (n=1)" in page and "± 0 (n=1)" not in page and "0.76 ± 0.01 (n=2)" in page
