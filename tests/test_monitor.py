"""probsweep.keras.ProbabilityMonitor in a user's own fit: the warning at train begin, the per-epoch metrics
in logs, a CSV or the active MLflow run at step = epoch, and the diagnosis at train end."""

import warnings

import keras
import numpy as np
import pandas as pd
import pytest
from keras import layers

from probsweep.compiled import HeadLossMismatchWarning
from probsweep.keras import ProbabilityMonitor
from probsweep.probs import metrics

N_CLASSES = 4


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    x = rng.normal(size=(n, 6)).astype("float32") + np.eye(N_CLASSES, 6, dtype="float32")[y] * 2
    return x, y


def seed_like(activation="sigmoid", loss="sparse_categorical_crossentropy"):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6,))
    m = keras.Model(inputs, layers.Dense(N_CLASSES, activation=activation)(layers.Dense(8, "relu")(inputs)))
    m.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return m


class Keep(keras.callbacks.Callback):
    """What a later callback sees in the epoch's logs."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(dict(logs))


def test_without_mlflow_warns_once_then_csv_and_diagnosis(tmp_path):
    (x, y), (xv, yv) = data(), data(32, 1)
    printed = []
    monitor = ProbabilityMonitor(
        xv, yv, track=False, csv=tmp_path / "h.csv", out_dir=tmp_path / "diag", printer=printed.append
    )
    keep = Keep()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seed_like().fit(x, y, epochs=3, verbose=0, validation_data=(xv, yv), callbacks=[monitor, keep])
    mismatch = [w for w in caught if issubclass(w.category, HeadLossMismatchWarning)]
    assert len(mismatch) == 1 and "path A" in str(mismatch[0].message) and "Fix:" in str(mismatch[0].message)
    assert monitor.found is not None and monitor.found.seed_pairing and monitor.found.path == "A"
    # later callbacks see the probability metrics, and they are the metrics of the monitor's own outputs
    assert [s["val_prob_sum"] for s in keep.seen] == list(monitor.history["val_prob_sum"])
    raw = monitor.model.predict(xv, verbose=0)
    assert monitor.history["val_prob_sum"].iloc[-1] == pytest.approx(metrics.prob_sum(raw), rel=1e-5)
    csv = pd.read_csv(tmp_path / "h.csv")
    assert list(csv["epoch"]) == [1, 2, 3] and {"val_max_prob", "val_ece", "loss"} <= set(csv.columns)
    text = (tmp_path / "diag" / "diagnosis.txt").read_text()
    assert "[head_loss_mismatch]" in text and "path A" in text
    assert (tmp_path / "diag" / "calibration.json").is_file() and printed and "diagnosis" in printed[0]


def test_matched_head_no_warning(tmp_path):
    (x, y), (xv, yv) = data(), data(32, 1)
    monitor = ProbabilityMonitor(xv, yv, track=False, csv=tmp_path / "h.csv", out_dir=tmp_path, printer=lambda s: s)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HeadLossMismatchWarning)
        seed_like("softmax").fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    assert monitor.found is not None and monitor.found.ok
    assert monitor.history["val_prob_sum"].iloc[-1] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("active", [True, False])
def test_logs_to_the_active_mlflow_run_or_starts_one(tmp_path, monkeypatch, active):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'm.db'}")
    mlflow.set_experiment("mine")
    (x, y), (xv, yv) = data(), data(32, 1)
    monitor = ProbabilityMonitor(xv, yv, printer=lambda s: s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HeadLossMismatchWarning)
        if active:
            with mlflow.start_run() as run:
                seed_like().fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
            assert monitor.run_id == run.info.run_id
        else:
            seed_like().fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
            assert mlflow.active_run() is None  # the run it started is ended
    client = mlflow.MlflowClient()
    steps = [m.step for m in client.get_metric_history(monitor.run_id, "val_prob_sum")]
    assert steps == [1, 2]
    got = client.get_run(monitor.run_id)
    assert got.data.tags["loss_path"] == "A" and got.data.tags["diag.head_loss_mismatch"] == "true"
    assert "temperature" in got.data.metrics
    assert "diagnosis.txt" in [a.path for a in client.list_artifacts(monitor.run_id)]
    mlflow.set_tracking_uri("")
