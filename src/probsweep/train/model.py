"""The classifier: a body (the seed's, or yours) plus the head, and the head/loss wiring.

Plain Keras: knows nothing of MLflow or tuners. The body is built by `model._target_` through Hydra's
`instantiate` (the seed's: Embedding -> Bidirectional(GRU) -> Conv1D -> concat(global avg, global
max)); `build_model` always adds the head, Dense(n_classes, activation), so the loss, its mismatch
path and the whole diagnosis are the same on any body.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from probsweep.compiled import PATH_A, PATH_B, PATH_LOGITS, HeadLossMismatchWarning, path_taken
from probsweep.config import BODY_KEYS, FAMILY_SECTIONS, ConfigError, ModelConfig
from probsweep.data.features import family_of, kind_of
from probsweep.head import Head

__all__ = ["PATH_A", "PATH_B", "PATH_LOGITS", "HeadLoss", "HeadLossMismatchWarning", "build_model", "compile_model"]

# What the loss actually read, recorded at trace time (see HeadLoss.call): PATH_A, PATH_B, PATH_LOGITS.


def resolve_trainable_embedding(setting: Any, has_vectors: bool) -> bool:
    """model.trainable_embedding resolved: `auto` freezes pretrained vectors (as the seed did) and
    trains an embedding that starts random, since a frozen random embedding leaves the network to
    learn from noise (on a 150-intent benchmark: 31% validation accuracy frozen, 86% trained)."""
    return (not has_vectors) if setting == "auto" else bool(setting)


DATA_ARGUMENTS = ("vocab_size", "n_classes", "max_len", "embedding_matrix")  # what a token-reading builder receives


def build_model(
    cfg: ModelConfig,
    vocab_size: int | None = None,
    n_classes: int | None = None,
    max_len: int | None = None,
    embedding_matrix: np.ndarray | None = None,
    *,
    arguments: dict[str, Any] | None = None,
) -> keras.Model:
    """The configured body (model._target_) with the configured head on top.

    `arguments`: the data's arguments for the body (probsweep.data.features.Features.arguments);
    without them, the token sizes given (a body reading token ids, as before)."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    if arguments is None:
        arguments = dict(vocab_size=vocab_size, n_classes=n_classes, max_len=max_len, embedding_matrix=embedding_matrix)
    data_names = tuple(arguments)
    # _convert_: the builder gets plain lists and dicts from model.kwargs, not OmegaConf containers.
    builder = {"_target_": cfg._target_, "_convert_": "all", **body_arguments(cfg, data_names)}
    if "trainable_embedding" in builder:  # `auto` becomes true or false: the body gets a plain bool
        has_vectors = arguments.get("embedding_matrix") is not None
        builder["trainable_embedding"] = resolve_trainable_embedding(builder["trainable_embedding"], has_vectors)
    try:
        body = instantiate(builder, **arguments)
    except InstantiationException as exc:  # the builder's own error, not Hydra's wrapper around it
        raise (exc.__cause__ or exc) from None
    features = body_features(body, cfg._target_)
    outputs = layers.Dense(int(arguments["n_classes"]), activation=Head.of(cfg).activation.value, name="head")(features)
    return keras.Model(body.inputs, outputs, name=body.name)


def resolve_builder(target: str) -> Any:
    """The function model._target_ names; ConfigError naming the fix when it cannot be imported."""
    from hydra.utils import get_method

    try:
        return get_method(target)
    except Exception as exc:  # Hydra wraps the import error; its first line names the module
        raise ConfigError(
            f"model._target_={target!r} is not an importable function ({str(exc).splitlines()[0]}): "
            "give a dotted path, package.module.function, on the Python path"
        ) from None


def family_keys(cfg: ModelConfig, target: str) -> dict[str, Any]:
    """model.<family>.* for the builder <family>_body (probsweep.data.features.family_of), as plain values."""
    from omegaconf import OmegaConf

    family = family_of(target)
    if family not in FAMILY_SECTIONS:
        return {}
    section = getattr(cfg, family)
    found = OmegaConf.to_container(section, resolve=True) if OmegaConf.is_config(section) else vars(section)
    return {str(k): v for k, v in dict(found).items()}  # type: ignore[arg-type]


def body_arguments(cfg: ModelConfig, data_names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """What the builder gets besides the data's arguments (`data_names`; None: those of the input kind
    the builder reads, probsweep.data.features): the typed model keys its signature names (embed_dim,
    dropout, ...: a sweep over them works on any body), its family's keys model.<family>.* and
    everything in model.kwargs. ConfigError, naming the key, for a builder that cannot be found or
    called with them."""
    target = cfg._target_
    builder = resolve_builder(target)
    if data_names is None:
        data_names = kind_of(target).arguments
    params = inspect.signature(builder).parameters
    any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = dict(cfg.kwargs or {})
    own = family_keys(cfg, target)
    for key in kwargs:
        if key in BODY_KEYS or key in data_names or key in own:
            where = (
                f"model.{key}" if key in BODY_KEYS else f"model.{family_of(target)}.{key}" if key in own else "the data"
            )
            raise ConfigError(f"model.kwargs.{key}: {key} is given by {where}; remove it from model.kwargs")
        if key not in params and not any_keyword:
            raise ConfigError(f"model.kwargs.{key}: {target} takes no argument '{key}' (it takes {', '.join(params)})")
    missing = [name for name in data_names if name not in params and not any_keyword]
    if missing:
        raise ConfigError(
            f"model._target_={target} must accept {', '.join(data_names)} "
            f"(it lacks {', '.join(missing)}): see docs/configuration.md, 'Bring your own model'"
        )
    typed = {key: getattr(cfg, key) for key in BODY_KEYS if key in params}
    arguments = {**typed, **{k: v for k, v in own.items() if k in params or any_keyword}, **kwargs}
    unset = [
        name
        for name, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and name not in data_names
        and name not in arguments
    ]
    if unset:
        raise ConfigError(f"model._target_={target} needs {', '.join(unset)}: set model.kwargs.{unset[0]}=...")
    return arguments


def body_features(body: Any, target: str) -> Any:
    """The builder's result must be a Keras model from token ids to one feature vector per text."""
    if not isinstance(body, keras.Model) or not getattr(body, "inputs", None):
        raise ConfigError(
            f"model._target_={target} returned {type(body).__name__}: return a keras.Model "
            "(functional, or Sequential starting with keras.Input) from its input to features"
        )
    if len(body.outputs) != 1 or len(body.outputs[0].shape) != 2:
        shapes = [tuple(o.shape) for o in body.outputs]
        raise ConfigError(
            f"model._target_={target} returned outputs of shape {shapes}: return one output of "
            "shape (batch, features), e.g. end with GlobalAveragePooling1D, and no Dense head"
        )
    return body.outputs[0]


def seed_body(
    vocab_size: int,
    n_classes: int,
    max_len: int,
    embedding_matrix: np.ndarray | None,
    *,
    embed_dim: int,
    trainable_embedding: bool,
    gru_units: int,
    dropout: float,
    recurrent_dropout: float,
    conv_filters: int,
    kernel_size: int,
) -> keras.Model:
    """The seed's body, every size from the model config (the default model._target_)."""
    tokens = keras.Input(shape=(max_len,), dtype="int32", name="tokens")
    embedding = layers.Embedding(vocab_size, embed_dim, trainable=trainable_embedding, name="embedding")
    x = embedding(tokens)
    # reset_after=False is the Keras 2 / TF1 GRU the seed used: 3*(u*(d+u)+u) weights per direction.
    gru = layers.GRU(
        gru_units,
        return_sequences=True,
        dropout=dropout,
        recurrent_dropout=recurrent_dropout,
        reset_after=False,
    )
    x = layers.Bidirectional(gru, name="bidirectional")(x)
    x = layers.Conv1D(conv_filters, kernel_size, padding="valid", kernel_initializer="glorot_uniform", name="conv1d")(x)
    x = layers.Concatenate(name="concatenate")(
        [layers.GlobalAveragePooling1D(name="avg_pool")(x), layers.GlobalMaxPooling1D(name="max_pool")(x)]
    )
    load_vectors(embedding, embedding_matrix, vocab_size, embed_dim)
    return keras.Model(tokens, x, name="seed_classifier")


def load_vectors(embedding, embedding_matrix, vocab_size: int, embed_dim: int) -> None:
    """Pretrained vectors (data.vectors_path) into a body's Embedding layer; None leaves its random init."""
    if embedding_matrix is None:
        return
    if embedding_matrix.shape != (vocab_size, embed_dim):
        raise ValueError(
            f"embedding matrix is {embedding_matrix.shape}, expected ({vocab_size}, {embed_dim}): "
            "set model.embed_dim to the vectors' dimension"
        )
    embedding.set_weights([embedding_matrix.astype("float32")])


class CachedLogits(layers.Layer):
    """The logits the loss reads: those a softmax/sigmoid cached on its output, else the outputs (a linear head)."""

    def call(self, outputs):
        return getattr(outputs, "_keras_logits", outputs)


def inference_model(model: keras.Model) -> keras.Model:
    """The same layers and weights with two outputs, (logits, outputs), from one forward pass: the
    monitor computes val_loss from them as the loss would (path A reads the logits), so validation
    runs once per epoch instead of twice."""
    outputs = model.outputs[0]
    return keras.Model(model.inputs, [CachedLogits(name="logits")(outputs), outputs], name=f"{model.name}_inference")


def with_cached_logits(outputs, logits):
    """`outputs` as a tensor carrying `logits` the way Keras 3 on TensorFlow caches them, so a HeadLoss
    called on it takes the same path (A, B or from_logits) as it did in training."""
    import tensorflow as tf

    y_pred = tf.convert_to_tensor(outputs)
    if logits is not None:
        y_pred._keras_logits = tf.convert_to_tensor(logits)
    return y_pred


@keras.saving.register_keras_serializable(package="probsweep")
class HeadLoss(keras.losses.Loss):
    """The configured Keras loss, plus a record of which code path it took.

    Keras 3 on TensorFlow looks for `_keras_logits`, which its softmax and sigmoid activations cache
    on their output, and if present computes the loss from those logits (path A). Any op between the
    activation and the loss drops that attribute, and the loss then clips and renormalises the
    probabilities instead (path B), as older Keras and the JAX and torch backends always do.
    `mismatch_path=B` inserts such an op (an identity), so both paths are reproducible here.
    """

    def __init__(self, head: Head, label_smoothing: float, strip_cached_logits: bool, name: str = "head_loss"):
        super().__init__(name=name)
        self.head = head
        self.from_logits = head.from_logits
        self.label_smoothing = float(label_smoothing)
        self.strip_cached_logits = strip_cached_logits
        self.path: str | None = None

    def get_config(self) -> dict[str, Any]:
        """What a saved model.keras needs to compile this loss again (probsweep diagnose reads its head)."""
        return {
            "name": self.name,
            "activation": self.head.activation.value,
            "loss": self.head.loss.value,
            "mismatch_path": self.head.mismatch_path.value,
            "label_smoothing": self.label_smoothing,
            "strip_cached_logits": self.strip_cached_logits,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HeadLoss:
        head = Head(config["activation"], config["loss"], config.get("mismatch_path", "A"))
        return cls(head, config["label_smoothing"], config["strip_cached_logits"], name=config.get("name", "head_loss"))

    def call(self, y_true, y_pred):
        if self.strip_cached_logits:
            y_pred = ops.copy(y_pred)  # a new tensor: no cached logits, so path B
        self.path = path_taken(y_pred, self.from_logits)
        if self.head.sparse:
            return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)
        if self.head.categorical:
            return keras.losses.categorical_crossentropy(
                y_true, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
            )
        return keras.losses.binary_crossentropy(
            y_true, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
        )


def make_loss(cfg: ModelConfig) -> HeadLoss:
    head = Head.of(cfg)
    if head.mismatch:
        warnings.warn(head.explain(), HeadLossMismatchWarning, stacklevel=2)
    return HeadLoss(
        head,
        label_smoothing=cfg.label_smoothing,
        strip_cached_logits=head.mismatch and head.mismatch_path.value == PATH_B,
    )


def compile_model(
    model: keras.Model, cfg: ModelConfig, learning_rate: float, jit_compile: bool, steps_per_execution: int = 1
) -> HeadLoss:
    """Compile with the configured head/loss; returns the loss so callers can read `loss.path`."""
    loss = make_loss(cfg)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=loss,
        # Named "accuracy" whatever the target encoding, so every head logs the same metric key.
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy")
            if Head.of(cfg).sparse
            else keras.metrics.CategoricalAccuracy(name="accuracy")
        ],
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return loss


def encode_targets(y: np.ndarray, n_classes: int, head: Head) -> np.ndarray:
    """Integer labels for the sparse loss; one-hot for the categorical and binary losses."""
    y = np.asarray(y, dtype="int64")
    if head.sparse:
        return y.astype("int32")
    return np.eye(n_classes, dtype="float32")[y]
