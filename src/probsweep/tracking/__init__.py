"""Everything MLflow, split by job; the only package that imports mlflow. Model and data code hand it plain values.

    store      where runs are stored: the URI, the SQLite file and its creation lock, the experiment
    runs       a run's life (FINISHED, FAILED or KILLED) and what it records: tags, params, metrics, artifacts
    artifacts  reading a run's artifacts back
    served     the served model: pyfunc, registry alias, loading
    server     the `mlflow server` subprocess (`make ui`, `make server`, a distributed sweep's own server)

Call sites use `from probsweep import tracking; tracking.setup(...)`: every name is re-exported here.
"""

from probsweep.tracking.artifacts import read_artifact
from probsweep.tracking.runs import (
    Stopped,
    child_runs,
    end_stale_runs,
    finished_metrics,
    get_run,
    git_commit,
    kill_run,
    log_artifacts,
    log_config,
    log_dataset,
    log_metrics,
    log_params,
    run,
    run_exists,
    running_sweep,
    set_tags,
)
from probsweep.tracking.served import ServedModel, load_served_model, log_served_model
from probsweep.tracking.server import LOCAL, free_port, server_command, server_env, start_server, stop_server
from probsweep.tracking.store import STORE_DIR, resolve_uri, setup, sqlite_path

__all__ = [
    "LOCAL",
    "STORE_DIR",
    "ServedModel",
    "Stopped",
    "child_runs",
    "end_stale_runs",
    "finished_metrics",
    "free_port",
    "get_run",
    "git_commit",
    "kill_run",
    "load_served_model",
    "log_artifacts",
    "log_config",
    "log_dataset",
    "log_metrics",
    "log_params",
    "log_served_model",
    "read_artifact",
    "resolve_uri",
    "run",
    "run_exists",
    "running_sweep",
    "server_command",
    "server_env",
    "set_tags",
    "setup",
    "sqlite_path",
    "start_server",
    "stop_server",
]
