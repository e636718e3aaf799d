"""What a finished training says about its probabilities: calibration, thresholds, out-of-scope
rejection and a diagnosis. Pure: returns metrics, tags and files for the caller to record.

Everything is fitted on validation and, when the data has a test split, reported on test.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from probsweep.config import Activation
from probsweep.head import Head
from probsweep.probs import calibration as cal
from probsweep.probs import diagnosis, metrics, plots


@dataclass
class Analysis:
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
    calibrated: dict[str, np.ndarray] = field(default_factory=dict)  # split -> calibrated probabilities (not logged)


def analyse(
    head: Head,
    raw_val: np.ndarray,
    y_val: np.ndarray,
    *,
    raw_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    loss_path: str | None = None,
    history: pd.DataFrame | None = None,
    probes: pd.DataFrame | None = None,
    target_precision: float = 0.95,
    class_names: Sequence[str] | None = None,
) -> Analysis:
    """Calibrate, threshold, reject out-of-scope and diagnose; `raw_*` are the head's raw outputs,
    `y_*` the labels (-1 = out of scope), `loss_path` what the loss took (train.model.PATH_*), `class_names`
    the labels of the classes, index by index (files name classes by them)."""
    history = history if history is not None else pd.DataFrame()
    probes = probes if probes is not None else pd.DataFrame()
    out = Analysis()
    names = [str(c) for c in class_names] if class_names is not None else [str(k) for k in range(raw_val.shape[1])]
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {"val": (raw_val, y_val)}
    if raw_test is not None and y_test is not None and len(raw_test) > 0:
        splits["test"] = (raw_test, y_test)

    # 1. Temperature scaling on validation (for sigmoid heads, on the sigmoid's own logits).
    in_val = np.asarray(y_val >= 0)
    logits = {s: cal.logits_from_outputs(r, head) for s, (r, _) in splits.items()}
    temperature = cal.fit_temperature(logits["val"][in_val], y_val[in_val])
    report: dict[str, Any] = {"temperature": temperature, "test": None}
    bins = []
    calibrated = {}
    for s, (r, y) in splits.items():
        inside = y >= 0
        raw_p = metrics.to_probabilities(r, head)
        calibrated[s] = cal.apply_temperature(logits[s], temperature)
        before, after = raw_p[inside], calibrated[s][inside]
        report[s] = {
            "ece_before": metrics.ece(before, y[inside]),
            "ece_after": metrics.ece(after, y[inside]),
            "nll_before": metrics.nll(before, y[inside]),
            "nll_after": metrics.nll(after, y[inside]),
        }
        for flag, p in ((False, before), (True, after)):
            bins.append(metrics.reliability_bins(p, y[inside]).assign(split=s, calibrated=flag))
    out.metrics.update(
        {
            "temperature": temperature,
            "val_ece_calibrated": report["val"]["ece_after"],
            "val_nll_calibrated": report["val"]["nll_after"],
        }
    )
    out.calibrated = calibrated
    if "test" in splits:
        # Test figures of the raw outputs, measured once here and never used to choose anything.
        raw_t, y_t = splits["test"]
        in_test = y_t >= 0
        if in_test.any():
            out.metrics.update(
                metrics.probability_metrics(
                    metrics.to_probabilities(raw_t, head)[in_test], y_t[in_test], prefix="test_"
                )
            )
        out.metrics.update(
            {"test_ece_calibrated": report["test"]["ece_after"], "test_nll_calibrated": report["test"]["nll_after"]}
        )
    bins_frame = pd.concat(bins, ignore_index=True)[
        ["split", "calibrated", "bin_lower", "bin_upper", "count", "confidence", "accuracy"]
    ]
    out.files["calibration.json"] = json.dumps(report, indent=2)
    out.files["reliability.csv"] = bins_frame
    out.files["reliability.png"] = plots.reliability_diagram(
        bins_frame[bins_frame["split"] == "val"], title=f"{head.label} (validation)"
    )

    # 2. A confidence threshold reaching the target precision on validation, checked on test.
    conf_val = calibrated["val"][in_val].max(axis=1)
    correct_val = calibrated["val"][in_val].argmax(axis=1) == y_val[in_val]
    chosen = cal.threshold_for_precision(conf_val, correct_val, target_precision)
    threshold: dict[str, Any] = {
        "target_precision": target_precision,
        "threshold": float(chosen["threshold"]),
        "reached": bool(chosen["reached"]),
        "val_coverage": float(chosen["coverage"]),
        "val_precision": float(chosen["precision"]),
        "test_coverage": None,
        "test_precision": None,
    }
    if "test" in splits:
        y_test = splits["test"][1]
        in_test = y_test >= 0
        on_test = cal.evaluate_threshold(
            calibrated["test"][in_test].max(axis=1),
            calibrated["test"][in_test].argmax(axis=1) == y_test[in_test],
            threshold["threshold"],
        )
        threshold.update(test_coverage=float(on_test["coverage"]), test_precision=float(on_test["precision"]))
        out.metrics.update(
            threshold_test_coverage=threshold["test_coverage"], threshold_test_precision=threshold["test_precision"]
        )
    out.metrics.update(threshold=threshold["threshold"], threshold_val_coverage=threshold["val_coverage"])
    out.files["threshold.json"] = json.dumps(threshold, indent=2)
    out.files["coverage.csv"] = cal.coverage_curve(conf_val, correct_val)
    if head.activation == Activation.sigmoid:  # independent outputs: one threshold per class
        per_class = cal.per_class_thresholds(
            metrics.to_probabilities(raw_val, head)[in_val], y_val[in_val], target_precision
        )
        out.files["thresholds.json"] = json.dumps({names[k]: v for k, v in per_class.items()}, indent=2)
    out.files["per_class.csv"] = per_class_table(calibrated, splits, names)

    # 3. Out-of-scope rejection, when the data marks such examples (y == -1).
    if (~in_val).any():
        val_p = calibrated["val"]
        t = cal.choose_rejection_threshold(val_p.max(axis=1), val_p.argmax(axis=1), y_val)
        split = "test" if "test" in splits and (splits["test"][1] < 0).any() else "val"
        p, y = calibrated[split], splits[split][1]
        found = cal.oos_metrics(p.max(axis=1), p.argmax(axis=1), y, t)
        oos: dict[str, Any] = {"threshold": float(t), "reported_on": split, **found}
        out.files["oos.json"] = json.dumps(oos, indent=2)
        out.metrics.update(
            {
                "oos_threshold": oos["threshold"],
                "oos_in_scope_accuracy": oos["in_scope_accuracy"],
                "oos_recall": oos["oos_recall"],
                "oos_auroc": oos["auroc"],
            }
        )

    # 4. Diagnosis in words, and the probes' trajectories as a picture.
    flags = diagnosis.diagnose(
        history, head, loss_path, outputs=raw_val[in_val]
    )  # raw: diagnose converts a linear head itself
    out.tags["diagnosis_flags"] = ",".join(f.name for f in flags)
    out.tags.update({f"diag.{f.name}": "true" for f in flags})
    out.files["diagnosis.txt"] = diagnosis.to_text(flags)
    if not probes.empty:
        probes = probes.assign(
            label=[names[k] for k in probes["class"]], true_label=[names[y_val[i]] for i in probes["probe"]]
        )
        out.files["probes.csv"] = probes
        out.files["probes.png"] = plots.probe_plot(probes, title=f"{head.label}: probe outputs by epoch")
    return out


def per_class_table(
    calibrated: dict[str, np.ndarray], splits: dict[str, tuple[np.ndarray, np.ndarray]], names: Sequence[str]
) -> pd.DataFrame:
    """Per class, by label: examples, recall and precision of the argmax on each split (T keeps the argmax)."""
    frame = pd.DataFrame({"label": list(names)})
    for s, (_, y) in splits.items():
        pred, inside = calibrated[s].argmax(axis=1), y >= 0
        n = np.bincount(y[inside], minlength=len(names))
        hits = np.bincount(y[inside][pred[inside] == y[inside]], minlength=len(names))
        predicted = np.bincount(pred[inside], minlength=len(names))
        frame[f"{s}_n"] = n
        frame[f"{s}_recall"] = np.where(n > 0, hits / np.maximum(n, 1), np.nan)
        frame[f"{s}_precision"] = np.where(predicted > 0, hits / np.maximum(predicted, 1), np.nan)
    return frame
