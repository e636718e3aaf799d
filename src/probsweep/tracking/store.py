"""Where runs are stored: the tracking URI, the SQLite file and its creation lock, the experiment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from probsweep.config import PROJECT_ROOT

STORE_DIR = PROJECT_ROOT / "mlruns"


def resolve_uri(uri: str | None = None) -> str:
    """Config first, then $MLFLOW_TRACKING_URI, else a SQLite store with artifacts under mlruns/."""
    if uri:
        return uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{STORE_DIR / 'mlflow.db'}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///...` store URI, with its folder created; None for any other store."""
    if not uri.startswith("sqlite:///"):
        return None
    path = Path(uri[len("sqlite:///") :])
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _creation_lock(db: Path | None) -> Iterator[None]:
    """Two processes starting at once on a new SQLite store would both run its table migrations, and
    one fails (alembic: "expected to match one row"); with this lock the first creates, the other waits."""
    if db is None:
        yield
        return
    import fcntl

    with open(db.with_name(db.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def setup(uri: str | None, experiment: str) -> str:
    """Point MLflow at the store and return the experiment's id, creating it if needed."""
    uri = resolve_uri(uri)
    db = sqlite_path(uri)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # a server's run links on every run end
    mlflow.set_tracking_uri(uri)
    with _creation_lock(db):  # the store's tables and the experiment: created once, whoever comes first
        client = MlflowClient()
        found = client.get_experiment_by_name(experiment)
        if found is not None:
            return found.experiment_id
        artifacts = None
        if db is not None:  # keep artifacts beside the database, not in ./mlartifacts
            artifacts = (db.parent / "artifacts" / experiment).as_uri()
        return client.create_experiment(experiment, artifact_location=artifacts)
