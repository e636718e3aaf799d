"""The HTML report on a fake sweep written straight into a temporary MLflow store (no training)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from probsweep import tracking
from probsweep.cli.report import main, report
from probsweep.config import ConfigError
from probsweep.report.page import build_report
from probsweep.report.tables import effects_table, trial_table
from probsweep.report.verdict import verdict_text

SECTIONS = ("trials", "curves", "reliability", "effects", "verdict", "diagnosis")
SEED_HEAD = "sigmoid+sparse_categorical_crossentropy"


def history(epochs, max_prob, prob_sum, acc, ece):
    """Per-epoch metrics moving geometrically from their (first, last) values."""
    t = np.linspace(0, 1, epochs)
    geo = lambda a, b: a * (b / a) ** t  # noqa: E731
    return pd.DataFrame(
        {
            "epoch": np.arange(1, epochs + 1),
            "accuracy": np.linspace(0.3, 0.95, epochs),
            "loss": geo(3.0, 0.2),
            "val_accuracy": np.linspace(*acc, epochs),
            "val_loss": geo(3.0, 1.0),
            "val_max_prob": geo(*max_prob),
            "val_prob_sum": geo(*prob_sum),
            "val_entropy": geo(2.0, 1.0),
            "val_entropy_norm": geo(0.8, 0.4),
            "val_ece": np.linspace(*ece, epochs),
            "val_brier": geo(1.2, 0.5),
            "val_nll": geo(3.0, 1.2),
            "epoch_seconds": 1.0,
        }
    )


def reliability(conf_center, acc):
    edges = np.linspace(0, 1, 16)
    rows = []
    for split in ("val", "test"):
        for calibrated in (False, True):
            c = conf_center if not calibrated else acc
            for lo, hi in zip(edges[:-1], edges[1:], strict=True):
                inside = lo <= c < hi or (hi == 1 and c == 1)
                rows.append(
                    {
                        "split": split,
                        "calibrated": calibrated,
                        "bin_lower": lo,
                        "bin_upper": hi,
                        "count": 40 if inside else 0,
                        "confidence": c if inside else np.nan,
                        "accuracy": acc if inside else np.nan,
                    }
                )
    return pd.DataFrame(rows)


def probes(epochs, start, end, k=8):
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 1.0, k)
    rows = []
    for e in range(1, epochs + 1):
        level = start * (end / start) ** ((e - 1) / max(epochs - 1, 1))
        for probe in (0, 7):
            for c in range(k):
                rows.append({"epoch": e, "probe": probe, "class": c, "output": level * base[c]})
    return pd.DataFrame(rows)


# trial id, head label, activation, loss, path, epochs, dropout, (max first, last), (sum first, last), final accuracy,
# ECE (first, last), brier objective, status
TRIALS = [
    (
        "0",
        "seed-mismatch-B",
        "sigmoid",
        "sparse_categorical_crossentropy",
        "B",
        30,
        0.1,
        (0.62, 0.004),
        (20.0, 0.05),
        0.80,
        (0.3, 0.75),
        0.95,
        "FINISHED",
    ),
    (
        "1",
        "seed-mismatch-A",
        "sigmoid",
        "sparse_categorical_crossentropy",
        "A",
        12,
        0.3,
        (0.90, 0.999),
        (30.0, 60.0),
        0.78,
        (0.2, 0.22),
        40.0,
        "FINISHED",
    ),
    (
        "2",
        "softmax+sparse",
        "softmax",
        "sparse_categorical_crossentropy",
        "",
        20,
        0.1,
        (0.35, 0.85),
        (1.0, 1.0),
        0.83,
        (0.05, 0.08),
        0.31,
        "FINISHED",
    ),
    ("3", "sigmoid+binary", "sigmoid", "binary_crossentropy", "", 5, 0.3, None, None, None, None, None, "FAILED"),
]


def make_fake_sweep(name="fake"):
    """Parent run + 4 trials following the report's artifact contract; returns (experiment id, parent id)."""
    exp = tracking.setup(None, name)  # first: it points MLflow at this test's store
    client = MlflowClient()
    parent = client.create_run(exp, run_name=name, tags={"kind": "sweep", "sweep": name}).info.run_id
    client.log_batch(
        parent,
        params=[
            Param("search.objective", "val_brier"),
            Param("search.direction", "min"),
            Param("tuner.kind", "random"),
            Param("space.head", "choice: {...}"),
            Param("space.model.dropout", "choice: [0.1, 0.3]"),
            Param("space.train.epochs", "int: [1, 30]"),
        ],
    )
    ids = {}
    for tid, label, act, loss, path, epochs, dropout, mp, ps, acc, ece, brier, status in TRIALS:
        mismatch = act == "sigmoid" and loss == "sparse_categorical_crossentropy"
        tags = {
            "kind": "trial",
            "trial_id": tid,
            "mlflow.parentRunId": parent,
            "head": f"{act}+{loss}",
            "head_loss_mismatch": str(mismatch).lower(),
        }
        run = client.create_run(exp, run_name=f"trial-{tid}", tags=tags).info.run_id
        ids[tid] = run
        client.log_batch(
            run,
            params=[
                Param(k, str(v))
                for k, v in {
                    "head": label,
                    "model.activation": act,
                    "model.loss": loss,
                    "model.mismatch_path": path or "A",
                    "model.dropout": dropout,
                    "model.label_smoothing": 0.0,
                    "train.epochs": epochs,
                }.items()
            ],
        )
        if status == "FAILED":
            client.set_tag(run, "error", "ConfigError: model.label_smoothing needs one-hot targets")
            client.set_terminated(run, status="FAILED")
            continue
        flags = (
            "head_loss_mismatch,not_a_distribution," + ("collapse" if path == "B" else "saturation") if mismatch else ""
        )
        client.set_tag(run, "loss_path", path or "A")
        client.set_tag(run, "diagnosis_flags", flags)
        h = history(epochs, mp, ps, (0.4, acc), ece)
        h["val_brier"] = np.linspace(brier * 1.5, brier, epochs)
        metrics = [
            Metric(c, float(v), 0, int(e))
            for _, r in h.iterrows()
            for c, v in r.items()
            if c != "epoch"
            for e in [r["epoch"]]
        ]
        temp = 1.6 if not mismatch else 0.4
        final = {
            "temperature": temp,
            "val_ece_calibrated": 0.02 if not mismatch else 0.06,
            "val_nll_calibrated": 0.7,
            "threshold": 0.62,
            "threshold_val_coverage": 0.58,
            "threshold_test_coverage": 0.55,
            "threshold_test_precision": 0.941,
        }
        metrics += [Metric(k, v, 0, epochs) for k, v in final.items()]
        for i in range(0, len(metrics), 900):
            client.log_batch(run, metrics=metrics[i : i + 900])
        calibration = {
            "temperature": temp,
            "val": {
                "ece_before": ece[1],
                "ece_after": final["val_ece_calibrated"],
                "nll_before": 1.2,
                "nll_after": 0.7,
            },
            "test": None,
        }
        threshold = {
            "target_precision": 0.95,
            "threshold": 0.62,
            "reached": True,
            "val_coverage": 0.58,
            "val_precision": 0.953,
            "test_coverage": 0.55,
            "test_precision": 0.941,
        }
        tracking.log_artifacts(
            run,
            {
                "history.csv": h,
                "reliability.csv": reliability(min(mp[1], 0.99), acc),
                "probes.csv": probes(epochs, *mp),
                "calibration.json": json.dumps(calibration),
                "threshold.json": json.dumps(threshold),
                "diagnosis.txt": f"{len(flags.split(',')) if flags else 0} problem(s) found for trial {tid}.",
            },
        )
        client.set_terminated(run, status="FINISHED")
    client.set_tag(parent, "best_run_id", ids["2"])
    client.set_tag(parent, "best_trial_id", "2")
    client.set_terminated(parent, status="FINISHED")
    return exp, parent


class Balance(HTMLParser):
    """Checks that every non-void element is closed in order; collects ids and img sources."""

    VOID = {"meta", "img", "br", "hr", "link", "input", "col", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.ids, self.imgs = [], [], set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One fake sweep and its report, shared by the checks below."""
    tmp = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}")
        exp, parent = make_fake_sweep()
        path = build_report(exp, parent, tmp / "out")
        yield {"path": path, "html": path.read_text(), "exp": exp, "parent": parent, "tmp": tmp}


def test_report_is_balanced_html_with_every_section_and_embedded_images(built):
    assert built["path"] == built["tmp"] / "out" / "index.html"
    parser = Balance()
    parser.feed(built["html"])
    parser.close()
    assert parser.errors == [] and parser.stack == []
    assert set(SECTIONS) <= parser.ids
    assert all("<h2>" in part for part in re.split(r'<section id="', built["html"])[1:])
    assert parser.imgs and all(src.startswith("data:image/png;base64,") for src in parser.imgs)
    assert "<script" not in built["html"] and "http://" not in built["html"] and "https://" not in built["html"]


def test_report_shows_all_trials_and_names_the_failed_one(built):
    page = built["html"]
    for label in ("seed-mismatch-B", "seed-mismatch-A", "softmax+sparse", "sigmoid+binary"):
        assert label in page
    assert "FAILED" in page and "label_smoothing needs one-hot targets" in page
    assert "grouped means with their spread, not a model-based importance" in page


def test_verdict_names_the_seed_problem_with_numbers_and_recommends_softmax(built):
    verdict = re.search(r'<section id="verdict">(.*?)</section>', built["html"], re.S).group(1)
    assert "sum to" in verdict and "collapsed towards 0" in verdict and "saturated" in verdict
    assert "0.004" in verdict and "no fixed threshold" in verdict
    assert "Use trial 3 instead: softmax+sparse_categorical_crossentropy" in verdict  # trial_id 2, 1-based
    assert "T = 1.6" in verdict and "0.62" in verdict and "94.1%" in verdict


def _table(**over):
    rows = [
        dict(
            trial="0",
            status="FINISHED",
            run_id="r0",
            activation="sigmoid",
            loss="sparse_categorical_crossentropy",
            path="B",
            mismatch=True,
            epochs=30,
            head_label=f"{SEED_HEAD} (path B)",
            val_brier=0.9,
            val_max_prob=0.003,
            val_prob_sum=0.04,
            val_accuracy=0.8,
            val_ece=0.7,
        ),
        dict(
            trial="1",
            status="FINISHED",
            run_id="r1",
            activation="softmax",
            loss="sparse_categorical_crossentropy",
            path="",
            mismatch=False,
            epochs=10,
            head_label="softmax+sparse_categorical_crossentropy",
            val_brier=0.3,
            val_max_prob=0.8,
            val_prob_sum=1.0,
            val_accuracy=0.85,
            val_ece=0.06,
            temperature=1.3,
            val_ece_calibrated=0.02,
        ),
    ]
    return pd.DataFrame(rows).assign(**over)


def test_verdict_without_artifacts_falls_back_to_metrics_and_says_what_is_missing():
    text = verdict_text(_table(), "val_brier")
    assert "0.003" in text and "collapsed" in text and "Use trial 1 instead" in text
    assert "T = 1.3" in text and "0.02" in text
    assert "No confidence threshold was recorded" in text


def test_verdict_prefers_a_matched_head_even_when_the_seed_wins_the_objective():
    table = _table(val_brier=[0.1, 0.3])  # the seed's row is the best by the objective
    text = verdict_text(table, "val_brier")
    assert "Use trial 1 instead" in text and "trial 0 scored 0.1" in text


def test_verdict_without_seed_or_finished_trials():
    no_seed = _table().iloc[[1]]
    assert "has no trial with the seed's configuration" in verdict_text(no_seed, "val_brier")
    failed = _table(status="FAILED")
    text = verdict_text(failed, "val_brier")
    assert "failed" in text and "No trial finished" in text and "2 trial(s) did not finish" in text
    assert "No trial finished" in verdict_text(pd.DataFrame(columns=["trial", "status", "run_id"]), "val_brier")


def test_verdict_when_only_seed_trials_finished_says_nothing_matched():
    text = verdict_text(_table().iloc[[0]], "val_brier")
    assert "No trial with a matched head finished" in text and "not probabilities either" in text


def test_report_of_a_sweep_without_trials_still_renders_every_section(built, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{built['tmp'] / 'mlruns' / 'mlflow.db'}")
    client = MlflowClient()
    parent = client.create_run(built["exp"], run_name="empty", tags={"kind": "sweep"}).info.run_id
    page = build_report(built["exp"], parent, built["tmp"] / "empty").read_text()
    parser = Balance()
    parser.feed(page)
    assert parser.errors == [] and parser.stack == [] and set(SECTIONS) <= parser.ids
    assert "has no trial with the seed's configuration" in page and "No trial finished" in page


def test_threshold_not_reached_is_said():
    th = {"target_precision": 0.99, "threshold": 0.9, "reached": False, "val_coverage": 0.1, "val_precision": 0.97}
    assert "No threshold on the calibrated largest probability reaches 99% precision" in verdict_text(
        _table(), "val_brier", threshold=th
    )


def test_effects_bins_many_valued_numeric_hps_and_counts_finished_trials_only():
    table = pd.DataFrame(
        {
            "status": ["FINISHED"] * 8 + ["FAILED"],
            "lr": np.r_[np.linspace(0.001, 0.01, 8), 0.5],
            "head": list("aabbaabbc"),
            "val_brier": np.r_[np.arange(8) / 10, np.nan],
        }
    )
    eff = effects_table(table, ["lr", "head"], ["val_brier"])
    assert set(eff["hp"]) == {"lr", "head"}
    assert eff[eff["hp"] == "lr"]["count"].sum() == 8 and len(eff[eff["hp"] == "lr"]) == 4
    heads = eff[eff["hp"] == "head"]
    assert dict(zip(heads["value"], heads["count"], strict=True)) == {"a": 4, "b": 4}


def test_trial_table_of_no_runs_is_empty_but_has_the_columns():
    empty = trial_table(pd.DataFrame(), ["head"], "val_brier", "min")
    assert empty.empty and {"head_label", "flags", "trial"} <= set(empty.columns)


def test_cli_builds_into_the_sweep_folder_and_logs_to_the_parent(built, monkeypatch):
    """The wiring only: the page itself is checked above, so the build is stubbed to keep this fast."""
    import probsweep.report.page

    seen = {}

    def fake_build(experiment_id, parent_run_id, out_dir):
        seen.update(experiment_id=experiment_id, parent=parent_run_id)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "index.html").write_text("<!DOCTYPE html><html></html>")
        return out_dir / "index.html"

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{built['tmp'] / 'mlruns' / 'mlflow.db'}")
    monkeypatch.setattr(probsweep.report.page, "build_report", fake_build)
    sweeps = built["tmp"] / "sweeps"
    (sweeps / "fake").mkdir(parents=True)
    (sweeps / "fake" / "parent_run_id").write_text(built["parent"] + "\n")
    path = report("fake", str(sweeps))
    assert path == sweeps / "fake" / "report" / "index.html" and path.is_file()
    assert seen == {"experiment_id": built["exp"], "parent": built["parent"]}
    assert tracking.read_artifact(built["parent"], "report/index.html").startswith("<!DOCTYPE html>")


def test_cli_missing_sweep_is_one_line_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match="no sweep 'nope'"):
        report("nope", str(tmp_path))
    with pytest.raises(SystemExit) as exit_:
        main(["nope", "--sweeps-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and err.startswith("error: no sweep 'nope'")


def test_threshold_missing_the_target_on_test_is_flagged_and_small_level_changes_are_not_overstated():
    th = {
        "target_precision": 0.95,
        "threshold": 0.45,
        "reached": True,
        "val_coverage": 0.03,
        "val_precision": 1.0,
        "test_coverage": 0.11,
        "test_precision": 0.5,
    }
    flat = pd.DataFrame({"epoch": [1, 2], "val_max_prob": [0.58, 0.59], "val_prob_sum": [3.1, 3.0]})
    table = _table(val_max_prob=[0.59, 0.8], val_prob_sum=[3.0, 1.0])
    text = verdict_text(table, "val_brier", threshold=th, seed_histories={"B": flat})
    assert "well below the target" in text
    assert "moved little (0.58 to 0.59)" in text and "confident prediction for one model" not in text


def test_verdict_names_a_drift_towards_zero_before_it_becomes_a_collapse():
    from probsweep.report.verdict import _level

    drifting = _level(0.195, 0.244, 0.732)  # path B after 16 epochs in the default sweep
    assert "drifting towards 0" in drifting
    assert "drifting" not in _level(0.5, 1.0, 0.6)  # a softmax head that merely grew less confident


def _with_baseline(brier, **extra):
    base = dict(
        trial="baseline",
        status="FINISHED",
        run_id="rb",
        head_label="baseline: TF-IDF + logistic regression",
        mismatch=False,
        val_brier=brier,
        val_accuracy=0.9,
        test_accuracy=0.88,
        temperature=0.8,
        threshold=0.55,
        threshold_val_coverage=0.7,
        epoch_seconds=12.0,
        **extra,
    )
    return pd.concat([_table(test_accuracy=0.81), pd.DataFrame([base])], ignore_index=True)


def test_verdict_says_with_numbers_when_the_tuned_trial_beats_the_baseline():
    text = verdict_text(_with_baseline(0.45), "val_brier", direction="min")
    assert "Trial 1 beats the linear baseline" in text
    assert "val_brier 0.3 against the baseline's 0.45" in text and "85.0% against 90.0%" in text
    assert "81.0% against 88.0%" in text and "registers trial 1" in text
    assert "Use trial 1 instead" in text  # the baseline row is no trial: the recommendation is unchanged


def test_verdict_says_plainly_when_the_baseline_wins_and_to_use_it():
    text = verdict_text(_with_baseline(0.2), "val_brier", direction="min")
    assert "Trial 1 does NOT beat the linear baseline" in text and "Use the baseline" in text
    assert "val_brier 0.3 against the baseline's 0.2" in text and "T = 0.8" in text and "0.55" in text
    # With accuracy as the objective (higher is better) the same numbers compare the other way round.
    assert "Trial 1 does NOT beat" in verdict_text(_with_baseline(0.2), "val_accuracy", direction="max")
    assert "Trial 1 beats" in verdict_text(
        _with_baseline(
            0.2,
        ),
        "val_accuracy",
        direction="min",
    )


def test_verdict_gives_the_out_of_scope_figures_of_the_model_to_use():
    oos = dict(oos_threshold=0.41, oos_in_scope_accuracy=0.86, oos_recall=0.45, oos_auroc=0.91)
    table = _with_baseline(0.2, **oos)
    table.loc[table["trial"] == "1", list(oos)] = [0.3, 0.7, 0.2, 0.8]
    text = verdict_text(table, "val_brier")
    assert (
        "with the baseline, reject a prediction as out of scope when its calibrated largest probability is below 0.410"
    ) in text
    assert "in-scope accuracy 86.0%, out-of-scope recall 45.0%, AUROC 0.910" in text
    assert "For comparison, trial 1: threshold 0.300, in-scope accuracy 70.0%, out-of-scope recall 20.0%" in text
    assert "out of scope" not in verdict_text(_table(), "val_brier")  # no out-of-scope data, no paragraph


def test_verdict_without_a_baseline_says_it_was_off():
    assert "fitted no linear baseline (search.baseline=false)" in verdict_text(_table(), "val_brier")
