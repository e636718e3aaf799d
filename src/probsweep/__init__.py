"""probsweep: experiment-tracked sweeps that explain a text classifier's probabilities."""

__version__ = "0.1.0"
