"""The champion: `make best` retrains what the sweep's decision hands over and registers it as the registry
alias @champion; `make predict` serves it.

The sweep decided once, at its end (report.decision; tags on its parent run, best.yaml for the
handed-over configuration): the recommended trial, or the linear baseline when it is at least as good
on the objective. This module reads that decision and never decides again; a sweep recorded before
the tags existed gets the same function's answer from its table. The rerun's final metrics are printed
beside the original run's: under the same seed they agree within TOLERANCE. The registered version
carries the sweep, the run it retrains and its trial as tags, and serves calibrated probabilities
and a decision.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from probsweep import tracking
from probsweep.config import ConfigError, check_best, locate_sweep, validate
from probsweep.probs.metrics import FINAL
from probsweep.report.decision import Decision, from_tags, name_of
from probsweep.report.page import sweep_table
from probsweep.report.verdict import BASELINE_NAME

TOLERANCE = 1e-3  # absolute, on each final metric
COMPARED = FINAL  # the final metrics of the comparison table
ALIAS = "champion"


def text_model(featurizer, model):
    """Raw strings in, the head's outputs out: the featurizer (data.vectorizer for token ids, or the
    family's own, probsweep.data.features) travels with the model; None: the model reads strings."""
    import keras

    texts = keras.Input(shape=(1,), dtype="string", name="text")
    # A fresh Functional over the same layers: carries no compile state, so it loads without probsweep.
    inference = keras.Model(model.inputs, model.outputs, name="classifier")
    return keras.Model(texts, inference(featurizer(texts) if featurizer is not None else texts), name="text_classifier")


def serving_threshold(final: dict, target: float) -> tuple:
    """The out-of-scope rejection threshold where the data has such examples, else the target-precision one."""
    if "oos_threshold" in final:
        return final[
            "oos_threshold"
        ], "out-of-scope rejection: maximises accuracy with out-of-scope as a class, on validation"
    return final[
        "threshold"
    ], f"the lowest calibrated largest probability reaching {target:.0%} precision on validation"


def recorded_decision(sweep_name: str, sweeps_root: str | None = None) -> tuple[DictConfig, str, str, Decision]:
    """(config to retrain, experiment id, parent run id, the sweep's decision), or a ConfigError."""
    best_yaml = check_best(sweep_name, sweeps_root)
    cfg = validate(OmegaConf.load(best_yaml))
    experiment_id = tracking.setup(cfg.tracking.uri, sweep_name)
    _, parent_id = locate_sweep(sweep_name, sweeps_root)
    parent = tracking.get_run(parent_id)
    params, tags = parent.data.params, parent.data.tags
    objective = params.get("search.objective", cfg.search.objective)
    direction = params.get("search.direction", cfg.search.direction)
    hp_names = [k[len("space.") :] for k in sorted(params) if k.startswith("space.")]
    table, _ = sweep_table(experiment_id, parent_id, hp_names, objective, direction)
    decision = from_tags(tags, table, objective, direction)
    if decision.handed_over is None:
        raise ConfigError(f"sweep '{sweep_name}' has no finished trial or baseline: rerun `make sweep` to finish it")
    if not tags.get("handed_over_kind") and decision.kind == "trial":
        # Recorded before the decision tags: best.yaml then holds the objective's best, so the trial to
        # retrain is read from its own run's config.
        own = tracking.read_artifact(str(decision.handed_over["run_id"]), "config.yaml")
        if isinstance(own, str):
            cfg = validate(OmegaConf.create(own))
    return cfg, experiment_id, parent_id, decision


def best(sweep_name: str, sweeps_root: str | None = None) -> dict:
    """Retrain what the sweep's recorded decision hands over and register it as @champion."""
    cfg, experiment_id, parent_id, decision = recorded_decision(sweep_name, sweeps_root)
    # TensorFlow loads only once the sweep and its decision are known good.
    from probsweep.data.features import features_for
    from probsweep.data.loading import load_dataset
    from probsweep.data.synthetic import OOS_LABEL  # the embedded data's out-of-scope label
    from probsweep.head import Head
    from probsweep.probs.serving import CalibratedClassifier
    from probsweep.train.tracked import BASELINE_HEAD, BaselineOutcome, Outcome, tracked_baseline, tracked_fit

    row = decision.handed_over
    assert row is not None  # recorded_decision refuses a sweep with nothing handed over
    use_baseline = decision.kind == "baseline"
    original: Any = tracking.get_run(str(row["run_id"]))
    name = f"the linear baseline ({BASELINE_NAME})" if use_baseline else name_of(row)
    print(f"handing over {name}: {decision.reason}")

    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    tags = {"kind": "best", "rerun_of_run_id": original.info.run_id, "sweep": sweep_name, "trial": str(row["trial"])}
    with tracking.run(
        experiment_id, name=f"best-rerun-of-{'baseline' if use_baseline else name.replace(' ', '-')}", tags=tags
    ) as run_id:
        outcome: Outcome | BaselineOutcome
        if use_baseline:
            outcome = tracked_baseline(cfg, data, run_id, prefix="[best] ")
            model, kind, head = outcome.baseline.pipeline, "sklearn", BASELINE_HEAD
        else:
            outcome = fitted = tracked_fit(cfg, data, run_id, prefix="[best] ")
            featurizer = features_for(data, cfg.model).featurizer  # the family's input, made from raw strings
            if hasattr(
                featurizer, "text_model"
            ):  # a Python featurizer (ngram's, the encoder's) builds the served model
                model, kind = featurizer.text_model(fitted.trained.model), featurizer.served_kind
            else:
                model, kind = text_model(featurizer, fitted.trained.model), "keras"
            head = Head.of(cfg.model)
        threshold, why = serving_threshold(outcome.final, cfg.train.target_precision)
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
        version_tags = {
            "sweep": sweep_name,
            "source_run_id": original.info.run_id,  # the sweep's run this model retrains
            "rerun_run_id": run_id,
            "trial": str(row["trial"]),
            "kind": decision.kind,
            "head": str(row.get("head_label", "")),
        }
        served = tracking.log_served_model(
            run_id, classifier, list(data.texts_val[:3]), cfg.tracking.registered_model, ALIAS, version_tags
        )
        tracking.set_tags(run_id, {"served_model": BASELINE_NAME if use_baseline else "keras"})
    worst = print_comparison(original.data.metrics, outcome.final)
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
        "trial_run_id": str(decision.recommended["run_id"]) if decision.recommended is not None else None,
        "original_run_id": original.info.run_id,
        "served": decision.kind,
        "calibrated": outcome.calibrated,
        "final": outcome.final,
    }


def print_comparison(original: dict[str, float], rerun: dict[str, float]) -> float:
    """The original run's final metrics beside the rerun's; returns the largest absolute difference."""
    rows = []
    for key in COMPARED:
        a, b = original.get(key), rerun.get(key)
        rows.append((key, a, b, None if a is None or b is None else abs(a - b)))
    print(f"\n{'metric':<18}{'original':>12}{'rerun':>12}{'|diff|':>12}")
    nan = float("nan")
    for key, a, b, d in rows:
        a, b, d = (nan if v is None else v for v in (a, b, d))
        print(f"{key:<18}{a:>12.5f}{b:>12.5f}{d:>12.2e}")
    worst = max((d for *_, d in rows if d is not None), default=nan)
    print(
        f"\noriginal run and rerun {'agree' if worst <= TOLERANCE else 'DIFFER'} within {TOLERANCE:g} "
        f"(largest difference {worst:.2e})"
    )
    return worst


def describe(model_uri: str) -> str | None:
    """What a registered model is, from its version's tags (written by `best`): None for a runs:/ URI."""
    tags = tracking.model_version_tags(model_uri)
    if not tags:
        return None
    what = "the linear baseline" if tags.get("kind") == "baseline" else f"trial {tags.get('trial', '?')}"
    head = f" ({tags['head']})" if tags.get("head") and tags.get("kind") != "baseline" else ""
    sweep = f" of sweep '{tags['sweep']}'" if tags.get("sweep") else ""
    source = f", retrained from run {tags['source_run_id']}" if tags.get("source_run_id") else ""
    return f"model {model_uri} (version {tags.get('version')}): {what}{head}{sweep}{source}"


def predict(model_uri: str, texts: list, top: int = 3) -> pd.DataFrame:
    """The served model's output frame (a column per class, prediction, confidence, decision), printed."""
    if not texts:
        raise ConfigError('no texts given: pass TEXT="..." or FILE=texts.txt (one text per line)')
    tracking.setup(None, "probsweep-train")  # only to point MLflow at the project's store
    model = tracking.load_served_model(model_uri)
    said = describe(model_uri)
    if said:
        print(said)
    out = model.predict(pd.DataFrame({"text": texts}))
    classes = [c for c in out.columns if c not in ("prediction", "confidence", "decision")]
    for text, (_, row) in zip(texts, out.iterrows(), strict=True):
        probs = row[classes].astype(float).nlargest(top)
        shown = "  ".join(f"{c} {p:.4f}" for c, p in probs.items())
        print(f"{text[:60]!r:<64} {shown}   -> {row['prediction']}: {row['decision']}")
    print("(calibrated probabilities: the model's outputs after its temperature; they sum to 1)")
    return out
