"""`make best [SWEEP=name]` (cli/best.py checks the sweep exists, then calls `best` here): retrain the
better of the sweep's best trial and its linear baseline, then register it with its temperature and
threshold, as the registry alias @champion.

The better one is chosen on the sweep's objective on validation (a tie goes to the baseline, the
simpler model). Its original run's final metrics are printed beside the rerun's: under the same seed
they agree within TOLERANCE. The registered model serves calibrated probabilities and a decision.
"""

from __future__ import annotations

from typing import Any

import keras
from omegaconf import OmegaConf

from probsweep import tracking
from probsweep.config import check_best, locate_sweep, validate
from probsweep.data.features import features_for
from probsweep.data.loading import load_dataset
from probsweep.data.synthetic import OOS_LABEL  # the embedded data's out-of-scope label
from probsweep.head import Head
from probsweep.probs.metrics import FINAL
from probsweep.probs.serving import CalibratedClassifier
from probsweep.report.verdict import BASELINE_NAME
from probsweep.train.tracked import BASELINE_HEAD, BaselineOutcome, Outcome, tracked_baseline, tracked_fit

TOLERANCE = 1e-3  # absolute, on each final metric
COMPARED = FINAL  # the final metrics of the comparison table
ALIAS = "champion"


def text_model(featurizer, model: keras.Model) -> keras.Model:
    """Raw strings in, the head's outputs out: the featurizer (data.vectorizer for token ids, or the
    family's own, probsweep.data.features) travels with the model; None: the model reads strings."""
    texts = keras.Input(shape=(1,), dtype="string", name="text")
    # A fresh Functional over the same layers: carries no compile state, so it loads without probsweep.
    inference = keras.Model(model.inputs, model.outputs, name="classifier")
    return keras.Model(texts, inference(featurizer(texts) if featurizer is not None else texts), name="text_classifier")


def _baseline_run_id(experiment_id: str, parent_id: str) -> str | None:
    runs = tracking.child_runs(experiment_id, parent_id)
    if runs.empty or "tags.kind" not in runs:
        return None
    done = runs[(runs["tags.kind"] == "baseline") & (runs["status"] == "FINISHED")]
    return str(done["run_id"].iloc[0]) if len(done) else None


def _threshold(final: dict, target: float) -> tuple:
    """The out-of-scope rejection threshold where the data has such examples, else the target-precision one."""
    if "oos_threshold" in final:
        return final[
            "oos_threshold"
        ], "out-of-scope rejection: maximises accuracy with out-of-scope as a class, on validation"
    return final[
        "threshold"
    ], f"the lowest calibrated largest probability reaching {target:.0%} precision on validation"


def best(sweep_name: str, sweeps_root: str | None = None) -> dict:
    best_yaml = check_best(sweep_name, sweeps_root)
    cfg = validate(OmegaConf.load(best_yaml))
    experiment_id = tracking.setup(cfg.tracking.uri, sweep_name)
    _, parent_id = locate_sweep(sweep_name, sweeps_root)
    trial_run_id = tracking.get_run(parent_id).data.tags["best_run_id"]
    trial = tracking.get_run(trial_run_id)
    objective, direction = cfg.search.objective, cfg.search.direction
    baseline_id = _baseline_run_id(experiment_id, parent_id)
    base = tracking.get_run(baseline_id) if baseline_id else None
    t_score, b_score = trial.data.metrics.get(objective), base.data.metrics.get(objective) if base else None
    use_baseline = (
        b_score is not None
        and t_score is not None
        and not (t_score < b_score if direction == "min" else t_score > b_score)
    )
    original: Any = base if use_baseline else trial
    trial_name = f"trial {trial.data.tags.get('trial_id', '?')}"
    name = f"the linear baseline ({BASELINE_NAME})" if use_baseline else trial_name
    if b_score is not None and t_score is not None:
        print(
            f"{objective} on validation: {trial_name} {t_score:.5g}, "
            f"baseline {b_score:.5g} ({'lower' if direction == 'min' else 'higher'} is better): handing over {name}"
        )

    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    tags = {"kind": "best", "rerun_of_run_id": original.info.run_id, "sweep": sweep_name}
    with tracking.run(
        experiment_id, name=f"best-rerun-of-{'baseline' if use_baseline else trial_name.replace(' ', '-')}", tags=tags
    ) as run_id:
        outcome: Outcome | BaselineOutcome
        if use_baseline:
            outcome = tracked_baseline(cfg, data, run_id, prefix="[best] ")
            model, kind, head = outcome.baseline.pipeline, "sklearn", BASELINE_HEAD
        else:
            outcome = fitted = tracked_fit(cfg, data, run_id, prefix="[best] ")
            featurizer = features_for(data, cfg.model).featurizer  # the family's input, made from raw strings
            if hasattr(featurizer, "text_model"):  # a Python featurizer (the encoder family's) builds the served model
                model, kind = featurizer.text_model(fitted.trained.model), "encoder"
            else:
                model, kind = text_model(featurizer, fitted.trained.model), "keras"
            head = Head.of(cfg.model)
        threshold, why = _threshold(outcome.final, cfg.train.target_precision)
        oos_label = (cfg.data.oos_label or OOS_LABEL) if "oos_threshold" in outcome.final else None
        classifier = CalibratedClassifier(
            kind=kind,
            activation=head.activation.value,
            loss=head.loss.value,
            temperature=float(outcome.final["temperature"]),
            threshold=float(threshold),
            threshold_kind=why,
            classes=list(data.class_names),
            oos_label=oos_label,
            model=model,
        )
        served = tracking.log_served_model(
            run_id, classifier, list(data.texts_val[:3]), cfg.tracking.registered_model, ALIAS
        )
        tracking.set_tags(run_id, {"served_model": BASELINE_NAME if use_baseline else "keras"})
    rows = []
    for key in COMPARED:
        a, b = original.data.metrics.get(key), outcome.final.get(key)
        rows.append((key, a, b, None if a is None or b is None else abs(a - b)))
    print(f"\n{'metric':<18}{'original':>12}{'rerun':>12}{'|diff|':>12}")
    for key, a, b, d in rows:
        print(
            f"{key:<18}{a if a is not None else float('nan'):>12.5f}{b if b is not None else float('nan'):>12.5f}"
            f"{d if d is not None else float('nan'):>12.2e}"
        )
    worst = max((d for *_, d in rows if d is not None), default=float("nan"))
    print(
        f"\noriginal run and rerun {'agree' if worst <= TOLERANCE else 'DIFFER'} within {TOLERANCE:g} "
        f"(largest difference {worst:.2e})"
    )
    f = outcome.final
    print(
        f"\nhanded over: {name}; test accuracy {f.get('test_accuracy', float('nan')):.3f}, "
        f"temperature {classifier.temperature:.3g}"
    )
    print(f"threshold {classifier.threshold:.3g} on the calibrated largest probability ({why})")
    if "oos_threshold" in f:
        print(
            f"out of scope on {'test' if 'test_accuracy' in f else 'validation'}: in-scope accuracy "
            f"{f['oos_in_scope_accuracy']:.1%}, out-of-scope recall {f['oos_recall']:.1%}, AUROC {f['oos_auroc']:.3f}"
        )
    where = served["alias_uri"] or served["model_uri"]
    print(
        f"model: {served['model_uri']}"
        + (f"  registered as {where} (version {served['version']})" if served["alias_uri"] else "")
    )
    print('predict: make predict TEXT="some text"')
    return {
        "run_id": run_id,
        "model_uri": served["model_uri"],
        "alias_uri": served["alias_uri"],
        "version": served["version"],
        "max_diff": worst,
        "trial_run_id": trial_run_id,
        "original_run_id": original.info.run_id,
        "served": "baseline" if use_baseline else "trial",
        "calibrated": outcome.calibrated,
        "final": outcome.final,
    }
