"""What the MLflow UI is told: every experiment says it holds training runs, and `make ui` links to them in
the UI's Model training mode."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from probsweep import tracking


def test_every_experiment_opens_on_its_training_runs_and_a_users_choice_is_kept(store):
    key, value = tracking.EXPERIMENT_KIND
    assert (key, value) == ("mlflow.experimentKind", "custom_model_development")
    made = tracking.setup(None, "made-here")
    client = MlflowClient()
    assert client.get_experiment(made).tags[key] == value
    older = client.create_experiment("made-before-the-tag")  # as an earlier version of probsweep left it
    chosen = client.create_experiment("chosen-in-the-ui", tags={key: "genai_development"})
    assert tracking.setup(None, "made-before-the-tag") == older
    tracking.setup(None, "chosen-in-the-ui")
    assert client.get_experiment(older).tags[key] == value
    assert client.get_experiment(chosen).tags[key] == "genai_development"


def test_make_ui_lists_each_experiments_runs_link(store, monkeypatch):
    assert tracking.experiment_ids(store["uri"]) == {}  # no store yet: nothing to list, and nothing created
    exp = tracking.setup(store["uri"], "seed-question")
    MlflowClient().delete_experiment(tracking.setup(store["uri"], "deleted"))
    assert tracking.experiment_ids(store["uri"]) == {"seed-question": exp}
    monkeypatch.delenv("PORT", raising=False)
    # workflowType=machine_learning: MLflow 3.17's UI then opens the runs in Model training mode, not GenAI.
    assert tracking.runs_link(exp) == f"http://127.0.0.1:5000/#/experiments/{exp}/runs?workflowType=machine_learning"
    assert tracking.runs_link(exp, 5123).startswith(f"http://127.0.0.1:5123/#/experiments/{exp}/runs?")
