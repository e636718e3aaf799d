"""The linear baseline (TF-IDF + logistic regression) on hand-made texts, and served with its calibration."""

from __future__ import annotations

import numpy as np

from probsweep.probs.analysis import analyse
from probsweep.probs.serving import CalibratedClassifier
from probsweep.train.baseline import fit_baseline
from probsweep.train.tracked import BASELINE_HEAD

WORDS = {0: ["alpha", "apple", "anchor"], 1: ["bravo", "banana", "bridge"], 2: ["charlie", "cherry", "castle"]}
FILLER = ["the", "a", "of", "please", "my", "now"]


def texts_of(n_per_class: int, seed: int):
    """Each text: filler words shared by all classes plus words only its own class uses."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for k, own in WORDS.items():
        for _ in range(n_per_class):
            words = list(rng.choice(FILLER, 4)) + list(rng.choice(own, 2))
            rng.shuffle(words)
            texts.append(" ".join(words))
            labels.append(k)
    return texts, np.array(labels)


def test_words_that_separate_the_classes_give_accuracy_one():
    train, y_train = texts_of(20, seed=0)
    test, y_test = texts_of(10, seed=1)
    fitted = fit_baseline(train, y_train, seed=0)
    p = fitted.predict_proba(test)
    assert p.shape == (30, 3) and np.allclose(p.sum(axis=1), 1.0)
    assert (p.argmax(axis=1) == y_test).mean() == 1.0
    assert fitted.fit_seconds > 0


def test_served_baseline_gives_the_analysis_calibrated_probabilities(tmp_path):
    train, y_train = texts_of(20, seed=0)
    val, y_val = texts_of(8, seed=2)
    test, y_test = texts_of(8, seed=3)
    fitted = fit_baseline(train, y_train, seed=0)
    found = analyse(
        BASELINE_HEAD,
        fitted.predict_proba(val),
        y_val,
        raw_test=fitted.predict_proba(test),
        y_test=y_test,
        class_names=["a-class", "b-class", "c-class"],
    )
    served = CalibratedClassifier(
        kind="sklearn",
        activation="softmax",
        loss="sparse_categorical_crossentropy",
        temperature=found.metrics["temperature"],
        threshold=found.metrics["threshold"],
        threshold_kind="test",
        classes=["a-class", "b-class", "c-class"],
        model=fitted.pipeline,
    )
    loaded = CalibratedClassifier.load(served.save(tmp_path / "bundle"))
    out = loaded.predict(test)
    assert list(out.columns[:3]) == ["a-class", "b-class", "c-class"]
    np.testing.assert_allclose(out[["a-class", "b-class", "c-class"]].to_numpy(), found.calibrated["test"], atol=1e-12)
    assert found.metrics["temperature"] != 1.0  # the calibration really changed the numbers
    accepted = out["confidence"] >= found.metrics["threshold"]
    assert (out["decision"][accepted] == "accepted").all()
    assert out["decision"][~accepted].str.startswith("rejected (below threshold").all()
