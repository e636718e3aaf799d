"""The sweep end to end on a tiny data set: nested runs, failures, resume, best rerun, the UI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

import probsweep.sweep.tuner
from conftest import TINY, compose_config
from probsweep.cli.best import best
from probsweep.cli.predict import predict
from probsweep.cli.sweep import sweep
from probsweep.config import ConfigError, validate
from probsweep.sweep.champion import TOLERANCE

pytestmark = pytest.mark.slow

# Grid over three heads: two train, one is an invalid pairing (smoothing with the sparse loss).
SPACE = {
    "head": {
        "choice": {
            "softmax-sparse": {"model.activation": "softmax", "model.loss": "sparse_categorical_crossentropy"},
            "sigmoid-binary": {"model.activation": "sigmoid", "model.loss": "binary_crossentropy"},
            "smoothed-sparse": {
                "model.activation": "softmax",
                "model.loss": "sparse_categorical_crossentropy",
                "model.label_smoothing": 0.1,
            },
        }
    }
}


def sweep_config(store, name, *extra):
    cfg = compose_config(
        [*TINY, f"sweep.dir={store['sweeps']}", f"sweep.name={name}", "tuner=grid", "tuner.max_trials=3", *extra]
    )
    OmegaConf.update(cfg, "search.space", SPACE, merge=False)
    return cfg


def runs_of(client, name):
    exp = client.get_experiment_by_name(name)
    return client.search_runs([exp.experiment_id])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One tiny sweep shared by the checks below (training is the slow part)."""
    tmp = tmp_path_factory.mktemp("sweep")
    store = {"uri": f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}", "sweeps": str(tmp / "sweeps"), "tmp": tmp}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", store["uri"])
        parent = sweep(sweep_config(store, "tiny"))
        yield {**store, "parent": parent, "client": MlflowClient(store["uri"])}


def test_parent_and_three_nested_trials_with_same_param_keys(finished):
    client, parent = finished["client"], finished["parent"]
    runs = runs_of(client, "tiny")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent and r.data.tags["kind"] == "trial"]
    assert len(runs) == 5 and len(children) == 3  # the parent, three trials and the baseline
    assert client.get_run(parent).info.status == "FINISHED"
    keys = [set(r.data.params) for r in children]
    assert keys[0] == keys[1] == keys[2] and {"head", "model.activation", "train.epochs"} <= keys[0]
    assert sorted(r.data.tags["trial_id"] for r in children) == ["0", "1", "2"]
    for r in children:
        if r.info.status == "FINISHED":
            assert [m.step for m in client.get_metric_history(r.info.run_id, "val_brier")] == [1, 2]
            assert [m.step for m in client.get_metric_history(r.info.run_id, "val_max_prob")] == [1, 2]


def test_baseline_run_under_the_parent_logs_the_same_metrics_as_a_trial(finished):
    client, parent = finished["client"], finished["parent"]
    runs = [r for r in runs_of(client, "tiny") if r.data.tags.get("mlflow.parentRunId") == parent]
    baseline = [r for r in runs if r.data.tags["kind"] == "baseline"]
    trials = [r for r in runs if r.data.tags["kind"] == "trial" and r.info.status == "FINISHED"]
    assert len(baseline) == 1 and baseline[0].info.status == "FINISHED"
    assert set(trials[0].data.metrics) == set(trials[1].data.metrics)
    assert set(trials[0].data.metrics) <= set(baseline[0].data.metrics)
    assert {"test_accuracy", "test_brier", "test_nll", "val_ece", "threshold", "temperature"} <= set(
        baseline[0].data.metrics
    )
    assert {"test_accuracy", "test_brier", "test_nll"} <= set(trials[0].data.metrics)
    assert 0.0 <= baseline[0].data.metrics["test_accuracy"] <= 1.0
    table = client.download_artifacts(parent, "comparison.csv", str(finished["tmp"]))
    import pandas as pd

    assert list(pd.read_csv(table)["trial"].astype(str))[-1] == "baseline"  # one row, after the trials


def test_class_names_in_thresholds_json_and_the_report(finished):
    client = finished["client"]
    sigmoid = [r for r in runs_of(client, "tiny") if r.data.params.get("head") == "sigmoid-binary"][0]
    thresholds = json.loads(
        open(client.download_artifacts(sigmoid.info.run_id, "thresholds.json", str(finished["tmp"]))).read()
    )
    config = compose_config([*TINY])
    from probsweep.data.loading import load_dataset

    names = load_dataset(config.data, config.model.embed_dim, config.seed).class_names
    assert set(thresholds) == set(names)
    page = open(os.path.join(finished["sweeps"], "tiny", "report", "index.html"), encoding="utf-8").read()
    assert "Hardest classes" in page and all(name in page for name in names)
    assert "linear baseline" in page


def test_invalid_pairing_is_a_failed_trial_and_the_sweep_goes_on(finished):
    children = [r for r in runs_of(finished["client"], "tiny") if r.data.tags.get("kind") == "trial"]
    failed = [r for r in children if r.info.status == "FAILED"]
    assert len(failed) == 1 and failed[0].data.params["head"] == "smoothed-sparse"
    assert "label_smoothing" in failed[0].data.tags["error"]
    assert "error.txt" in {a.path for a in finished["client"].list_artifacts(failed[0].info.run_id)}
    assert sum(r.info.status == "FINISHED" for r in children) == 2


def test_parent_records_best_trial_table_and_space(finished):
    client, parent = finished["client"], finished["parent"]
    run = client.get_run(parent)
    assert run.data.tags["best_run_id"] in {r.info.run_id for r in runs_of(client, "tiny")}
    assert "best_val_brier" in run.data.metrics and run.data.params["tuner.kind"] == "grid"
    assert run.data.tags["data_fingerprint"]
    names = {a.path for a in client.list_artifacts(parent)}
    assert {"comparison.csv", "search_space.yaml"} <= names


def test_best_yaml_composes_on_its_own(finished):
    sweep_dir = os.path.join(finished["sweeps"], "tiny")
    with initialize_config_dir(config_dir=sweep_dir, version_base="1.3"):
        cfg = validate(compose(config_name="best"))
    best_run = finished["client"].get_run(finished["client"].get_run(finished["parent"]).data.tags["best_run_id"])
    assert cfg.model.activation.value == best_run.data.params["model.activation"]
    assert cfg.train.epochs == 2


def served_equals_analysis(result, cfg, uri):
    """The registered model, loaded by `uri`, gives the calibrated probabilities the analysis computed."""
    from probsweep import tracking
    from probsweep.data.loading import load_dataset

    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    out = tracking.load_served_model(uri).predict(pd.DataFrame({"text": data.texts_test}))
    np.testing.assert_allclose(out[data.class_names].to_numpy(), result["calibrated"]["test"], atol=1e-5)
    return out


def test_best_rerun_reproduces_the_better_model_and_serves_calibrated_probabilities(finished, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", finished["uri"])
    result = best("tiny", finished["sweeps"])
    assert result["max_diff"] <= TOLERANCE
    client = finished["client"]
    rerun = client.get_run(result["run_id"])
    assert rerun.data.tags["rerun_of_run_id"] == result["original_run_id"]
    assert {"test_accuracy", "test_brier", "test_nll"} <= set(rerun.data.metrics)
    # The better of the best trial and the baseline on val_brier (min) is the one handed over.
    base = [r for r in runs_of(client, "tiny") if r.data.tags.get("kind") == "baseline"][0]
    trial = client.get_run(result["trial_run_id"])
    expect = "trial" if trial.data.metrics["val_brier"] < base.data.metrics["val_brier"] else "baseline"
    assert result["served"] == expect
    assert result["alias_uri"] == "models:/probsweep-best@champion"
    cfg = validate(OmegaConf.load(os.path.join(finished["sweeps"], "tiny", "best.yaml")))
    served = served_equals_analysis(result, cfg, "models:/probsweep-best@champion")
    assert np.allclose(served[cfg_classes(served)].sum(axis=1), 1.0)
    # Any alias works, and `make predict` prints a decision per text.
    client.set_registered_model_alias("probsweep-best", "staging", result["version"])
    capsys.readouterr()
    out = predict("models:/probsweep-best@staging", ["lorem ipsum", "another text"], top=2)
    printed = capsys.readouterr().out
    assert len(out) == 2 and printed.count("-> ") == 2
    assert all(
        ("accepted" in line) or ("rejected (below threshold" in line) for line in printed.splitlines() if "-> " in line
    )


def cfg_classes(frame):
    return [c for c in frame.columns if c not in ("prediction", "confidence", "decision")]


def test_predict_names_a_missing_model_in_one_line(finished, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", finished["uri"])
    with pytest.raises(ConfigError, match="make best"):
        predict("models:/no-such-model@champion", ["text"])


def test_ui_answers_the_runs_search_rest_call(finished):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MLFLOW_TRACKING_URI": finished["uri"]}
    proc = subprocess.Popen(
        [sys.executable, "-m", "probsweep.cli.ui", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert "http://127.0.0.1:" in proc.stdout.readline()
        exp_id = finished["client"].get_experiment_by_name("tiny").experiment_id
        body = json.dumps({"experiment_ids": [exp_id], "max_results": 50}).encode()
        deadline, answer = time.monotonic() + 90, None
        while time.monotonic() < deadline and answer is None:
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/search",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                answer = json.loads(urllib.request.urlopen(req, timeout=5).read())
            except OSError:
                time.sleep(1)
        assert answer is not None, "the UI server did not answer within 90 s"
        assert len(answer["runs"]) >= 4
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_resume_after_interrupt_reruns_only_the_unfinished_trial(store, monkeypatch):
    real, calls = probsweep.sweep.tuner.tracked_fit, []

    def interrupt_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(probsweep.sweep.tuner, "tracked_fit", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        sweep(sweep_config(store, "resume"))
    monkeypatch.setattr(probsweep.sweep.tuner, "tracked_fit", real)
    sweep(sweep_config(store, "resume"))
    client = MlflowClient(store["uri"])
    runs = runs_of(client, "resume")
    parents = [r for r in runs if r.data.tags.get("kind") == "sweep"]
    trials = [r for r in runs if r.data.tags.get("kind") == "trial"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    by_trial = {}
    for r in trials:
        by_trial.setdefault(r.data.tags["trial_id"], []).append(r.info.status)
    assert sorted(by_trial) == ["0", "1", "2"]
    assert sorted(by_trial["0"]) == ["FINISHED"]  # finished before the interrupt: not rerun, not duplicated
    assert sorted(by_trial["1"]) == ["FINISHED", "KILLED"]  # interrupted, then rerun
    assert sorted(by_trial["2"]) == ["FAILED"]
    baselines = [r for r in runs if r.data.tags.get("kind") == "baseline"]
    assert [r.info.status for r in baselines] == ["FINISHED"]  # fitted once, kept on resume


def test_typo_in_search_space_fails_before_the_first_trial(store):
    typo = "+search.space.model.dropuot.choice=[0.1]"
    cfg = compose_config([*TINY, f"sweep.dir={store['sweeps']}", "search=quick", typo])
    with pytest.raises(ConfigError, match="dropuot"):
        sweep(cfg)
    assert MlflowClient(store["uri"]).get_experiment_by_name("seed-question") is None


def test_sweep_writes_a_self_contained_report_with_every_section(finished):
    from html.parser import HTMLParser

    path = os.path.join(finished["sweeps"], "tiny", "report", "index.html")
    page = open(path, encoding="utf-8").read()

    class Sections(HTMLParser):
        ids, open_tags = set(), []

        def handle_starttag(self, tag, attrs):
            self.ids.update(v for k, v in attrs if k == "id")
            if tag in ("html", "body", "section", "table", "div"):
                self.open_tags.append(tag)

        def handle_endtag(self, tag):
            if tag in ("html", "body", "section", "table", "div"):
                assert self.open_tags.pop() == tag

    parser = Sections()
    parser.feed(page)
    assert parser.open_tags == []
    assert {"verdict", "trials", "curves", "reliability", "effects", "diagnosis"} <= parser.ids
    assert "data:image/png;base64," in page and "http://" not in page and "<script" not in page
    artifacts = {a.path for a in finished["client"].list_artifacts(finished["parent"], "report")}
    assert "report/index.html" in artifacts


def test_a_sweep_runs_on_a_users_csv_file(store):
    from probsweep.config import SyntheticConfig
    from probsweep.data import synthetic

    tiny_data = SyntheticConfig(
        n_classes=4,
        n_groups=2,
        train_per_class=10,
        val_per_class=4,
        test_per_class=4,
        min_len=5,
        max_len=20,
        vocab_words=60,
    )
    frame, _ = synthetic.generate(tiny_data, 16, seed=1)
    path = store["tmp"] / "mine.csv"
    frame.rename(columns={"text": "body", "label": "topic"}).drop(columns="split").to_csv(path, index=False)
    cfg = sweep_config(
        store,
        "csv",
        "data=file",
        f"data.path={path}",
        "data.text_column=body",
        "data.label_column=topic",
        "data.max_len=20",
        "tuner.max_trials=1",
        "search.baseline=false",
    )
    parent = sweep(cfg)
    client = MlflowClient(store["uri"])
    trials = [r for r in runs_of(client, "csv") if r.data.tags.get("kind") == "trial"]
    assert len(trials) == 1 and trials[0].info.status == "FINISHED"
    assert not [r for r in runs_of(client, "csv") if r.data.tags.get("kind") == "baseline"]  # search.baseline=false
    # No baseline to beat: `make best` hands over the Keras model, served calibrated from raw strings.
    result = best("csv", store["sweeps"])
    assert result["served"] == "trial"
    served_equals_analysis(
        result, validate(OmegaConf.load(os.path.join(store["sweeps"], "csv", "best.yaml"))), result["alias_uri"]
    )
    assert (
        trials[0].data.params["data.path"] == str(path) and trials[0].data.params["data_report.split"] == "stratified"
    )
    assert client.get_run(parent).data.tags["data_fingerprint"] == trials[0].data.tags["data_fingerprint"]
