"""What a compiled Keras model says about its head: the last activation, the loss, and the path the loss takes.

`check(model)` (also `probsweep.check`) reads them from the model alone, in milliseconds, with no
training and no forward pass, and answers with the words of `probsweep.head.Head`: the verdict and
the fix the sweep's own diagnosis gives. `path_taken` is the one rule for the loss's code path,
used by the training's own loss (train.model.HeadLoss) and by `probsweep diagnose`.

Imports Keras only (no MLflow, Hydra or Keras Tuner): `import probsweep.keras` stays cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from probsweep.config import Activation, Loss, MismatchPath
from probsweep.head import FIX_PAIRING, Head

# What the loss actually read (see path_taken).
PATH_A = "A"  # cached pre-activation logits (Keras 3 on TensorFlow)
PATH_B = "B"  # the probabilities themselves: clipped, renormalised, -log(p_y / sum p)
PATH_LOGITS = "logits"  # a linear head: the loss was told from_logits=True
ACTIVATED = ("sigmoid", "softmax")  # the activations whose output Keras 3 on TensorFlow tags with its logits
PASS_THROUGH = ("Identity", "InputLayer")  # layers that hand their input tensor on unchanged
FIX_LOGITS = "compile the loss with from_logits=True (keras.losses.SparseCategoricalCrossentropy(from_logits=True))"
FIX_DOUBLE = "use a linear last layer with from_logits=True, or keep the activation and from_logits=False"


class HeadLossMismatchWarning(UserWarning):
    """The head's activation and the loss disagree: the raw outputs are not probabilities you can threshold."""


def path_taken(y_pred: Any, from_logits: bool) -> str:
    """Which code path a Keras 3 loss takes on `y_pred`: the rule Keras itself applies (TensorFlow backend).

    Keras's softmax and sigmoid cache their input on their output as `_keras_logits`; the
    cross-entropies read those logits when present (path A), else clip the probabilities (path B).
    """
    if from_logits:
        return PATH_LOGITS
    return PATH_A if hasattr(y_pred, "_keras_logits") else PATH_B


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() if name[:1].isupper() else name.lower()


def loss_of(loss: Any) -> tuple[str | None, bool, Any]:
    """(loss name, from_logits, probsweep's Head if the loss is the training's own HeadLoss) of a compiled loss."""
    if loss is None or isinstance(loss, (list, tuple, dict)):
        return None, False, None
    if isinstance(getattr(loss, "head", None), Head):  # train.model.HeadLoss: it knows its head and path
        return loss.head.loss.value, bool(loss.from_logits), loss
    if isinstance(loss, str):
        return _snake(loss), False, None
    config = loss.get_config() if hasattr(loss, "get_config") else {}
    fn = getattr(loss, "fn", None)
    name = getattr(fn, "__name__", None) or (config or {}).get("name") or getattr(loss, "__name__", None)
    name = name or type(loss).__name__
    return _snake(str(name)), bool((config or {}).get("from_logits", False)), None


def _activation_name(layer: Any) -> str | None:
    if type(layer).__name__ == "Softmax":
        return "softmax"
    fn = getattr(layer, "activation", None)
    return getattr(fn, "__name__", None) if fn is not None else None


def output_activation(model: Any) -> tuple[str | None, bool]:
    """(the activation that made the output, whether an op stands between it and the output).

    Walks back from the model's single output through layers that pass their input on (Identity,
    a linear Activation) and into nested models; the first other layer without an activation of
    its own is an op between, and the walk goes on through its single input."""
    tensor, between = model.outputs[0], False
    for _ in range(1000):
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            return None, between
        layer = history.operation
        node = layer._inbound_nodes[history.node_index]
        if hasattr(layer, "outputs") and hasattr(layer, "layers") and layer.outputs:  # a nested model
            tensor = layer.outputs[history.tensor_index]
            continue
        name = _activation_name(layer)
        passes = type(layer).__name__ in PASS_THROUGH or (name == "linear" and type(layer).__name__ == "Activation")
        if name is not None and not passes:
            return name, between
        inputs = list(node.input_tensors)
        if len(inputs) != 1:
            return None, between
        between = between or not passes
        tensor = inputs[0]
    return None, between


@dataclass(frozen=True)
class CheckResult:
    """The static check of a compiled model: what it found, the verdict and the fix, as text."""

    activation: str | None  # the last layer's activation ('sigmoid', 'softmax', 'linear', ...)
    loss: str | None  # the compiled loss's name
    from_logits: bool
    path: str | None  # PATH_A, PATH_B, PATH_LOGITS, or None when the loss reads what it expects
    ok: bool | None  # True: activation and loss agree; False: they do not; None: could not tell
    verdict: str
    fix: str  # '' when there is nothing to fix
    head: Head | None = None  # probsweep's name for the pair, when both are names it knows

    @property
    def mismatch(self) -> bool:
        return self.ok is False

    @property
    def seed_pairing(self) -> bool:
        """The seed's pairing: sigmoid outputs under sparse_categorical_crossentropy."""
        return self.activation == "sigmoid" and self.loss == "sparse_categorical_crossentropy" and not self.from_logits

    def __str__(self) -> str:
        return f"{self.verdict} Fix: {self.fix}" if self.fix else self.verdict


def check(model: Any) -> CheckResult:
    """Static check of a compiled model's head and loss: the verdict and the fix, without training."""
    import keras

    name, from_logits, own = loss_of(getattr(model, "loss", None))
    if name is None:
        return CheckResult(
            None, None, False, None, None, "The model is not compiled with one loss: nothing to check.", ""
        )
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1:
        return CheckResult(None, name, from_logits, None, None, "The model has not one output: nothing to check.", "")
    activation, between = output_activation(model)
    if own is not None:  # the training's own loss: its head and path are recorded on it
        path = PATH_LOGITS if own.from_logits else (PATH_B if own.strip_cached_logits or between else PATH_A)
        head = own.head
    else:
        path = PATH_LOGITS if from_logits else (PATH_A if activation in ACTIVATED and not between else PATH_B)
        if keras.backend.backend() != "tensorflow" and path == PATH_A:
            path = PATH_B  # only Keras's TensorFlow backend reads cached logits
        try:
            head = Head(Activation(activation), Loss(name), MismatchPath(path if path == PATH_B else PATH_A))
        except ValueError:
            head = None
    if activation in ACTIVATED and from_logits:
        return CheckResult(
            activation,
            name,
            True,
            PATH_LOGITS,
            False,
            f"The head's {activation} activation is followed by a loss with from_logits=True, which applies its "
            "own link again: the outputs the loss scores are not the ones the model returns.",
            FIX_DOUBLE,
            head,
        )
    if activation == "linear" and not from_logits and name in _KNOWN:
        return CheckResult(
            activation,
            name,
            False,
            PATH_B,
            False,
            f"The head is linear (it emits logits) but the loss {name} reads its inputs as probabilities: it clips "
            "them to [0, 1], so the logits' scale is lost.",
            FIX_LOGITS,
            None,
        )
    if head is None:
        return CheckResult(
            activation,
            name,
            from_logits,
            None,
            None,
            f"Not checked: the last activation {activation!r} with the loss {name!r} is not a pairing this check "
            "knows (sigmoid, softmax or linear with sparse_categorical_crossentropy, categorical_crossentropy or "
            "binary_crossentropy).",
            "",
        )
    if not head.mismatch:
        return CheckResult(
            activation, name, from_logits, None if path != PATH_LOGITS else path, True, head.explain(), ""
        )
    return CheckResult(activation, name, from_logits, path, False, _mismatch_text(head, path), FIX_PAIRING, head)


_KNOWN = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy")


def _mismatch_text(head: Head, path: str) -> str:
    """Head.explain's words without its trailing fix (CheckResult carries the fix on its own)."""
    return head.explain(path).split(" Fix: ")[0]
