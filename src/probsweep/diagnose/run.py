"""A diagnosis as a trial's analysis: probs/analysis.py on the outputs, one MLflow run (tag kind=diagnosis),
the verdict in the sweep report's words, and a self-contained HTML page."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from probsweep.diagnose.inputs import Outputs
from probsweep.probs import analysis, diagnosis
from probsweep.report import verdict

EXPERIMENT = "probsweep-diagnosis"  # the MLflow experiment diagnoses go to (--experiment)
MIN_CALIBRATION_ROWS = 50  # fewer labelled validation rows: the temperature and threshold are not worth reading


def _sum(s: float) -> str:
    """A mean output sum as the README writes it: 40.20, 0.0674."""
    return f"{s:.2f}" if s >= 1 else f"{s:.3g}"


@dataclass
class Diagnosed:
    run_id: str
    report: Path
    verdict: str
    found: analysis.Analysis
    epoch_flags: dict[int, list[str]]  # per epoch of a predictions file: the level flags of its outputs


def found_accuracy(history: pd.DataFrame) -> str:
    return f"{history['val_accuracy'].iloc[-1]:.1%}"


def epoch_flags(outputs: Outputs) -> dict[int, list[str]]:
    """not_a_distribution / collapse / saturation of each epoch's validation outputs (predictions with epochs)."""
    from probsweep.probs.metrics import to_probabilities

    return {
        e: [f.name for f in diagnosis.flags_for_outputs(to_probabilities(r, outputs.head), outputs.head)]
        for e, r in outputs.epoch_outputs.items()
    }


def verdict_words(outputs: Outputs, found: analysis.Analysis, flags: dict[int, list[str]]) -> str:
    """Paragraphs: the head and its loss path, the outputs' level, calibration, threshold; the report's words."""
    head = outputs.head
    if outputs.form == "model" and outputs.check is not None:
        first = str(outputs.check) if outputs.check.ok is None else head.explain(outputs.loss_path or "config")
        if outputs.check.seed_pairing:
            first = "This is the seed's pairing: sigmoid outputs trained with sparse_categorical_crossentropy. " + first
    else:
        first = (
            f"Read as the outputs of a {head.label} head (--head): a predictions file does not say which loss "
            "made it, so there is no loss path (A or B) here, only what the numbers show."
        )
    level = verdict.level_sentence(outputs.history)
    last = outputs.history.iloc[-1]
    if not found.tags.get("diagnosis_flags") and abs(last["val_prob_sum"] - 1) <= diagnosis.SUM_TOLERANCE:
        level = (
            f"the largest output averages {last['val_max_prob']:.3g} and the outputs sum to "
            f"{last['val_prob_sum']:.3g}: they form a distribution over the classes"
        )
    accuracy = f"accuracy {found_accuracy(outputs.history)}" + (
        f", test {found.metrics['test_accuracy']:.1%}" if "test_accuracy" in found.metrics else ""
    )
    paras = [first, f"On validation ({accuracy}), {level}."]
    if flags:
        rows = outputs.history.set_index("epoch")
        paras.append(
            "Per epoch: "
            + "; ".join(
                f"epoch {e} (outputs sum to {_sum(rows.loc[e, 'val_prob_sum'])}, largest "
                f"{rows.loc[e, 'val_max_prob']:.4g}): {', '.join(f) or 'no flags'}"
                for e, f in flags.items()
            )
            + "."
        )
    n_val = int((outputs.splits["val"][1] >= 0).sum())
    if n_val < MIN_CALIBRATION_ROWS:
        paras.append(
            f"Only {n_val} labelled validation row(s): too few to fit a temperature or choose a threshold "
            f"(at least {MIN_CALIBRATION_ROWS} are needed to trust them); the run records them, do not rely on them."
        )
        return "\n\n".join(paras)
    calibration = json.loads(found.files["calibration.json"])
    threshold = json.loads(found.files["threshold.json"])
    paras.append(verdict.calibration_paragraph(calibration, pd.Series(found.metrics, dtype=object)))
    paras.append(verdict.threshold_paragraph(threshold))
    if "oos_threshold" in found.metrics:
        paras.append(verdict.oos_paragraph(found.metrics, "this model"))
    return "\n\n".join(p for p in paras if p)


def run_diagnosis(
    outputs: Outputs,
    *,
    target_precision: float,
    tracking_uri: str | None,
    experiment: str = EXPERIMENT,
    out_dir: Path | None = None,
) -> Diagnosed:
    """Analyse, record (MLflow run tag kind=diagnosis) and write the report (out_dir/index.html)."""
    from probsweep import tracking
    from probsweep.report.diagnosis_page import diagnosis_page

    val, test = outputs.splits["val"], outputs.splits.get("test")
    found = analysis.analyse(
        outputs.head,
        val[0],
        val[1],
        raw_test=test[0] if test else None,
        y_test=test[1] if test else None,
        loss_path=outputs.loss_path,
        history=outputs.history,
        target_precision=target_precision,
        class_names=outputs.class_names,
    )
    flags = epoch_flags(outputs)
    words = verdict_words(outputs, found, flags)
    name = Path(outputs.source).stem
    out_dir = out_dir or Path(outputs.source).with_name(f"{name}-diagnosis")
    experiment_id = tracking.setup(tracking_uri, experiment)
    tags = {"kind": "diagnosis", "form": outputs.form, "source": outputs.source, "head": outputs.head.label}
    if outputs.check is not None:
        tags.update(head_loss_check=str(outputs.check), head_loss_mismatch=str(outputs.check.mismatch).lower())
    if outputs.loss_path:
        tags["loss_path"] = outputs.loss_path
    with tracking.run(experiment_id, name=f"diagnose-{name}", tags=tags) as run_id:
        tracking.log_params(
            run_id,
            {
                "form": outputs.form,
                "source": outputs.source,
                "n_classes": len(outputs.class_names),
                **{f"n_{s}": len(y) for s, (_, y) in outputs.splits.items()},
                "train.target_precision": target_precision,
            },
        )
        last = outputs.history.iloc[-1]
        tracking.log_metrics(run_id, {k: float(v) for k, v in last.items() if k != "epoch"})
        tracking.log_metrics(run_id, found.metrics)
        tracking.set_tags(run_id, found.tags)
        page = diagnosis_page(outputs, found, words, flags)
        out_dir.mkdir(parents=True, exist_ok=True)
        report = out_dir / "index.html"
        report.write_text(page)
        files = {"history.csv": outputs.history, "verdict.txt": words, "report/index.html": page, **found.files}
        tracking.log_artifacts(run_id, files)
    return Diagnosed(run_id, report, words, found, flags)
