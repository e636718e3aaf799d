"""The encoder family (issue 20) on a tiny random keras-hub backbone: presets, features, the cache.

Needs keras-hub (installed by `make venv`, with --no-deps); skipped cleanly without it. The real
all-MiniLM-L6-v2 runs only in test_real_minilm, where `make encoder` has been run.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from probsweep.config import ConfigError

pytest.importorskip("keras_hub", reason="keras-hub is not installed (make venv installs it; see docs/encoder.md)")

from encoder_fixture import make_tiny_preset, synthetic_words  # noqa: E402
from probsweep.encoder import features as F  # noqa: E402
from probsweep.encoder.preset import check_preset, is_remote, load_tokenizer  # noqa: E402

MINILM = Path(__file__).resolve().parents[1] / "models" / "all-MiniLM-L6-v2"


@pytest.fixture(scope="session")
def tiny_preset(tmp_path_factory) -> Path:
    return make_tiny_preset(tmp_path_factory.mktemp("tiny-bert"), synthetic_words())


def test_a_missing_or_wrong_preset_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no such folder.*make encoder"):
        check_preset(str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="config.json is missing"):
        check_preset(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(ConfigError, match="neither a keras-hub preset"):
        check_preset(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"registered_name": "keras_hub>BertBackbone"}))
    with pytest.raises(ConfigError, match="model.weights.h5 is missing"):
        check_preset(str(tmp_path))


def test_remote_handles_are_recognised_without_touching_the_network(tmp_path):
    assert is_remote("hf://sentence-transformers/all-MiniLM-L6-v2")
    assert is_remote("bert_tiny_en_uncased")
    assert not is_remote(str(tmp_path))
    assert not is_remote("models/all-MiniLM-L6-v2")  # a path: checked locally, never fetched
    assert check_preset("bert_tiny_en_uncased").layout == "remote"  # no download until loaded


def test_the_tiny_preset_loads_and_tokenises(tiny_preset):
    preset = check_preset(str(tiny_preset))
    assert preset.layout == "keras"
    tokenizer = load_tokenizer(preset, sequence_length=8)
    ids = tokenizer.encode_batch(["a b c d e f g h i j k", "x"])
    assert len(ids[0].ids) == 8 and ids[0].ids[0] == tokenizer.token_to_id("[CLS]")  # truncated, [CLS] first
    assert len(ids[1].ids) == 8 and ids[1].ids[-1] == tokenizer.token_to_id("[PAD]")  # padded to the batch


def test_features_do_not_depend_on_the_batch_padding(tiny_preset):
    """Masked mean pooling: a text's features alone equal its features batched with a much longer text."""
    preset = check_preset(str(tiny_preset))
    words = synthetic_words()
    short, long = " ".join(words[:3]), " ".join(words[:40])
    alone = F.encode([short], preset, 64, progress=io.StringIO())
    batched = F.encode([short, long], preset, 64, progress=io.StringIO())
    np.testing.assert_allclose(batched[0], alone[0], rtol=1e-4, atol=1e-5)
    assert not np.allclose(batched[0], batched[1])


def test_features_are_computed_once_and_keyed_by_texts_and_preset(tiny_preset, tmp_path, monkeypatch):
    preset = check_preset(str(tiny_preset))
    texts = [" ".join(synthetic_words()[i : i + 5]) for i in range(0, 200, 5)]
    texts = texts + texts[:3]  # duplicates are encoded once
    progress = io.StringIO()
    first, info = F.cached_features(texts, preset, 32, tmp_path, progress=progress)
    assert not info["hit"] and Path(info["path"]).is_file() and info["texts_per_s"] > 0
    assert "texts/s" in progress.getvalue() and "40/40" in progress.getvalue()
    np.testing.assert_array_equal(first[-3:], first[:3])
    F._MEMORY.clear()  # as a new process (a resumed sweep, a worker) would start

    def no_encoding(*args, **kwargs):
        raise AssertionError("features were computed again")

    monkeypatch.setattr(F, "encode", no_encoding)
    again, info = F.cached_features(texts, preset, 32, tmp_path)
    assert info["hit"]
    np.testing.assert_array_equal(again, first)
    monkeypatch.undo()
    other, info = F.cached_features(texts[:-4], preset, 32, tmp_path, progress=io.StringIO())
    assert not info["hit"]  # other texts, other key
    np.testing.assert_allclose(other, first[:-4], rtol=1e-4, atol=1e-5)
    changed = make_tiny_preset(tmp_path / "retrained", synthetic_words(), seed=1)
    _, info = F.cached_features(texts, check_preset(str(changed)), 32, tmp_path, progress=io.StringIO())
    assert not info["hit"]  # other weights, other key


def test_a_damaged_cache_file_is_computed_again(tiny_preset, tmp_path):
    preset = check_preset(str(tiny_preset))
    texts = ["alpha beta", "gamma"]
    first, info = F.cached_features(texts, preset, 16, tmp_path, progress=io.StringIO())
    Path(info["path"]).write_bytes(b"not an array")
    F._MEMORY.clear()
    again, info = F.cached_features(texts, preset, 16, tmp_path, progress=io.StringIO())
    assert not info["hit"]
    np.testing.assert_allclose(again, first, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(
    not (MINILM / "model.weights.h5").is_file(), reason=f"the real MiniLM is not in {MINILM}: run `make encoder` first"
)
def test_real_minilm_puts_paraphrases_together():
    preset = check_preset(str(MINILM))
    texts = ["wake me up at 7 am", "set an alarm for seven in the morning", "what is the weather in Paris"]
    x = F.encode(texts, preset, 64, progress=io.StringIO())
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert x.shape == (3, 384)
    assert x[0] @ x[1] > 0.5 > x[0] @ x[2]


def test_a_copied_preset_keeps_its_identity(tiny_preset, tmp_path):
    """The identity comes from the files' content, so a worker's copy of the preset shares the cache."""
    copy = shutil.copytree(tiny_preset, tmp_path / "copy")
    assert check_preset(str(copy)).identity == check_preset(str(tiny_preset)).identity


# --- the family through the whole tool -------------------------------------------------------------

HEADS = {
    "head": {
        "choice": {
            "seed-mismatch-A": {"model.activation": "sigmoid", "model.loss": "sparse_categorical_crossentropy"},
            "softmax+sparse": {"model.activation": "softmax", "model.loss": "sparse_categorical_crossentropy"},
        }
    }
}


def encoder_config(store, name, preset, *extra):
    from omegaconf import OmegaConf

    from conftest import TINY, compose_config

    cfg = compose_config(
        [
            *TINY,
            "model=encoder",
            f"model.encoder.preset={preset}",
            f"model.encoder.cache_dir={store['tmp'] / 'features'}",
            "model.encoder.sequence_length=32",
            "train.epochs=1",
            "tuner=grid",
            "tuner.max_trials=2",
            "search.baseline=false",
            f"sweep.dir={store['sweeps']}",
            f"sweep.name={name}",
            "train.verbose=0",
            *extra,
        ]
    )
    OmegaConf.update(cfg, "search.space", HEADS, merge=False)
    return cfg


@pytest.mark.slow  # a sweep and a retraining, as the other families' serve tests (tests/test_families.py)
def test_the_encoder_family_sweeps_serves_and_predicts_raw_strings(tiny_preset, store, monkeypatch):
    import pandas as pd
    from mlflow.tracking import MlflowClient
    from omegaconf import OmegaConf

    from probsweep import tracking
    from probsweep.cli.best import best
    from probsweep.cli.sweep import sweep
    from probsweep.config import validate
    from probsweep.data.loading import load_dataset
    from probsweep.sweep.champion import predict

    F._MEMORY.clear()
    parent = sweep(encoder_config(store, "enc", tiny_preset))
    cached = list((store["tmp"] / "features").glob("*.npy"))
    assert len(cached) == 1  # computed once for both trials
    client = MlflowClient(store["uri"])
    runs = client.search_runs(
        [client.get_experiment_by_name("enc").experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'"
    )
    trials = {r.data.params["head"]: r for r in runs if r.data.tags.get("kind") == "trial"}
    assert set(trials) == set(HEADS["head"]["choice"]) and all(r.info.status == "FINISHED" for r in trials.values())
    for r in trials.values():
        assert r.data.params["resolved.family"] == "encoder"
        assert {"val_accuracy", "val_brier", "temperature", "threshold", "test_accuracy"} <= set(r.data.metrics)
    mismatched, matched = trials["seed-mismatch-A"].data.tags, trials["softmax+sparse"].data.tags
    assert "head_loss_mismatch" in mismatched["diagnosis_flags"] and mismatched["loss_path"] == "A"
    assert "head_loss_mismatch" not in matched["diagnosis_flags"]

    # make best reads the cache a new process would find (nothing is encoded again) ...
    F._MEMORY.clear()
    real_encode = F.encode
    monkeypatch.setattr(F, "encode", lambda *a, **k: (_ for _ in ()).throw(AssertionError("encoded again")))
    result = best("enc", store["sweeps"])
    monkeypatch.setattr(F, "encode", real_encode)
    assert result["served"] == "trial" and result["max_diff"] <= 1e-3
    # ... and serves raw strings through the tokenizer and the backbone it carries: the same numbers as analysed.
    best_cfg = validate(OmegaConf.load(str(store["sweeps"]) + "/enc/best.yaml"))
    data = load_dataset(best_cfg.data, best_cfg.model.embed_dim, best_cfg.seed)
    served = tracking.load_served_model(result["model_uri"]).predict(pd.DataFrame({"text": data.texts_test}))
    np.testing.assert_allclose(served[data.class_names].to_numpy(), result["calibrated"]["test"], atol=1e-4)
    shutil.rmtree(store["tmp"] / "features")  # the served model does not need the cache (nor models/)
    out = predict(result["model_uri"], ["lorem ipsum dolor", "a text never seen"], top=1)
    assert len(out) == 2 and set(out["prediction"]) <= set(data.class_names)


def test_fine_tuning_trains_the_backbone_with_its_own_warm_up(tiny_preset, tiny):
    from probsweep.config import validate
    from probsweep.data.loading import load_dataset
    from probsweep.encoder.family import learning_rate
    from probsweep.train.fit import fit

    cfg = validate(
        tiny(
            "model=encoder",
            f"model.encoder.preset={tiny_preset}",
            "model.encoder.trainable=true",
            "model.encoder.learning_rate=1e-3",
            "model.encoder.warmup=0.5",
            "model.encoder.sequence_length=24",
            "model.activation=softmax",
            "train.epochs=1",
        )
    )
    schedule = learning_rate(cfg.model, cfg.train.learning_rate, 10)
    assert float(schedule(0)) == 0.0 and float(schedule(5)) == pytest.approx(1e-3) and float(schedule(10)) < 1e-4
    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    trained = fit(cfg.model, cfg.train, data, cfg.seed)
    assert trained.features.x_train.shape[1] == 24  # token ids, cut at model.encoder.sequence_length
    backbone = next(layer for layer in trained.model._flatten_layers() if type(layer).__name__ == "BertBackbone")
    from probsweep.encoder.preset import load_backbone

    start = load_backbone(check_preset(str(tiny_preset)))
    moved = [
        not np.allclose(a, b)
        for a, b in zip(backbone.get_weights(), start.get_weights(), strict=True)
        if a.ndim == 2 and a.shape[0] > 1
    ]
    assert any(moved)  # the backbone's weights trained
    assert len(trained.monitor.history) == 1


def test_the_encoder_family_without_a_preset_is_one_clear_error(tiny):
    from probsweep.config import validate

    with pytest.raises(ConfigError, match="model.encoder.preset is not set.*make encoder"):
        validate(tiny("model=encoder"))
    with pytest.raises(ConfigError, match="model.encoder.preset=/no/such: no such folder"):
        validate(tiny("model=encoder", "model.encoder.preset=/no/such"))


def test_workers_racing_for_the_same_features_compute_them_once(tiny_preset, tmp_path, monkeypatch):
    """Two at once (threads here; worker processes lock the same file): one encodes, the other waits and reads."""
    import threading
    import time

    preset = check_preset(str(tiny_preset))
    calls = []

    def slow_encode(texts, *args, **kwargs):
        calls.append(len(texts))
        time.sleep(0.5)  # long enough for the other one to arrive while this one holds the lock
        return np.arange(len(texts) * 4, dtype=np.float32).reshape(len(texts), 4)

    monkeypatch.setattr(F, "encode", slow_encode)
    F._MEMORY.clear()
    results = []
    workers = [
        threading.Thread(target=lambda: results.append(F.cached_features(["a b", "c"], preset, 16, tmp_path)))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert calls == [2]
    assert sorted(info["hit"] for _, info in results) == [False, True]
    np.testing.assert_array_equal(results[0][0], results[1][0])
