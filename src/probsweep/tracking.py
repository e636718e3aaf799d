"""Everything MLflow: where runs are stored, how they open and close, what they record.

The only module that imports mlflow. Model and data code hand it plain values.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import Metric
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from probsweep import lifeline
from probsweep.config import PROJECT_ROOT, ConfigError, flatten

log = logging.getLogger(__name__)
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


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Stopped(Exception):
    """Raised inside `run` when the run is stopped from outside, not by an error of its own (its trial
    was taken over by another worker): the run ends KILLED, with the reason in its `killed_because` tag."""


@contextmanager
def run(
    experiment_id: str, name: str, tags: dict[str, str], parent_run_id: str | None = None, run_id: str | None = None
) -> Iterator[str]:
    """Open (or reopen) a run; it always ends FINISHED, FAILED (error kept as a tag) or KILLED."""
    client = MlflowClient()
    if run_id is None:
        all_tags = {"git_commit": git_commit(), **tags}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run_id = client.create_run(experiment_id, run_name=name, tags=all_tags).info.run_id
    else:
        client.update_run(run_id, status="RUNNING")
        for k, v in tags.items():
            client.set_tag(run_id, k, v)
    try:
        yield run_id
    except (KeyboardInterrupt, Stopped) as exc:
        if isinstance(exc, Stopped):
            client.set_tag(run_id, "killed_because", str(exc))
        client.set_terminated(run_id, status="KILLED")
        raise
    except BaseException as exc:
        import traceback

        client.set_tag(run_id, "error", f"{type(exc).__name__}: {exc}"[:4000])
        client.log_text(run_id, traceback.format_exc(), "error.txt")
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")


def end_stale_runs(experiment_id: str, filter_string: str) -> int:
    """Runs left RUNNING by a process that died (kill -9, power loss) are marked KILLED."""
    client = MlflowClient()
    stale = client.search_runs([experiment_id], filter_string=f"attributes.status = 'RUNNING' and {filter_string}")
    for r in stale:
        client.set_terminated(r.info.run_id, status="KILLED")
    return len(stale)


def kill_run(run_id: str) -> bool:
    """Mark one run KILLED if it is still RUNNING (its process is gone); True if it was."""
    client = MlflowClient()
    if client.get_run(run_id).info.status != "RUNNING":
        return False
    client.set_terminated(run_id, status="KILLED")
    return True


def finished_metrics(experiment_id: str, filter_string: str) -> dict[str, float] | None:
    """The last-step metrics of a FINISHED run that matches, or None."""
    where = f"attributes.status = 'FINISHED' and {filter_string}"
    done = MlflowClient().search_runs([experiment_id], filter_string=where, max_results=1)
    return dict(done[0].data.metrics) if done else None


def log_config(run_id: str, cfg: DictConfig) -> None:
    """Params: the flattened resolved config (same keys in every run); artifact: config.yaml.

    The search space itself is the sweep's, not the run's: it goes on the parent run.
    """
    log_params(run_id, {k: v for k, v in flatten(cfg).items() if not k.startswith("search.space.")})
    MlflowClient().log_text(run_id, OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")


def log_dataset(run_id: str, frame: pd.DataFrame, name: str, fingerprint: str) -> None:
    client = MlflowClient()
    client.set_tag(run_id, "data_fingerprint", fingerprint)
    ds = from_pandas(frame, name=name, targets="label")
    client.log_inputs(
        run_id,
        datasets=[
            mlflow.entities.DatasetInput(
                ds._to_mlflow_entity(), tags=[mlflow.entities.InputTag("mlflow.data.context", "training")]
            )
        ],
    )


def log_metrics(run_id: str, metrics: dict[str, float], step: int | None = None) -> None:
    ts = int(time.time() * 1000)
    MlflowClient().log_batch(run_id, metrics=[Metric(k, float(v), ts, step or 0) for k, v in metrics.items()])


def set_tags(run_id: str, tags: dict[str, Any]) -> None:
    client = MlflowClient()
    for k, v in tags.items():
        client.set_tag(run_id, k, str(v))


def log_artifacts(run_id: str, files: dict[str, Any]) -> None:
    """{relative path: str text | bytes | pandas DataFrame (as CSV) | Path of a file to copy}."""
    with tempfile.TemporaryDirectory() as tmp:
        for rel, content in files.items():
            dest = Path(tmp) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, pd.DataFrame):
                content.to_csv(dest, index=False)
            elif isinstance(content, bytes):
                dest.write_bytes(content)
            elif isinstance(content, Path):
                dest.write_bytes(content.read_bytes())
            else:
                dest.write_text(str(content))
        MlflowClient().log_artifacts(run_id, tmp)


def log_params(run_id: str, params: dict[str, Any]) -> None:
    """Values as strings (None as "None"), in batches of 100: MLflow's limit per call."""
    items = [mlflow.entities.Param(k, str(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), 100):
        MlflowClient().log_batch(run_id, params=items[i : i + 100])


def running_sweep(experiment_id: str) -> str | None:
    """The newest RUNNING sweep (parent) run of an experiment: what a worker on another host joins."""
    found = MlflowClient().search_runs(
        [experiment_id],
        "tags.kind = 'sweep' and attributes.status = 'RUNNING'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return found[0].info.run_id if found else None


def run_exists(run_id: str) -> bool:
    try:
        MlflowClient().get_run(run_id)
        return True
    except mlflow.exceptions.MlflowException:
        return False


def child_runs(experiment_id: str, parent_run_id: str) -> pd.DataFrame:
    """The sweep's trial runs as a pandas frame (params.*, metrics.* at their last step, tags.*)."""
    return mlflow.search_runs(
        [experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'", output_format="pandas"
    )


def get_run(run_id: str):
    return MlflowClient().get_run(run_id)


class ServedModel(PythonModel):
    """MLflow's face of probsweep.probs.serving.CalibratedClassifier: texts in, calibrated probabilities,
    top class and accept/reject decision out.

    It lives here because only this module imports mlflow; the model and its maths stay in
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
    run_id: str, classifier: Any, example_texts: list, registered_name: str | None, alias: str = "champion"
) -> dict[str, Any]:
    """Save `classifier` (a probs.serving.CalibratedClassifier) as a pyfunc model under the run, register it
    and point `alias` at the new version. Returns the run's model URI, the version and the alias URI."""
    from mlflow.models import infer_signature

    deps = {
        "keras": ["tensorflow-cpu", "keras"],
        "sklearn": ["scikit-learn"],
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
            code_paths=[str(Path(__file__).parent)],
        )
        client.log_artifacts(run_id, str(path), "model")
    uri = f"runs:/{run_id}/model"
    out: dict[str, Any] = {"model_uri": uri, "version": None, "alias_uri": None}
    if registered_name:
        version = mlflow.register_model(uri, registered_name).version
        client.set_registered_model_alias(registered_name, alias, version)
        out.update(version=version, alias_uri=f"models:/{registered_name}@{alias}")
    return out


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


def read_artifact(run_id: str, path: str) -> Any | None:
    """An artifact as a pandas frame (.csv), a dict (.json), text (.txt, .yaml) or bytes; None if absent."""
    import json

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


# ---- the tracking server: one process that writes the store, many clients over HTTP ----

LOCAL = "127.0.0.1"


def free_port(host: str = LOCAL) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def server_command(
    port: int, uri: str, host: str = LOCAL, artifacts: str | None = None, app_name: str | None = None
) -> list:
    """`mlflow server` over `uri` (`make ui`, `make server`, a distributed sweep's own server).

    One worker process: over SQLite it is then the only writer. Artifacts are served through it
    (`--artifacts-destination`), so workers on other hosts need no shared disk; MLflow 3's
    --allowed-hosts and CORS defaults are kept.
    """
    db = sqlite_path(uri)
    if db is not None:
        artifacts = artifacts or str(db.parent / "artifacts")
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        host,
        "--port",
        str(port),
        "--backend-store-uri",
        uri,
        "--workers",
        "1",
    ]
    if artifacts:
        cmd += ["--artifacts-destination", artifacts]
    if app_name:
        cmd += ["--app-name", app_name]
    return cmd


def server_env() -> dict[str, str]:
    # No background job workers (MLflow 3 starts seven of them by default): not needed here.
    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def start_server(
    uri: str, log_path: Path, host: str = LOCAL, artifacts: str | None = None, timeout: float = 120.0
) -> tuple:
    """Start `mlflow server` over `uri` in its own session (Ctrl-C in the terminal does not reach it, so
    runs can still be marked KILLED), tethered to this process (lifeline: it stops once this process is
    gone, even by SIGKILL); returns (process, http url) once it answers /health."""
    import urllib.request

    port = free_port(host)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            lifeline.tethered(server_command(port, uri, host, artifacts)),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=server_env(),
            start_new_session=True,
        )
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server over {uri} exited with code {proc.returncode}: see {log_path}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"mlflow server over {uri} did not answer within {timeout:.0f}s: see {log_path}")


def stop_server(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its uvicorn child
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
