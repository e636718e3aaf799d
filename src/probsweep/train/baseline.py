"""The linear baseline every sweep fits first: TF-IDF n-grams + logistic regression, plain scikit-learn.

What a practitioner tries first on short texts: word 1-2-grams and character 2-5-grams inside word
boundaries (`char_wb`, robust to typos and unseen inflections), each TF-IDF weighted with sublinear
term frequency, then a multinomial logistic regression. It takes the raw texts, so it needs no
vocabulary cap, sequence length or embedding, and its softmax outputs go through the same analysis
as a trial's (calibration, thresholds, out-of-scope rejection). Knows nothing of MLflow.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

NAME = "TF-IDF + logistic regression"
# Fixed, not tuned: a baseline is the simple thing done once. C = 10 (weak regularisation) suits
# sparse TF-IDF features with a few dozen examples per class; L-BFGS converges in about 20 iterations
# on 150 classes x 7,500 texts. min_df = 2 drops n-grams seen in one training text only: a third less
# fitting time there (benchmarks/baseline.py), same accuracy.
PARAMS: dict[str, object] = {"word_ngrams": (1, 2), "char_ngrams": (2, 5), "min_df": 2, "C": 10.0, "max_iter": 1000}


@dataclass
class Baseline:
    pipeline: Pipeline
    fit_seconds: float

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, K) class probabilities; column k is class index k (every class occurs in training)."""
        if len(texts) == 0:
            return np.zeros((0, len(self.pipeline.classes_)))
        return self.pipeline.predict_proba(list(texts))


def tfidf_features(
    word_ngrams: tuple[int, int] = PARAMS["word_ngrams"],  # type: ignore[assignment]
    char_ngrams: tuple[int, int] = PARAMS["char_ngrams"],  # type: ignore[assignment]
    min_df: int = PARAMS["min_df"],  # type: ignore[assignment]
) -> FeatureUnion:
    """The baseline's evidence: word and char_wb n-grams, each TF-IDF weighted (sublinear tf) and
    L2-normalised, side by side. The `ngram` family reads the same vectors (data/features.py)."""

    def tfidf(analyzer: str, ngram_range: tuple[int, int]) -> TfidfVectorizer:
        return TfidfVectorizer(analyzer=analyzer, ngram_range=tuple(ngram_range), min_df=min_df, sublinear_tf=True)

    return FeatureUnion([("word", tfidf("word", word_ngrams)), ("char", tfidf("char_wb", char_ngrams))])


def make_pipeline(seed: int) -> Pipeline:
    p = PARAMS
    return Pipeline(
        [
            ("tfidf", tfidf_features()),
            ("logreg", LogisticRegression(C=p["C"], max_iter=p["max_iter"], random_state=seed)),
        ]
    )


def fit_baseline(texts: Sequence[str], y: np.ndarray, seed: int) -> Baseline:
    """Fit on the training texts and their class indices (0..K-1, all present)."""
    start = time.perf_counter()
    pipeline = make_pipeline(seed).fit(list(texts), np.asarray(y))
    return Baseline(pipeline, time.perf_counter() - start)
