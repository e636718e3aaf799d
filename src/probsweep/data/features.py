"""What a model body reads: each builder declares its input kind, the data stage makes that input.

A body builder states the input it needs with `@reads(KIND)` (undecorated builders read "tokens", the
padded token ids every body read before). `model_input(data, kind, model_cfg)` makes that input from
the one split `Dataset` (same rows, same splits, same labels for every family) and caches it on the
data object, so a sweep featurises each kind once, not once per trial. A kind is registered with
`@featurizer(KIND, arguments=(...))`; the registered function returns `Features`:

- x_train / x_val / x_test: what the body's inputs take (NumPy arrays, or a scipy sparse matrix);
- featurizer: a Keras layer (or model) from a string tensor of shape (batch, 1) to those inputs, so
  the served model is `featurizer -> body -> head` and takes raw strings (probs/serving.py), or None
  when the inputs are the strings themselves; or a Python object with `text_model(model)` and
  `served_kind` that builds the served model itself (ngram's TF-IDF vectorizer, the encoder's tokenizer);
- arguments: the data's own arguments the builder receives (for "tokens": vocab_size, n_classes,
  max_len, embedding_matrix), besides its config keys;
- report: what featurising found (sizes), logged as `features.*` params;
- jit_compile: False when the inputs cannot go through XLA (sparse tensors, strings).

Model code knows nothing of MLflow or tuners; this module knows nothing of them either.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TOKENS = "tokens"  # padded token ids from data.vectorizer: the seed's input, and any undecorated builder's
READS = "__probsweep_reads__"  # the attribute `reads` sets on a builder


@dataclass
class Features:
    kind: str
    x_train: Any
    x_val: Any
    x_test: Any
    featurizer: Any  # keras layer: string tensor (batch, 1) -> the body's inputs; None: the strings themselves
    arguments: dict[str, Any]  # the data's arguments to the body builder (sizes, matrices)
    report: dict[str, Any] = field(default_factory=dict)
    jit_compile: bool = True  # False: these inputs cannot be XLA-compiled (sparse, strings)


@dataclass
class Kind:
    name: str
    build: Callable[..., Features]  # (data, model_cfg) -> Features
    arguments: tuple[str, ...]  # the names a builder reading this kind must accept
    config_keys: Callable[[Any], Any]  # model_cfg -> what the features depend on (the cache key)


KINDS: dict[str, Kind] = {}


def featurizer(
    kind: str, arguments: tuple[str, ...], config_keys: Callable[[Any], Any] = lambda cfg: None
) -> Callable[[Callable[..., Features]], Callable[..., Features]]:
    """Register how the data stage makes input `kind`: `build(data, model_cfg) -> Features`.

    `config_keys(model_cfg)` returns the (hashable) settings the features depend on, e.g. the n-gram
    vocabulary's size: features are made once per data set and settings."""

    def register(build: Callable[..., Features]) -> Callable[..., Features]:
        KINDS[kind] = Kind(kind, build, tuple(arguments), config_keys)
        return build

    return register


def reads(kind: str) -> Callable[[Callable], Callable]:
    """Declare on a body builder the input it needs: `@reads("ngrams") def ngram_body(...)`."""

    def mark(builder: Callable) -> Callable:
        setattr(builder, READS, kind)
        return builder

    return mark


def input_kind(builder: Callable) -> str:
    return getattr(builder, READS, TOKENS)


def kind_of(target: str) -> Kind:
    """The input kind of the builder `model._target_` names (ConfigError when it cannot be imported)."""
    from probsweep.config import ConfigError
    from probsweep.train.model import resolve_builder

    name = input_kind(resolve_builder(target))
    if name not in KINDS:
        raise ConfigError(
            f"model._target_={target} reads {name!r}, which no featurizer makes (known: {', '.join(KINDS)}): "
            "register one with probsweep.data.features.featurizer"
        )
    return KINDS[name]


def family_of(target: str) -> str:
    """A family's name: the builder's name without `_body` (probsweep.train.families.ngram_body -> ngram)."""
    name = str(target).rsplit(".", 1)[-1]
    return name[: -len("_body")] if name.endswith("_body") else name


def model_input(data: Any, kind: str, model_cfg: Any) -> Features:
    """The input `kind` for `data`, made once per data set and settings (cached on the data object)."""
    entry = KINDS[kind]
    key = (kind, entry.config_keys(model_cfg))
    cache = data.__dict__.setdefault("_features", {})
    if key not in cache:
        cache[key] = entry.build(data, model_cfg)
    return cache[key]


def features_for(data: Any, model_cfg: Any) -> Features:
    """What the configured body (model._target_) reads, made from `data`."""
    return model_input(data, kind_of(model_cfg._target_).name, model_cfg)


def rows(x: Any) -> int:
    """Row count of a NumPy array or a scipy sparse matrix (whose len() is ambiguous)."""
    return int(x.shape[0])


@featurizer(TOKENS, arguments=("vocab_size", "n_classes", "max_len", "embedding_matrix"))
def token_features(data: Any, model_cfg: Any) -> Features:
    """The Dataset's own token ids (data/loading.py): the seed's input, unchanged."""
    return Features(
        TOKENS,
        data.x_train,
        data.x_val,
        data.x_test,
        data.vectorizer,
        {
            "vocab_size": data.vocab_size,
            "n_classes": data.n_classes,
            "max_len": int(data.x_train.shape[1]),
            "embedding_matrix": data.embedding_matrix,
        },
        {"max_len": int(data.x_train.shape[1]), "vocab_size": data.vocab_size},
    )


def builder_accepts(builder: Callable, names: tuple[str, ...]) -> list[str]:
    """The names in `names` that `builder` cannot be called with."""
    params = inspect.signature(builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []
    return [n for n in names if n not in params]


def split_texts(data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The train, val and test texts in the order of data.y_train, y_val and y_test."""
    frame = data.frame
    return tuple(np.asarray(frame.text[frame.split == s].tolist(), dtype=object) for s in ("train", "val", "test"))  # type: ignore[return-value]


def _ngram_settings(model_cfg: Any) -> tuple:
    n = model_cfg.ngram
    return (tuple(int(v) for v in n.word_ngrams), tuple(int(v) for v in n.char_ngrams), int(n.min_df))


@dataclass
class TfidfFeaturizer:
    """Raw strings -> the `ngram` family's input: the fitted TF-IDF vectorizer (scikit-learn), as the
    served model's first stage. A Python featurizer: `text_model` builds the served model."""

    vectorizer: Any  # sklearn FeatureUnion, fitted on the training texts
    served_kind = "ngram"  # probs.serving.CalibratedClassifier.kind

    def transform(self, texts: Any) -> Any:
        """(len(texts), n_features) float32 CSR rows, L2-normalised per vectorizer."""
        return self.vectorizer.transform([str(t) for t in texts]).astype(np.float32).tocsr()

    def text_model(self, model: Any) -> Any:
        from probsweep.train.families import NgramTextModel

        return NgramTextModel.of(self, model)


@featurizer("ngrams", arguments=("n_features", "n_classes"), config_keys=_ngram_settings)
def ngram_features(data: Any, model_cfg: Any) -> Features:
    """The baseline's own evidence (train/baseline.py tfidf_features): word n-grams (model.ngram.word_ngrams,
    a range) and char_wb n-grams (model.ngram.char_ngrams), each seen in at least model.ngram.min_df training
    texts, TF-IDF weighted with sublinear tf, fitted on the training texts only. Sparse rows (scipy CSR):
    about 130 non-zeros among 24,000 features per HWU64 query. Served: the vectorizer, then the Keras model."""
    from probsweep.train.baseline import tfidf_features

    word, char, min_df = _ngram_settings(model_cfg)
    train, val, test = split_texts(data)
    vectorizer = tfidf_features(word, char, min_df).fit(list(train))
    featurize = TfidfFeaturizer(vectorizer)
    x_train, x_val, x_test = (featurize.transform(t) for t in (train, val, test))
    words, chars = (len(t.vocabulary_) for _, t in vectorizer.transformer_list)
    return Features(
        "ngrams",
        x_train,
        x_val,
        x_test,
        featurize,
        {"n_features": int(x_train.shape[1]), "n_classes": data.n_classes},
        {
            "word_vocab": words,
            "char_vocab": chars,
            "nonzeros_per_text": round(x_train.nnz / max(1, x_train.shape[0]), 1),
        },
        jit_compile=False,  # sparse inputs do not go through XLA
    )
