"""The served model: the pyfunc face of probs.serving.CalibratedClassifier, logged, registered and loaded."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient

from probsweep.config import ConfigError

PACKAGE_DIR = Path(__file__).parents[1]  # src/probsweep: the code that travels with the model


class ServedModel(PythonModel):
    """MLflow's face of probsweep.probs.serving.CalibratedClassifier: texts in, calibrated probabilities,
    top class and accept/reject decision out.

    It lives here because only the tracking package imports mlflow; the model and its maths stay in
    probs/serving.py, loaded when MLflow loads the model (so neither Keras nor scikit-learn is
    imported by `make ui` or `make report`). The package's code travels with the model (code_paths),
    so the artifact gives the same numbers wherever it is loaded.
    """

    def load_context(self, context) -> None:
        from probsweep.probs.serving import CalibratedClassifier

        self.classifier = CalibratedClassifier.load(Path(context.artifacts["bundle"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # a frame with a "text" column
        if isinstance(model_input, pd.DataFrame):
            texts = model_input["text"] if "text" in model_input.columns else model_input.iloc[:, 0]
        else:
            texts = model_input
        return self.classifier.predict([str(t) for t in np.asarray(texts).reshape(-1)])


def log_served_model(
    run_id: str,
    classifier: Any,
    example_texts: list,
    registered_name: str | None,
    alias: str = "champion",
    version_tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Save `classifier` (a probs.serving.CalibratedClassifier) as a pyfunc model under the run, register it
    with `version_tags` (what it is: the sweep, the run it retrains) and point `alias` at the new version.
    Returns the run's model URI, the version and the alias URI."""
    from mlflow.models import infer_signature

    deps = {
        "keras": ["tensorflow-cpu", "keras"],
        "sklearn": ["scikit-learn"],
        "ngram": ["tensorflow-cpu", "keras", "scikit-learn"],
        # keras-hub's own requirement pulls tensorflow-text (and the full tensorflow): docs/encoder.md
        "encoder": ["tensorflow-cpu", "keras", "keras-hub", "tokenizers", "regex", "sentencepiece", "safetensors"],
    }[classifier.kind]
    requirements = [f"{d}=={_version(d)}" for d in ["mlflow", "numpy", "scipy", "pandas", "omegaconf", *deps]]
    example = pd.DataFrame({"text": [str(t) for t in example_texts]})
    client = MlflowClient()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = classifier.save(Path(tmp) / "bundle")
        signature = infer_signature(example, classifier.predict(example["text"].tolist()))
        path = Path(tmp) / "model"  # saved, then logged: the run is not MLflow's "active" run
        # MLflow warns that a python_model object is cloudpickled; ServedModel holds no state and is
        # pickled by reference (its code travels in code_paths), so the warning says nothing here.
        logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
        mlflow.pyfunc.save_model(
            str(path),
            python_model=ServedModel(),
            artifacts={"bundle": str(bundle)},
            signature=signature,
            input_example=example,
            pip_requirements=requirements,
            code_paths=[str(PACKAGE_DIR)],
        )
        client.log_artifacts(run_id, str(path), "model")
    uri = f"runs:/{run_id}/model"
    out: dict[str, Any] = {"model_uri": uri, "version": None, "alias_uri": None}
    if registered_name:
        version = mlflow.register_model(uri, registered_name, tags=version_tags or None).version
        client.set_registered_model_alias(registered_name, alias, version)
        out.update(version=version, alias_uri=f"models:/{registered_name}@{alias}")
    return out


def model_version_tags(model_uri: str) -> dict[str, str]:
    """The registry tags of the version a models:/<name>@<alias> or models:/<name>/<version> URI names
    ({} for a runs:/ URI or a name the registry does not hold)."""
    if not model_uri.startswith("models:/"):
        return {}
    name, _, rest = model_uri[len("models:/") :].partition("@")
    client = MlflowClient()
    try:
        if rest:
            found = client.get_model_version_by_alias(name, rest)
        else:
            name, _, number = name.partition("/")
            found = client.get_model_version(name, number)
    except mlflow.exceptions.MlflowException:
        return {}
    return {**found.tags, "version": str(found.version), "run_id": str(found.run_id)}


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


def load_served_model(model_uri: str):
    """A pyfunc model by URI: runs:/<id>/model, models:/<name>/<version> or models:/<name>@<alias>."""
    try:
        return mlflow.pyfunc.load_model(model_uri)
    except mlflow.exceptions.MlflowException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot load model {model_uri}: {first}; run `make best` first, or pass --model "
            "with an existing runs:/ or models:/ URI"
        ) from None
