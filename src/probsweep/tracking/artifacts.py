"""Reading a run's artifacts back as pandas frames, dicts, text or bytes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient


def read_artifact(run_id: str, path: str) -> Any | None:
    """An artifact as a pandas frame (.csv), a dict (.json), text (.txt, .yaml) or bytes; None if absent."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(MlflowClient().download_artifacts(run_id, path, tmp))
        except (mlflow.exceptions.MlflowException, OSError):
            return None
        if not local.is_file():
            return None
        if local.suffix == ".csv":
            return pd.read_csv(local)
        if local.suffix == ".json":
            return json.loads(local.read_text())
        if local.suffix in (".txt", ".yaml", ".html"):
            return local.read_text()
        return local.read_bytes()
