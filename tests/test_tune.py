"""Early stopping restores the best epoch, and the tuning space runs end to end on a tiny intents profile."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from conftest import compose_config
from probsweep import tracking
from probsweep.cli.sweep import sweep
from probsweep.config import validate
from probsweep.data.loading import load_dataset
from probsweep.head import Head
from probsweep.probs import calibration as cal
from probsweep.train.fit import predict_raw
from probsweep.train.tracked import tracked_fit

pytestmark = pytest.mark.slow

# The intents profile shrunk to seconds: 6 intents in 2 domains, no vectors, out-of-scope queries in val/test.
TINY_INTENTS = [
    "data=intents",
    "data.synthetic.n_classes=6",
    "data.synthetic.n_groups=2",
    "data.synthetic.train_per_class=12",
    "data.synthetic.val_per_class=6",
    "data.synthetic.test_per_class=6",
    "data.synthetic.vocab_words=300",
    "data.synthetic.oos_per_split=4",
    "data.synthetic.oos_test=6",
    "train.jit_compile=false",
    "model.embed_dim=16",
    "model.gru_units=8",
    "model.conv_filters=8",
]


def test_early_stopping_restores_the_best_epoch_and_reports_its_metrics(store):
    # val_max_prob only grows as a softmax head learns: minimising it, epoch 1 is best, and training
    # stops after `patience` epochs without a new minimum.
    cfg = validate(
        compose_config(
            [
                *TINY_INTENTS,
                "model.activation=softmax",
                "train.learning_rate=0.01",
                "train.epochs=6",
                "train.early_stopping.enabled=true",
                "train.batch_size=16",
                "train.early_stopping.monitor=val_max_prob",
                "train.early_stopping.direction=min",
                "train.early_stopping.patience=2",
                "train.verbose=0",
            ]
        )
    )
    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    with tracking.run(tracking.setup(None, "early"), "es", tags={}) as run_id:
        outcome = tracked_fit(cfg, data, run_id)
    trained, history = outcome.trained, outcome.trained.monitor.history
    best, stopped = trained.best_epoch, trained.epochs_trained
    assert best == int(history.val_max_prob.idxmin()) + 1 and best + 2 == stopped < 6  # stopped early, restored
    # The model holds the best epoch's weights: its outputs are that epoch's probe outputs.
    raw = predict_raw(trained.model, data.x_val)
    np.testing.assert_allclose(raw[trained.monitor.probe_index], trained.monitor.probes[best - 1], atol=1e-5)
    # Final metrics and analysis are the restored epoch's, not the last one's.
    row = history.iloc[best - 1]
    inside = data.y_val >= 0
    assert outcome.final["val_max_prob"] == pytest.approx(row.val_max_prob) != history.val_max_prob.iloc[-1]
    assert outcome.final["val_accuracy"] == pytest.approx(float((raw[inside].argmax(1) == data.y_val[inside]).mean()))
    t = cal.fit_temperature(cal.logits_from_outputs(raw[inside], Head.of(cfg.model)), data.y_val[inside])
    assert outcome.final["temperature"] == pytest.approx(t, rel=1e-4)
    # MLflow keeps every epoch trained, then the restored epoch one step later, as its Keras autologging does.
    client = MlflowClient(store["uri"])
    steps = {m.step: m.value for m in client.get_metric_history(run_id, "val_max_prob")}
    assert sorted(steps) == list(range(1, stopped + 2)) and steps[stopped + 1] == pytest.approx(row.val_max_prob)
    latest = client.get_run(run_id).data
    assert latest.metrics["val_max_prob"] == pytest.approx(row.val_max_prob)
    assert (latest.metrics["best_epoch"], latest.metrics["stopped_epoch"]) == (best, stopped)
    assert latest.params["resolved.trainable_embedding"] == "True" and latest.params["data_report.max_len"] == "15"


def test_three_trial_tuning_sweep_on_a_tiny_intents_profile(store):
    cfg = compose_config(
        [
            *TINY_INTENTS,
            "search=tune",
            "tuner.max_trials=3",
            "tuner.initial_points=2",
            "train.epochs=3",
            "train.early_stopping.patience=1",
            f"sweep.dir={store['sweeps']}",
            "sweep.name=tune",
            "train.verbose=0",
        ]
    )
    parent = sweep(cfg)
    client = MlflowClient(store["uri"])
    children = client.search_runs(
        [client.get_experiment_by_name("tune").experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'"
    )
    trials = [r for r in children if r.data.tags["kind"] == "trial"]
    assert [r.data.tags["kind"] for r in children if r not in trials] == ["baseline"]
    assert len(trials) == 3 and all(r.info.status == "FINISHED" for r in trials)
    for r in trials:
        assert r.data.params["head"] in ("softmax+categorical", "sigmoid+binary")
        assert 1 <= r.data.metrics["best_epoch"] <= r.data.metrics["stopped_epoch"] <= 3
        assert r.data.params["resolved.trainable_embedding"] == "True" and "oos_recall" in r.data.metrics
    best = client.get_run(client.get_run(parent).data.tags["best_run_id"])
    assert best.data.metrics["val_accuracy"] == max(r.data.metrics["val_accuracy"] for r in trials)
    assert (store["tmp"] / "sweeps" / "tune" / "best.yaml").exists()
