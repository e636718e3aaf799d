"""What a registered model does with new texts: raw outputs -> calibrated probabilities -> a decision.

A `CalibratedClassifier` is the model `make best` hands over: the inner model (a Keras model that
takes raw strings, or the baseline's scikit-learn pipeline), the temperature fitted on validation,
the threshold chosen on validation and the class names. Its probabilities are computed by the same
functions as the analysis (`calibration.logits_from_outputs`, `calibration.apply_temperature`), so
the served numbers are the numbers the report describes.

Saved as a folder: the inner model (model.keras or model.joblib) beside serving.json. MLflow's side
of it (the pyfunc wrapper, the registry) is probsweep.tracking's. Keras and scikit-learn load only
when a model of their kind does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from probsweep.config import Activation, Loss
from probsweep.head import Head
from probsweep.probs import calibration as cal

META = "serving.json"
FILES = {
    "keras": "model.keras",
    "sklearn": "model.joblib",
    "encoder": "encoder",
    "ngram": "ngram",
}  # the last two: folders
DECISION_COLUMNS = ("prediction", "confidence", "decision")


@dataclass
class CalibratedClassifier:
    kind: str  # keras: strings in, the head's outputs out | sklearn: a pipeline with predict_proba | encoder: the
    # encoder family's EncoderTextModel (tokenizer + backbone + head, probsweep.encoder.family) | ngram: the ngram
    # family's NgramTextModel (the TF-IDF vectorizer + the Keras model, probsweep.train.families)
    activation: str  # the head, so raw outputs become logits as the analysis made them
    loss: str
    temperature: float
    threshold: float  # on the calibrated largest probability
    threshold_kind: str  # what the threshold was chosen for, in words
    classes: list[str]
    oos_label: str | None = None  # set: a prediction below the threshold is "out of scope"
    model: Any = field(default=None, repr=False, compare=False)

    def raw(self, texts: Sequence[str]) -> np.ndarray:
        """The inner model's outputs, as the analysis saw them."""
        texts = [str(t) for t in texts]
        if self.kind == "sklearn":
            return self.model.predict_proba(texts)
        if self.kind in ("encoder", "ngram"):
            return self.model.predict(texts)
        import tensorflow as tf  # Keras wants a string tensor, not a NumPy object array

        return self.model.predict(tf.constant([[t] for t in texts]), batch_size=256, verbose=0)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated class probabilities: softmax(logits / T), rows sum to 1."""
        head = Head(Activation(self.activation), Loss(self.loss))
        return cal.apply_temperature(cal.logits_from_outputs(self.raw(texts), head), self.temperature)

    def predict(self, texts: Sequence[str]) -> pd.DataFrame:
        """One row per text: the calibrated probability of every class (columns named by class), the top
        class, its probability, and the decision: accepted, or rejected / out of scope below the threshold."""
        p = self.predict_proba(texts)
        frame = pd.DataFrame(p, columns=self.classes)
        top = p.argmax(axis=1)
        frame["prediction"] = [self.classes[k] for k in top]
        frame["confidence"] = p.max(axis=1)
        below = "out of scope" if self.oos_label else "rejected"
        frame["decision"] = np.where(
            frame["confidence"] >= self.threshold, "accepted", f"{below} (below threshold {self.threshold:.3g})"
        )
        return frame

    def save(self, folder: Path) -> Path:
        clash = set(self.classes) & set(DECISION_COLUMNS)
        if clash:
            raise ValueError(
                f"class names {sorted(clash)} clash with the served columns {DECISION_COLUMNS}: rename them"
            )
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / FILES[self.kind]
        if self.kind == "sklearn":
            import joblib

            joblib.dump(self.model, path)
        else:
            self.model.save(path)
        meta = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}
        (folder / META).write_text(json.dumps(meta, indent=2))
        return folder

    @classmethod
    def load(cls, folder: Path) -> CalibratedClassifier:
        folder = Path(folder)
        meta = json.loads((folder / META).read_text())
        path = folder / FILES[meta["kind"]]
        if meta["kind"] == "sklearn":
            import joblib

            model = joblib.load(path)
        elif meta["kind"] == "encoder":
            from probsweep.encoder.family import EncoderTextModel

            model = EncoderTextModel.load(path)
        elif meta["kind"] == "ngram":
            from probsweep.train.families import NgramTextModel

            model = NgramTextModel.load(path)
        else:
            import keras

            model = keras.saving.load_model(path, compile=False)
        return cls(**meta, model=model)
