"""The classifier's head: its activation, its loss and, for a mismatched pair, the loss's code path.

One value answers every question asked about a head (is it a mismatch, is its loss categorical,
what is it called, why do its outputs fail), so training, the analysis and the report agree.
Plain Python: no Keras, so probs/ and report/ use it without loading TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from probsweep.config import Activation, Loss, MismatchPath

CATEGORICAL_LOSSES = frozenset({Loss.sparse_categorical_crossentropy, Loss.categorical_crossentropy})

FIX_PAIRING = (
    "use softmax with a categorical loss (or a linear head with from_logits=True), "
    "or sigmoid with binary_crossentropy on one-hot labels"
)

# Why a mismatched head's outputs fail, per loss path (see train.model.HeadLoss for the mechanics).
PATH_HOW = {
    "A": "path A (Keras 3 on TensorFlow): the loss reads the logits cached before the sigmoid and computes "
    "softmax cross-entropy on them, which only fixes their differences; nothing pins the sigmoid's "
    "level, so the outputs drift and saturate",
    "B": "path B (older Keras, JAX, torch): the loss clips the outputs and renormalises them, "
    "-log(p_y / sum p), which only asks p_y to be large relative to the others; once accuracy is "
    "high every output drifts towards 0",
}
# The same two mechanisms as the report's verdict names them, beside the symptom they cause.
SATURATION_WHY = (
    "the loss reads the logits before the sigmoid and only fixes their differences; nothing pins their level"
)
COLLAPSE_WHY = (
    "the loss renormalises them and only asks the true class to be large relative to the "
    "others, so once the ranking is right every output drifts down"
)


def _value(x: Any) -> str:
    return str(getattr(x, "value", x))


def path_letter(path: Any) -> str:
    """'A', 'B' or '' from a path as recorded: 'A', MismatchPath.B, 'B: clip and renormalise', None."""
    letter = _value(path).strip()[:1].upper() if path is not None else ""
    return letter if letter in PATH_HOW else ""


@dataclass(frozen=True)
class Head:
    """activation + loss (+ the mismatch path, which only matters when they mismatch)."""

    activation: Activation
    loss: Loss
    mismatch_path: MismatchPath = MismatchPath.A

    def __post_init__(self) -> None:  # accept plain strings; an unknown name raises ValueError
        object.__setattr__(self, "activation", Activation(_value(self.activation).lower()))
        object.__setattr__(self, "loss", Loss(_value(self.loss).lower()))
        object.__setattr__(self, "mismatch_path", MismatchPath(_value(self.mismatch_path).upper()))

    @classmethod
    def of(cls, model_cfg: Any) -> Head:
        """The head a model config asks for (a ModelConfig or its DictConfig)."""
        return cls(model_cfg.activation, model_cfg.loss, MismatchPath(getattr(model_cfg, "mismatch_path", None) or "A"))

    @property
    def categorical(self) -> bool:
        """The loss treats each row of outputs as one distribution over the classes."""
        return self.loss in CATEGORICAL_LOSSES

    @property
    def sparse(self) -> bool:
        """The loss takes integer labels (the others take one-hot rows)."""
        return self.loss == Loss.sparse_categorical_crossentropy

    @property
    def from_logits(self) -> bool:
        return self.activation == Activation.linear

    @property
    def mismatch(self) -> bool:
        """The head's outputs are not what the loss assumes they are."""
        if self.from_logits:
            return False  # logits: the loss applies its own link
        return (self.activation == Activation.sigmoid) == self.categorical

    @property
    def label(self) -> str:
        """e.g. 'sigmoid+sparse_categorical_crossentropy' (the run's `head` tag)."""
        return f"{self.activation.value}+{self.loss.value}"

    def explain(self, path: Any = "config") -> str:
        """Why this head's outputs are or are not probabilities, naming the loss path.

        `path`: the path the loss took ('A', 'B', as recorded); the default is the configured one,
        None (or unknown) explains both.
        """
        if not self.mismatch:
            return f"The head's {self.activation.value} activation matches the loss {self.loss.value}."
        letter = self.mismatch_path.value if path == "config" else path_letter(path)
        how = PATH_HOW.get(letter) or f"either {PATH_HOW['A']}; or {PATH_HOW['B']}"
        return (
            f"The head's {self.activation.value} activation does not match the loss {self.loss.value}. "
            f"The loss took {how}. The raw outputs are not probabilities you can threshold. "
            f"Fix: {FIX_PAIRING}."
        )


SEED_HEAD = Head(Activation.sigmoid, Loss.sparse_categorical_crossentropy)  # the seed's mismatched pair


def mismatch_of(activation: Any, loss: Any) -> bool | None:
    """Head(activation, loss).mismatch for values read back from a store; None when they are not names."""
    try:
        return Head(activation, loss).mismatch
    except (ValueError, TypeError):
        return None
