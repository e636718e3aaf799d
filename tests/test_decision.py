"""The sweep's one decision (report.decision): pure on hand-made tables, then end to end on a real tiny sweep
where the seed's mismatched head wins the objective."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from omegaconf import OmegaConf

from probsweep.report.decision import decide, from_tags
from probsweep.report.tables import trial_numbers

SEED = "sigmoid+sparse_categorical_crossentropy (path A)"


def table(*rows, baseline=None):
    """Trial rows (trial, brier, mismatch[, status]) plus an optional baseline (brier[, status])."""
    out = [
        dict(
            trial=str(t),
            status=(s[0] if s else "FINISHED"),
            run_id=f"r{t}",
            mismatch=mm,
            head_label=SEED if mm else "softmax+sparse_categorical_crossentropy",
            val_brier=b,
            val_accuracy=0.8,
        )
        for t, b, mm, *s in rows
    ]
    if baseline is not None:
        b, *s = baseline if isinstance(baseline, tuple) else (baseline,)
        out.append(dict(trial="baseline", status=(s[0] if s else "FINISHED"), run_id="rb", mismatch=False, val_brier=b))
    return pd.DataFrame(out)


def test_a_mismatched_best_is_swapped_for_the_best_matched_head_and_that_is_handed_over():
    t = table((1, 0.5, False), (2, 0.1, True), (3, 0.3, False))
    d = decide(t, "val_brier", "min")
    assert d.best["run_id"] == "r2" and d.recommended["run_id"] == "r3" and d.swapped
    assert d.kind == "trial" and d.handed_over["run_id"] == "r3" and d.beats_baseline is None
    assert "trial 2 has the best val_brier (0.1)" in d.reason and "trial 3 is the best matched head" in d.reason
    assert "no baseline was fitted" in d.reason


def test_the_baseline_is_handed_over_when_it_is_better_or_tied_and_the_direction_counts():
    better = decide(table((1, 0.3, False), baseline=0.2), "val_brier", "min")
    assert better.kind == "baseline" and better.beats_baseline is False and better.recommended["run_id"] == "r1"
    assert "the linear baseline is better (val_brier 0.3 against the baseline's 0.2, lower is better)" in better.reason
    tie = decide(table((1, 0.2, False), baseline=0.2), "val_brier", "min")
    assert tie.kind == "baseline" and "a tie goes to the simpler model" in tie.reason
    wins = decide(table((1, 0.3, False), baseline=0.2), "val_brier", "max")  # higher is better here
    assert wins.kind == "trial" and wins.beats_baseline is True and "beats the linear baseline" in wins.reason


def test_failed_trials_and_a_failed_baseline_are_never_chosen():
    d = decide(table((1, 0.01, False, "FAILED"), (2, 0.4, False), baseline=(0.1, "FAILED")), "val_brier", "min")
    assert d.best["run_id"] == "r2" and d.kind == "trial" and "did not finish (FAILED)" in d.reason
    only_base = decide(table((1, 0.01, False, "FAILED"), baseline=0.3), "val_brier", "min")
    assert only_base.kind == "baseline" and only_base.best is None and "no trial finished" in only_base.reason
    nothing = decide(table((1, 0.01, False, "KILLED")), "val_brier", "min")
    assert nothing.kind == "none" and nothing.handed_over is None and nothing.tags()["handed_over_run_id"] == ""


def test_only_mismatched_heads_finished_the_best_is_used_and_said_to_be_no_probabilities():
    d = decide(table((1, 0.2, True), (2, 0.1, True)), "val_brier", "min")
    assert d.recommended["run_id"] == "r2" and not d.swapped and "no probabilities either" in d.reason


def test_a_trial_without_the_objective_is_ranked_last():
    d = decide(table((1, float("nan"), False), (2, 0.9, False)), "val_brier", "min")
    assert d.best["run_id"] == "r2"


@pytest.mark.parametrize(
    "t",
    [
        table((1, 0.5, False), (2, 0.1, True), (3, 0.3, False)),
        table((1, 0.3, False), baseline=0.2),
        table((1, 0.1, False), baseline=0.2),
        table((1, 0.01, False, "FAILED"), baseline=0.3),
    ],
)
def test_reading_the_recorded_tags_gives_back_the_same_decision(t):
    d = decide(t, "val_brier", "min")
    again = from_tags(d.tags(), t, "val_brier", "min")
    assert again.tags() == d.tags() and again.kind == d.kind
    # A sweep recorded before the tags existed (only best_run_id, possibly of the mismatched head) is decided
    # by the same function, not by the old tag.
    assert from_tags({"best_run_id": "r2"}, t, "val_brier", "min").tags() == d.tags()


def test_recorded_tags_win_over_a_table_that_would_decide_otherwise():
    t = table((1, 0.3, False), baseline=0.2)
    recorded = decide(table((1, 0.1, False), baseline=0.2), "val_brier", "min").tags()
    assert from_tags(recorded, t, "val_brier", "min").kind == "trial"  # read, never decided again


def test_trial_numbers_are_one_based_from_the_tag_or_from_an_old_runs_trial_id():
    runs = pd.DataFrame({"tags.trial": ["3", None, None], "tags.trial_id": ["2", "0", None]})
    numbers = trial_numbers(runs)
    assert list(numbers[:2]) == ["3", "1"] and pd.isna(numbers[2])


def test_float_steps_give_the_steps_decimals():
    import keras_tuner as kt
    import numpy as np

    from probsweep.sweep import space as search

    entries = search.parse(
        {
            "model.dropout": {"float": [0.1, 0.5], "step": 0.1},
            "model.label_smoothing": {"float": [0.0, 0.1], "step": 0.05},
            "train.learning_rate": {"float": [1e-4, 1e-1], "step": 10, "sampling": "log"},
        }
    )
    hp = kt.HyperParameters()
    search.declare(hp, entries)
    for name, expected in [
        ("model.dropout", [0.1, 0.2, 0.3, 0.4, 0.5]),
        ("model.label_smoothing", [0.0, 0.05, 0.1]),
        ("train.learning_rate", [0.0001, 0.001, 0.01, 0.1]),
    ]:
        drawn = {hp._hps[name][0].prob_to_value(p) for p in np.linspace(0.01, 0.99, 25)}
        assert sorted({search.rounded(entries, {name: v})[name] for v in drawn}) == expected
    assert 0.30000000000000004 in {hp._hps["model.dropout"][0].prob_to_value(p) for p in np.linspace(0, 1, 25)}
    base = OmegaConf.create({"model": {"dropout": 0.0, "kwargs": {}}})
    cfg = search.apply(base, {"model.dropout": 0.1 + 2 * 0.1}, entries[:1], check=False)
    assert cfg.model.dropout == 0.3 and repr(cfg.model.dropout) == "0.3"


@pytest.mark.slow
def test_when_the_seeds_head_wins_the_objective_make_best_registers_the_run_the_report_says_to_use(store, capsys):
    """The objective is the mean output sum (higher is better): the seed's sigmoids (path A) sum to about
    n_classes / 2 from the first step, softmax to 1, so the seed's head wins it and must be swapped."""
    from mlflow.tracking import MlflowClient

    from conftest import TINY, compose_config
    from probsweep.cli.sweep import sweep
    from probsweep.sweep.champion import best, predict

    cfg = compose_config(
        [
            *TINY,
            f"sweep.dir={store['sweeps']}",
            "sweep.name=seedwins",
            "tuner=grid",
            "tuner.max_trials=2",
            "train.epochs=1",
            "search.baseline=false",
            "search.objective=val_prob_sum",
            "search.direction=max",
        ]
    )
    space = {
        "head": {
            "choice": {
                "seed-mismatch-A": {
                    "model.activation": "sigmoid",
                    "model.loss": "sparse_categorical_crossentropy",
                    "model.mismatch_path": "A",
                },
                "softmax+sparse": {"model.activation": "softmax", "model.loss": "sparse_categorical_crossentropy"},
            }
        }
    }
    OmegaConf.update(cfg, "search.space", space, merge=False)
    parent = sweep(cfg)
    client = MlflowClient(store["uri"])
    tags = client.get_run(parent).data.tags
    by_run = {r.info.run_id: r for r in client.search_runs([client.get_run(parent).info.experiment_id])}
    assert by_run[tags["best_run_id"]].data.params["head"] == "seed-mismatch-A"
    assert tags["handed_over_kind"] == "trial" and tags["handed_over_run_id"] == tags["recommended_run_id"]
    handed = by_run[tags["handed_over_run_id"]]
    assert handed.data.params["head"] == "softmax+sparse"
    # One numbering: the run's name, its `trial` tag and the report's "Use trial N" agree.
    number = handed.data.tags["trial"]
    assert handed.info.run_name == f"trial-{number}" and number == str(int(handed.data.tags["trial_id"]) + 1)
    page = open(f"{store['sweeps']}/seedwins/report/index.html", encoding="utf-8").read()
    said = re.findall(r"Use trial (\d+)", page)
    assert said and set(said) == {number}
    result = best("seedwins", store["sweeps"])
    assert result["original_run_id"] == tags["handed_over_run_id"] and result["served"] == "trial"
    version = client.get_model_version("probsweep-best", result["version"])
    assert version.tags["source_run_id"] == tags["handed_over_run_id"] and version.tags["trial"] == number
    assert client.get_run(version.run_id).data.tags["rerun_of_run_id"] == tags["handed_over_run_id"]
    assert client.get_run(version.run_id).data.params["model.activation"] == "softmax"
    # The terminal's decision named the same trial, and `make predict` says which model it serves.
    assert re.search(rf"^use: +trial {number} \(softmax\+sparse", capsys.readouterr().out, re.M)
    predict("models:/probsweep-best@champion", ["some text"])
    assert f": trial {number} (softmax+sparse_categorical_crossentropy) of sweep 'seedwins'" in capsys.readouterr().out
