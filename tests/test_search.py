"""Search spaces as data: parsing, Keras Tuner declaration, conditional scopes and trial configs."""

from __future__ import annotations

import keras_tuner as kt
import pytest

from conftest import compose_config
from probsweep.config import ConfigError, validate
from probsweep.probs.metrics import OBJECTIVES
from probsweep.sweep import space as search
from probsweep.sweep.tuner import check_declarable

SPACE = {
    "head": {
        "choice": {
            "soft": {"model.activation": "softmax", "model.loss": "categorical_crossentropy"},
            "sparse": {"model.activation": "softmax", "model.loss": "sparse_categorical_crossentropy"},
        }
    },
    "model.label_smoothing": {"float": [0.0, 0.1], "step": 0.05, "when": {"head": ["soft"]}},
    "train.epochs": {"int": [1, 8], "sampling": "log", "step": 2},
}


def test_space_declares_conditional_hyperparameters_named_after_config_keys():
    hp = kt.HyperParameters()
    search.declare(hp, search.parse(SPACE))
    assert [p.name for p in hp.space] == ["head", "model.label_smoothing", "train.epochs"]
    hp.values["head"] = "sparse"
    assert not hp.is_active("model.label_smoothing")  # smoothing never meets the sparse loss
    hp.values["head"] = "soft"
    assert hp.is_active("model.label_smoothing")


def test_a_trial_is_the_base_config_with_the_sampled_keys_overridden():
    base = validate(compose_config())
    entries = search.parse(SPACE)
    cfg = search.apply(base, {"head": "soft", "model.label_smoothing": 0.05, "train.epochs": 4}, entries)
    assert cfg.model.activation.value == "softmax" and cfg.model.loss.value == "categorical_crossentropy"
    assert (cfg.model.label_smoothing, cfg.train.epochs) == (0.05, 4)
    assert base.model.activation.value == "sigmoid"  # the base is untouched
    with pytest.raises(ConfigError, match="label_smoothing"):
        search.apply(base, {"head": "sparse", "model.label_smoothing": 0.1}, [*entries[:1], entries[1]])


@pytest.mark.parametrize(
    "space,named",
    [
        ({"model.dropout": [0.1, 0.3]}, "must be a mapping"),
        ({"model.dropout": {"choice": [0.1], "float": [0, 1]}}, "exactly one of"),
        ({"model.dropout": {"float": [0.1]}}, "[min, max]"),
        ({"model.dropout": {"choice": [0.1], "when": {"head": ["x"]}}}, "refers to 'head'"),
    ],
)
def test_malformed_entries_are_refused_with_their_name(space, named):
    with pytest.raises(ConfigError) as err:
        search.parse(space)
    assert named in str(err.value) and "model.dropout" in str(err.value)


def test_values_of_the_wrong_type_and_keras_tuner_rules_fail_before_any_trial():
    base = validate(compose_config())
    with pytest.raises(ConfigError, match="model.activation"):
        search.check_space(base, search.parse({"model.activation": {"choice": ["softmax", "tanhh"]}}))
    with pytest.raises(ConfigError, match="step"):
        check_declarable(search.parse({"train.epochs": {"int": [1, 30], "sampling": "log"}}))


def test_tune_space_parses_declares_and_keeps_to_probability_heads():
    # Without model.encoder.preset the encoder option is left out (tests/test_encoder_space.py has it in).
    cfg = search.without_unavailable(validate(compose_config(["search=tune"])))
    entries = search.parse(cfg.search.space)
    search.check_space(cfg, entries)
    check_declarable(entries)
    hp = kt.HyperParameters()
    search.declare(hp, entries)
    assert {
        "train.learning_rate",
        "model.gru_units",
        "model.conv_filters",
        "model.dropout",
        "model.label_smoothing",
        "model.embed_dim",
        "train.batch_size",
    } <= {p.name for p in hp.space}
    by_name = {e.name: e for e in entries}
    heads = {label: (b["model.activation"], b["model.loss"]) for label, b in by_name["head"].bundles.items()}
    assert set(heads.values()) == {("softmax", "categorical_crossentropy"), ("sigmoid", "binary_crossentropy")}
    for label in heads:  # every head with every smoothing is a valid trial
        search.apply(cfg, {"head": label, "model.label_smoothing": 0.2}, entries)
    # The family is a choice; each family's own keys exist only in its trials.
    families = by_name["family"].bundles
    assert set(families) == {"ngram", "cnn", "seed"}
    for family, bundle in families.items():
        assert search.apply(cfg, {"family": family}, entries).model._target_ == bundle["model._target_"]
    assert by_name["model.ngram.hidden"].when == {"family": ["ngram"]}
    assert by_name["model.gru_units"].when == {"family": ["seed"]}
    # The search config brings its tuner, budget and early stopping; the command line still wins.
    assert cfg.tuner.kind == "bayesian" and cfg.tuner.max_trials >= 8
    assert cfg.train.early_stopping.enabled and cfg.train.epochs >= 40
    assert cfg.search.objective in OBJECTIVES and cfg.train.early_stopping.monitor in OBJECTIVES
    assert validate(compose_config(["search=tune", "tuner=hyperband"])).tuner.kind == "hyperband"


def test_the_seed_question_space_trains_for_its_epochs_without_early_stopping():
    cfg = validate(compose_config())
    assert not cfg.train.early_stopping.enabled and cfg.tuner.kind == "random"


def test_early_stopping_direction_comes_from_the_monitored_metric_unless_set():
    from probsweep.train.fit import stopping_direction

    es = validate(compose_config(["search=tune"])).train.early_stopping
    assert stopping_direction(es) == "max"  # val_accuracy
    assert stopping_direction({**es, "monitor": "val_brier"}) == "min"
    assert stopping_direction({**es, "monitor": "val_max_prob", "direction": "min"}) == "min"
    with pytest.raises(ConfigError, match="needs train.early_stopping.direction"):
        stopping_direction({**es, "monitor": "val_max_prob"})  # a level: neither side is better
    with pytest.raises(ConfigError, match="train.early_stopping.monitor='val_acc'"):
        stopping_direction({**es, "monitor": "val_acc"})


def test_another_familys_keys_are_inactive_and_left_blank_in_the_trial_table():
    import pandas as pd

    from probsweep.report.tables import comparison_table

    entries = search.parse(validate(compose_config(["search=tune"])).search.space)
    off = search.inactive(entries, {"family": "ngram", "head": "sigmoid+binary"})
    assert "model.cnn.filters" in off and "model.gru_units" in off
    assert "model.ngram.hidden" not in off and "train.learning_rate" not in off and "family" not in off
    runs = pd.DataFrame(
        {
            "run_id": ["a", "b"],
            "status": ["FINISHED", "FINISHED"],
            "tags.kind": ["trial", "trial"],
            "tags.trial": ["1", "2"],
            "tags.inactive_keys": [",".join(off), ""],
            "params.model.cnn.filters": ["128", "64"],
            "params.model.ngram.hidden": ["256", "256"],
            "metrics.val_accuracy": [0.9, 0.8],
        }
    )
    table = comparison_table(runs, ["model.cnn.filters", "model.ngram.hidden"], "val_accuracy", "max")
    assert pd.isna(table.loc[0, "model.cnn.filters"]) and table.loc[1, "model.cnn.filters"] == "64"
    assert list(table["model.ngram.hidden"]) == ["256", "256"]
