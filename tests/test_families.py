"""Every model family gets the whole tool: one epoch on tiny data through a sweep (head pairing, the
mismatch diagnosed, calibration, thresholds), `make best`, the registered pyfunc and `make predict`
on raw strings. Plus the input mechanism itself (probsweep.data.features) and the family verdict."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from conftest import TINY, compose_config
from probsweep import tracking
from probsweep.cli.best import best
from probsweep.cli.sweep import sweep
from probsweep.config import ConfigError, validate
from probsweep.data.features import family_of, features_for, input_kind, model_input
from probsweep.data.loading import load_dataset
from probsweep.report.verdict import family_paragraph
from probsweep.sweep.champion import predict
from probsweep.train import families
from probsweep.train.model import build_model, seed_body

TARGETS = {
    "seed": "probsweep.train.model.seed_body",
    "ngram": "probsweep.train.families.ngram_body",
    "cnn": "probsweep.train.families.cnn_body",
}
# The seed's mismatched head beside a matched one: both train, and the first must be diagnosed.
HEADS = {
    "head": {
        "choice": {
            "seed-mismatch-A": {"model.activation": "sigmoid", "model.loss": "sparse_categorical_crossentropy"},
            "softmax+sparse": {"model.activation": "softmax", "model.loss": "sparse_categorical_crossentropy"},
        }
    }
}
SMALL = ["model.ngram.hidden=8", "model.cnn.filters=4"]


def test_each_family_reads_its_own_input_made_once_per_data_set(tiny):
    cfg = validate(tiny(*SMALL))
    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    assert [input_kind(seed_body), input_kind(families.cnn_body), input_kind(families.ngram_body)] == [
        "tokens",
        "tokens",
        "ngrams",
    ]
    tokens = features_for(data, cfg.model)
    assert tokens.x_train is data.x_train and tokens.featurizer is data.vectorizer  # the seed's input, unchanged
    cfg.model._target_ = TARGETS["ngram"]
    bag = features_for(data, cfg.model)
    assert model_input(data, "ngrams", cfg.model) is bag  # cached on the data: a sweep featurises once
    assert bag.x_train.shape == (len(data.y_train), bag.arguments["n_features"]) and bag.x_val.shape[0] == len(
        data.y_val
    )
    assert bag.x_train.getnnz(axis=1).min() > 0 and not bag.jit_compile  # sparse TF-IDF rows, none empty
    norms = np.sqrt(np.asarray(bag.x_train.multiply(bag.x_train).sum(axis=1))).ravel()  # word and char part: 1 each
    assert np.all(np.isclose(norms, 1, atol=1e-5) | np.isclose(norms, np.sqrt(2), atol=1e-5)) and np.median(norms) > 1.4
    # The featurizer maps raw strings to exactly the training inputs (so serving sees what training saw).
    texts = data.frame.text[data.frame.split == "train"].tolist()[:5]
    np.testing.assert_array_equal(bag.featurizer.transform(texts).toarray(), bag.x_train[:5].toarray())
    cfg.model.ngram.min_df = 1  # another vocabulary: other features
    assert model_input(data, "ngrams", cfg.model) is not bag
    model = build_model(cfg.model, arguments=bag.arguments)
    assert model.output.shape[-1] == data.n_classes and model.inputs[0].shape[-1] == bag.arguments["n_features"]


def test_family_is_the_builder_name_and_its_keys_are_typed(tiny):
    assert [family_of(t) for t in TARGETS.values()] == list(TARGETS)
    with pytest.raises(ConfigError, match=r"model.ngram.char_ngrams=\[5, 2\] must be \[lowest, highest\]"):
        validate(tiny("model=ngram", "model.ngram.char_ngrams=[5,2]"))
    with pytest.raises(ConfigError, match=r"model.cnn.widths=\[\] must be a non-empty list"):
        validate(tiny("model=cnn", "model.cnn.widths=[]"))
    with pytest.raises(ConfigError, match="model.ngram.dropout=1.5 must be in"):
        validate(tiny("model=ngram", "model.ngram.dropout=1.5"))
    with pytest.raises(ConfigError, match="model.cnn.widths=.*above the texts' length 30"):
        cfg = validate(tiny("model=cnn", "model.cnn.widths=[2,40]"))
        build_model(cfg.model, 50, 3, 30)


@pytest.mark.slow  # a sweep and a retraining per family: about 4 min each on a loaded 2-core machine
@pytest.mark.parametrize("family", list(TARGETS))
def test_every_family_sweeps_serves_and_predicts_raw_strings(family, store):
    name = f"fam-{family}"
    cfg = compose_config(
        [
            *TINY,
            *SMALL,
            f"model={family}",
            "train.epochs=1",
            "tuner=grid",
            "tuner.max_trials=2",
            "search.baseline=false",
            f"sweep.dir={store['sweeps']}",
            f"sweep.name={name}",
            "train.verbose=0",
        ]
    )
    OmegaConf.update(cfg, "search.space", HEADS, merge=False)
    parent = sweep(cfg)
    client = MlflowClient(store["uri"])
    runs = client.search_runs(
        [client.get_experiment_by_name(name).experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'"
    )
    trials = {r.data.params["head"]: r for r in runs if r.data.tags.get("kind") == "trial"}
    assert set(trials) == set(HEADS["head"]["choice"]) and all(r.info.status == "FINISHED" for r in trials.values())
    for r in trials.values():
        assert r.data.params["resolved.family"] == family
        assert {"val_accuracy", "val_brier", "temperature", "threshold", "test_accuracy"} <= set(r.data.metrics)
    # The seed's mismatched head is diagnosed on every family, path A as Keras 3 takes it; the matched one is not.
    mismatched, matched = trials["seed-mismatch-A"].data.tags, trials["softmax+sparse"].data.tags
    assert "head_loss_mismatch" in mismatched["diagnosis_flags"] and mismatched["loss_path"] == "A"
    assert "head_loss_mismatch" not in matched["diagnosis_flags"]
    # make best: the Keras trial is handed over (no baseline), served from raw strings, calibrated as analysed.
    result = best(name, store["sweeps"])
    assert result["served"] == "trial" and result["max_diff"] <= 1e-3
    best_cfg = validate(OmegaConf.load(os.path.join(store["sweeps"], name, "best.yaml")))
    data = load_dataset(best_cfg.data, best_cfg.model.embed_dim, best_cfg.seed)
    served = tracking.load_served_model(result["model_uri"]).predict(pd.DataFrame({"text": data.texts_test}))
    np.testing.assert_allclose(served[data.class_names].to_numpy(), result["calibrated"]["test"], atol=1e-5)
    out = predict(result["model_uri"], ["lorem ipsum dolor", "a text never seen"], top=1)
    assert len(out) == 2 and set(out["prediction"]) <= set(data.class_names)


def test_the_verdict_names_the_winning_family_its_margin_and_the_baseline():
    table = pd.DataFrame(
        {
            "trial": ["2", "0", "1", "baseline"],
            "status": ["FINISHED"] * 4,
            "family": ["ngram", "cnn", "seed", None],
            "val_accuracy": [0.90, 0.85, 0.80, 0.88],
            "test_accuracy": [0.89, 0.84, 0.79, 0.876],
        }
    )
    text = family_paragraph(table, "val_accuracy", "max")
    assert text.startswith("The ngram family won: trial 2 has the best val_accuracy, 0.9 on validation")
    assert "cnn (trial 0: 0.85, by 0.05)" in text and "seed (trial 1: 0.8, by 0.1)" in text
    assert "the ngram family beats it by 0.02 (test accuracy 89.0% against 87.6%)" in text
    losing = table.assign(val_accuracy=[0.86, 0.85, 0.80, 0.88])
    assert "falls short of it by 0.02" in family_paragraph(losing, "val_accuracy", "max")
    assert family_paragraph(table[table.family != "cnn"].assign(family="seed"), "val_accuracy", "max") == ""
