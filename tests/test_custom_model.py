"""Bring your own model: a body built from model._target_, the head and the diagnosis added by probsweep."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from conftest import compose_config
from probsweep.config import ConfigError, ModelConfig, validate
from probsweep.train.model import build_model

CUSTOM = "custom_builder.average_body"


def model_cfg(**overrides):
    return OmegaConf.merge(OmegaConf.structured(ModelConfig), overrides)


def test_custom_body_gets_the_data_sizes_its_typed_keys_and_kwargs_and_probsweep_adds_the_head():
    cfg = model_cfg(
        _target_=CUSTOM,
        embed_dim=6,
        dropout=0.25,
        activation="softmax",
        loss="categorical_crossentropy",
        kwargs={"pool": "max"},
    )
    matrix = np.arange(20 * 6, dtype="float32").reshape(20, 6)
    model = build_model(cfg, vocab_size=20, n_classes=5, max_len=9, embedding_matrix=matrix)
    assert model.name == "average_body"
    assert [layer.name for layer in model.layers] == ["tokens", "embedding", "max_pool", "dropout", "head"]
    assert model.input_shape == (None, 9) and model.output_shape == (None, 5)
    assert model.get_layer("dropout").rate == 0.25  # model.dropout, named in the builder's signature
    assert np.array_equal(model.get_layer("embedding").get_weights()[0], matrix)
    head = model.get_layer("head")
    assert isinstance(head, keras.layers.Dense) and head.activation.__name__ == "softmax"
    outputs = model.predict(np.ones((3, 9), dtype="int32"), verbose=0)
    assert outputs.shape == (3, 5) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-5)


def test_the_seed_body_is_the_default_target():
    assert validate(compose_config()).model._target_ == "probsweep.train.model.seed_body"
    model = build_model(model_cfg(embed_dim=8, gru_units=4, conv_filters=4), 30, 7, 12)
    assert model.name == "seed_classifier" and model.layers[-1].name == "head" and model.output_shape == (None, 7)


@pytest.mark.parametrize(
    "overrides,named",
    [
        ({"_target_": "custom_builder.no_such_function"}, "model._target_='custom_builder.no_such_function'"),
        ({"_target_": "no_such_module.body"}, "is not an importable function"),
        ({"_target_": CUSTOM, "kwargs": {"pools": "max"}}, "model.kwargs.pools: custom_builder.average_body takes no"),
        ({"_target_": CUSTOM, "kwargs": {"dropout": 0.5}}, "model.kwargs.dropout: dropout is given by model.dropout"),
        ({"_target_": CUSTOM, "kwargs": {"max_len": 3}}, "max_len is given by the data"),
        ({"_target_": "custom_builder.sizes_only"}, "must accept vocab_size, n_classes, max_len, embedding_matrix"),
        ({"_target_": "custom_builder.sequence_body"}, "returned outputs of shape [(None, 9, 4)]"),
    ],
)
def test_a_builder_that_cannot_work_is_refused_with_one_line_naming_the_key(overrides, named):
    with pytest.raises(ConfigError) as err:
        build_model(model_cfg(**overrides), vocab_size=20, n_classes=5, max_len=9)
    assert named in str(err.value) and "\n" not in str(err.value)


def test_builder_kwargs_compose_from_the_command_line_and_a_search_space_may_set_them():
    from probsweep.sweep import space as search

    cfg = validate(compose_config([f"model._target_={CUSTOM}", "+model.kwargs.pool=max"]))
    assert cfg.model.kwargs == {"pool": "max"}
    entries = search.parse(OmegaConf.create({"model.kwargs.pool": {"choice": ["average", "max"]}}))
    base = validate(compose_config([f"model._target_={CUSTOM}"]))
    search.check_space(base, entries)
    assert search.apply(base, {"model.kwargs.pool": "average"}, entries).model.kwargs == {"pool": "average"}
    assert base.model.kwargs == {}


@pytest.mark.slow
def test_custom_body_trains_through_the_tracked_path_and_its_mismatched_head_is_diagnosed(tiny, store):
    from probsweep.cli.train import train

    cfg = tiny(f"model._target_={CUSTOM}", "+model.kwargs.pool=max", "train.epochs=1", "model.mismatch_path=B")
    run_id = train(cfg)
    client = MlflowClient(store["uri"])
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model._target_"] == CUSTOM and run.data.params["model.kwargs.pool"] == "max"
    tags = run.data.tags
    assert tags["head"] == "sigmoid+sparse_categorical_crossentropy"
    assert tags["head_loss_mismatch"] == "true" and tags["loss_path"] == "B"
    assert tags["diag.head_loss_mismatch"] == "true" and "path B" in tags["head_loss_mismatch_warning"]
    assert [m.step for m in client.get_metric_history(run_id, "val_prob_sum")] == [1]
    summary = client.download_artifacts(run_id, "model_summary.txt", str(store["tmp"]))
    text = open(summary).read()
    assert "average_body" in text and "max_pool" in text and "bidirectional" not in text
    names = {f.path for f in client.list_artifacts(run_id)}
    assert {"diagnosis.txt", "reliability.png", "probes.csv"} <= names


def test_a_sweep_with_a_builder_that_cannot_work_stops_before_the_first_trial(tiny, store):
    from probsweep.sweep.run import run_sweep

    with pytest.raises(ConfigError, match="model.kwargs.pools"):
        run_sweep(tiny(f"model._target_={CUSTOM}", "+model.kwargs.pools=max"))
    assert not (store["tmp"] / "sweeps").exists()  # no sweep folder, no parent run: nothing started
