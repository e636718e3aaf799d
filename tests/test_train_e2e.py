"""One tiny training end to end: what lands in MLflow, and how runs end."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from probsweep import tracking
from probsweep.cli.train import train
from probsweep.config import validate
from probsweep.probs.metrics import OBJECTIVES

PER_EPOCH = OBJECTIVES  # the one list: every per-epoch metric, epoch_seconds included


@pytest.mark.slow
def test_tiny_run_logs_every_metric_per_epoch_and_its_config(tiny, store):
    cfg = tiny("model.mismatch_path=B")
    run_id = train(cfg)
    client = MlflowClient(store["uri"])
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    for key in PER_EPOCH:
        steps = [m.step for m in client.get_metric_history(run_id, key)]
        assert steps == [1, 2], key
    tags = run.data.tags
    assert tags["head"] == "sigmoid+sparse_categorical_crossentropy"
    assert tags["head_loss_mismatch"] == "true" and tags["loss_path"] == "B"
    assert len(tags["git_commit"]) > 0 and len(tags["data_fingerprint"]) == 64
    assert run.data.params["model.activation"] == "sigmoid" and run.data.params["train.epochs"] == "2"
    assert len(run.inputs.dataset_inputs) == 1
    # The config artifact composes back to the same config.
    logged = client.download_artifacts(run_id, "config.yaml", str(store["tmp"]))
    assert validate(OmegaConf.load(logged)) == validate(cfg)
    names = {f.path for f in client.list_artifacts(run_id)}
    assert {"config.yaml", "history.csv", "model_summary.txt", "probes.csv"} <= names


def test_interrupted_run_ends_killed_and_crash_ends_failed(store):
    exp = tracking.setup(None, "ending")
    client = MlflowClient(store["uri"])
    with pytest.raises(KeyboardInterrupt):
        with tracking.run(exp, "interrupted", tags={}) as run_id:
            raise KeyboardInterrupt
    assert client.get_run(run_id).info.status == "KILLED"
    with pytest.raises(RuntimeError):
        with tracking.run(exp, "crashed", tags={}) as failed_id:
            raise RuntimeError("boom")
    failed = client.get_run(failed_id)
    assert failed.info.status == "FAILED" and "boom" in failed.data.tags["error"]


def test_stale_running_runs_are_marked_killed(store):
    exp = tracking.setup(None, "stale")
    client = MlflowClient(store["uri"])
    orphan = client.create_run(exp, tags={"trial_id": "7"}).info.run_id  # as if its process was kill -9'd
    assert tracking.end_stale_runs(exp, "tags.trial_id = '7'") == 1
    assert client.get_run(orphan).info.status == "KILLED"


def test_default_store_is_sqlite_under_mlruns(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = tracking.resolve_uri(None)
    assert uri.startswith("sqlite:///") and uri.endswith("mlruns/mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.resolve_uri(None) == "http://127.0.0.1:5999"
