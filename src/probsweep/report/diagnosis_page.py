"""The diagnosis's HTML page: the sweep report's style, verdict first, then the numbers behind it."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from probsweep.probs import metrics
from probsweep.report.page import CSS, _frame_html, _img, _paras, _section

SHOWN = ("epoch", "val_accuracy", "val_max_prob", "val_prob_sum", "val_entropy_norm", "val_ece", "val_brier", "val_nll")


def diagnosis_page(outputs: Any, found: Any, words: str, flags: dict[int, list[str]], worst: int = 8) -> str:
    """One self-contained page: verdict, per-epoch levels, diagnosis flags, reliability, per-class recall."""
    shown = [c for c in SHOWN if c in outputs.history.columns and (c != "epoch" or outputs.form == "predictions")]
    history = outputs.history.reindex(columns=shown)  # a saved model is one state, not an epoch
    history = history.rename(columns={c: metrics.METRICS[c].label for c in SHOWN if c in metrics.METRICS})
    after = pd.DataFrame(
        [
            {"metric": metrics.METRICS[k].label if k in metrics.METRICS else k, "value": v}
            for k, v in found.metrics.items()
        ]
    )
    per_class = found.files["per_class.csv"].sort_values("val_recall").head(worst)
    what = "model" if outputs.form == "model" else "predictions file"
    body = [
        f"<h1>Diagnosis of {html.escape(outputs.source)}</h1>",
        f'<p class="note">{what}; head {html.escape(outputs.head.label)}; {len(outputs.class_names)} classes; '
        + ", ".join(f"{len(y)} {s} rows" for s, (_, y) in outputs.splits.items())
        + "</p>",
        _section("verdict", "Verdict", f'<div class="verdict">{_paras(words)}</div>'),
        _section(
            "levels", "The outputs" + (" per epoch" if "epoch" in shown else "") + " (validation)", _frame_html(history)
        ),
        _section("diagnosis", "Diagnosis", f"<pre>{html.escape(found.files['diagnosis.txt'])}</pre>"),
        _section(
            "calibration",
            "Calibration and thresholds",
            _img(found.files["reliability.png"], "reliability diagram", "validation, before and after temperature")
            + _frame_html(after),
        ),
        _section("classes", f"The {len(per_class)} classes with the lowest validation recall", _frame_html(per_class)),
    ]
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>probsweep diagnosis</title>'
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>"
    )
