"""A run's life and what it records: open, reopen and end runs (FINISHED, FAILED or KILLED), their tags,
params, metrics, datasets and artifacts; find a sweep's runs."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from probsweep.config import PROJECT_ROOT, flatten


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
