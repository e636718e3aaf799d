"""`probsweep diagnose`: the seed's two vectors as a predictions file, a larger predictions file with splits,
the model `make train` saved (path B), and each bad input as one line with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from probsweep.cli.diagnose import main

ROOT = Path(__file__).resolve().parents[1]
SEED_FILES = [ROOT / "tests" / "fixtures" / "seed_outputs.json", ROOT.parent / "shared" / "seed" / "outputs.json"]


def seed_predictions(path: Path, source: Path) -> Path:
    """The seed's two vectors as a two-row predictions file: epoch 1 and epoch 128 of one example. Its true
    class is not in the question; the label is the top class after epoch 128 (97% accuracy then)."""
    data = json.loads(source.read_text())
    rows = [
        {"epoch": e, **{str(k): v for k, v in enumerate(data[key])}} for e, key in ((1, "epoch_1"), (128, "epoch_128"))
    ]
    frame = pd.DataFrame(rows)
    frame.insert(1, "label", str(int(np.argmax(data["epoch_128"]))))
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("source", SEED_FILES, ids=["fixture", "shared"])
def test_seed_vectors_reproduce_the_readme(source, store, capsys):
    if not source.is_file():
        pytest.skip(f"{source} is not in this checkout")
    preds = seed_predictions(store["tmp"] / "seed.csv", source)
    main(["--predictions", str(preds), "--out", str(store["tmp"] / "report")])
    out = capsys.readouterr().out
    assert "epoch 1 (outputs sum to 40.20, largest 0.9647): not_a_distribution, saturation" in out
    assert "epoch 128 (outputs sum to 0.0674, largest 0.02685): not_a_distribution, collapse" in out
    assert "the outputs have collapsed towards 0" in out  # the sweep report's words
    assert "no loss path (A or B)" in out and "too few to fit a temperature" in out
    client = MlflowClient(store["uri"])
    (run,) = client.search_runs(
        [client.get_experiment_by_name("probsweep-diagnosis").experiment_id], "tags.kind = 'diagnosis'"
    )
    assert run.data.tags["diag.not_a_distribution"] == "true" and run.data.tags["diag.collapse"] == "true"
    assert run.data.metrics["val_prob_sum"] == pytest.approx(0.0674, abs=1e-4)
    history = pd.read_csv(client.download_artifacts(run.info.run_id, "history.csv", str(store["tmp"])))
    assert list(history["val_prob_sum"].round(4)) == [40.2006, 0.0674]
    page = (store["tmp"] / "report" / "index.html").read_text()
    assert "Verdict" in page and "collapsed towards 0" in page and "data:image/png;base64," in page


def test_predictions_with_splits_give_calibration_and_thresholds(store, capsys):
    """A larger file (parquet, val and test, an out-of-scope label): temperature, threshold, OOS rejection."""
    rng = np.random.default_rng(0)
    classes = ["book", "cancel", "weather", "alarm"]
    n = 400
    y = rng.integers(0, 4, n)
    logits = rng.normal(size=(n, 4)) + 3.0 * np.eye(4)[y]  # over-confident: sharpened below
    p = np.exp(2 * logits) / np.exp(2 * logits).sum(axis=1, keepdims=True)
    noisy = np.where(rng.random(n) < 0.3, rng.integers(0, 4, n), y)  # 30% of labels redrawn: over-confident outputs
    labels = np.array(classes, dtype=object)[noisy]
    labels[:40] = "oos"
    frame = pd.DataFrame(p, columns=classes).assign(label=labels, split=np.where(np.arange(n) % 2, "val", "test"))
    path = store["tmp"] / "preds.parquet"
    frame.to_parquet(path)
    main(["--predictions", str(path), "data.oos_label=oos"])
    out = capsys.readouterr().out
    assert "temperature scaling with T = " in out and "(T > 1: the raw model is over-confident)" in out
    assert "calibrated largest probability" in out and "they form a distribution" in out
    assert "Out-of-scope queries: with this model, reject a prediction" in out
    report = path.with_name("preds-diagnosis") / "index.html"
    assert report.is_file()
    client = MlflowClient(store["uri"])
    run = client.search_runs([client.get_experiment_by_name("probsweep-diagnosis").experiment_id])[0]
    assert run.data.metrics["temperature"] > 1 and "oos_auroc" in run.data.metrics
    assert run.data.tags.get("diagnosis_flags", "") == ""  # outputs that are a distribution: no flags


BAD = {
    "no probability columns": ("text,label\nhello,a\n", "has no probability columns"),
    "labels not among the columns": ("a,b,label\n0.5,0.5,a\n0.2,0.8,c\n", "labels ['c']"),
    "no label column": ("a,b\n0.5,0.5\n", "has no 'label' column"),
    "not probabilities": ("a,b,label\n2.5,-1,a\n", "outside [0, 1]"),
}


TF_NOISE = ("WARNING: All log messages before absl", "I0000 ")


def run_cli(args, tmp):
    """One CLI run in a fresh process: (exit code, stderr, whether TensorFlow got imported)."""
    code = (
        "import sys\nfrom probsweep.cli.diagnose import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as e:\n    code = e.code\n"
        "print(code, 'tensorflow' in sys.modules)\n"
    )
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'm.db'}", "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert "Traceback" not in done.stderr, done.stderr
    # TensorFlow's own start-up lines (absl, oneDNN) are not ours: the error is the one line that is
    return done.stdout.split()[-2:], [ln for ln in done.stderr.strip().splitlines() if not ln.startswith(TF_NOISE)]


@pytest.mark.parametrize("case", list(BAD))
def test_bad_predictions_one_line_exit_2_before_tensorflow(case, tmp_path):
    text, expected = BAD[case]
    path = tmp_path / "p.csv"
    path.write_text(text)
    (code, tf_loaded), err = run_cli(["--predictions", str(path)], tmp_path)
    assert code == "2" and tf_loaded == "False"
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err


def in_process_error(args, capsys) -> list[str]:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    return [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.startswith("error: ")]


def test_missing_model_before_tensorflow(tmp_path):
    (code, tf_loaded), err = run_cli(["--model", str(tmp_path / "missing.keras")], tmp_path)
    assert code == "2" and tf_loaded == "False" and len(err) == 1 and "does not exist" in err[0]


def test_unloadable_model_and_wrong_width(tmp_path, store, capsys):
    import keras

    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip at all")
    (err,) = in_process_error(["--model", str(junk)], capsys)
    assert "cannot load model junk.keras" in err and "model.save('my.keras')" in err
    inputs = keras.Input((10,), dtype="int32")
    narrow = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))
    narrow.compile(loss="sparse_categorical_crossentropy")
    narrow.save(tmp_path / "narrow.keras")
    small = ["data.synthetic.n_classes=6", "data.synthetic.n_groups=2", "data.synthetic.train_per_class=12"]
    (err,) = in_process_error(["--model", str(tmp_path / "narrow.keras"), *small], capsys)
    assert "has 3 outputs but the data has 6 classes" in err


@pytest.mark.slow
def test_the_model_make_train_saved_reports_path_b_with_its_numbers(tiny, store, capsys):
    from probsweep.cli.train import train

    cfg = tiny("model.mismatch_path=B", "train.epochs=1")
    run_id = train(cfg)
    trained = MlflowClient(store["uri"]).get_run(run_id).data.metrics
    saved = Path(cfg.train.save_model)
    assert saved.is_file() and saved.with_name("vocabulary.txt").is_file()
    shrink = [o for o in (f"{k}={v}" for k, v in _data_overrides(cfg).items())]
    main(["--model", str(saved), *shrink])
    out = capsys.readouterr().out
    assert "This is the seed's pairing" in out and "The loss took path B" in out
    assert f"accuracy {trained['val_accuracy']:.1%}" in out  # the same rows, split and tokens as the training
    client = MlflowClient(store["uri"])
    run = client.search_runs([client.get_experiment_by_name("probsweep-diagnosis").experiment_id])[0]
    assert run.data.tags["kind"] == "diagnosis" and run.data.tags["loss_path"] == "B"
    assert run.data.metrics["val_prob_sum"] == pytest.approx(trained["val_prob_sum"], rel=1e-4)
    assert run.data.metrics["temperature"] == pytest.approx(trained["temperature"], rel=1e-3)


def _data_overrides(cfg) -> dict:
    from conftest import TINY

    return {o.split("=")[0]: o.split("=", 1)[1] for o in TINY if o.startswith(("data.", "model.embed_dim"))}


SMALL_DATA = ["data.synthetic.n_classes=6", "data.synthetic.n_groups=2", "data.synthetic.train_per_class=12"]


def test_raw_string_model_and_token_id_model_with_its_vectorizer(store, capsys):
    """A model with its TextVectorization inside takes the texts as they are; one on token ids needs
    --vectorizer (a vocabulary file), and says so in one line without it."""
    import keras

    from probsweep.cli import compose
    from probsweep.data.loading import prepare

    cfg = compose(SMALL_DATA)
    prepared = prepare(cfg.data, cfg.model.embed_dim, cfg.seed)
    train_texts = prepared.frame.text[prepared.frame.split == "train"].tolist()
    vectorize = keras.layers.TextVectorization(output_sequence_length=20)
    vectorize.adapt(train_texts)
    n = len(prepared.classes)

    def classifier(inputs, x):
        x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(vectorize.vocabulary_size(), 8)(x))
        model = keras.Model(inputs, keras.layers.Dense(n, activation="softmax")(x))
        model.compile(loss="sparse_categorical_crossentropy")
        return model

    texts = keras.Input((1,), dtype="string")
    raw = classifier(texts, vectorize(texts))
    raw.save(store["tmp"] / "raw.keras")
    main(["--model", str(store["tmp"] / "raw.keras"), *SMALL_DATA])
    out = capsys.readouterr().out
    assert "The head's softmax activation matches the loss sparse_categorical_crossentropy." in out

    tokens = keras.Input((20,), dtype="int32")
    ids = classifier(tokens, tokens)
    ids.save(store["tmp"] / "ids.keras")
    (err,) = in_process_error(["--model", str(store["tmp"] / "ids.keras"), *SMALL_DATA], capsys)
    assert "takes token ids" in err and "--vectorizer" in err
    vocabulary = store["tmp"] / "vocab.txt"
    vocabulary.write_text("\n".join(vectorize.get_vocabulary()) + "\n")
    main(["--model", str(store["tmp"] / "ids.keras"), "--vectorizer", str(vocabulary), *SMALL_DATA])
    assert "matches the loss" in capsys.readouterr().out
