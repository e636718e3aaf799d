"""probsweep: experiment-tracked sweeps that explain a text classifier's probabilities."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def check(model: Any) -> Any:
    """The static check of a compiled Keras model's head and loss (probsweep.compiled.check): a CheckResult
    with the verdict and the fix as text, in milliseconds, without training. Imports Keras only."""
    from probsweep.compiled import check as static_check

    return static_check(model)
