"""One worker of a distributed sweep: asks the chief for trials and runs them, each a nested run.

Started by the launcher (make sweep WORKERS=N) or by hand on another host (make worker). It needs
the chief's address (KERASTUNER_ORACLE_IP/PORT, or sweep.oracle_host/oracle_port) and the tracking
server (MLFLOW_TRACKING_URI). It loads the data itself and refuses to run on data that differs
from the sweep's (the parent run's data fingerprint).
"""

from __future__ import annotations

import os
import socket

from omegaconf import DictConfig

from probsweep import tracking
from probsweep.config import ConfigError, sweep_dir
from probsweep.data.loading import load_dataset
from probsweep.sweep.run import checked, fit_space
from probsweep.sweep.tuner import Recycle, SweepTuner

RECYCLED = 3  # exit code of a worker that ran its sweep.trials_per_worker trials: the launcher starts a fresh one


def chief_address(sw: DictConfig) -> None:
    """Keras Tuner reads the chief's address and this worker's ID from the environment."""
    os.environ.setdefault("KERASTUNER_ORACLE_IP", sw.oracle_host)
    if "KERASTUNER_ORACLE_PORT" not in os.environ:
        if not sw.oracle_port:
            raise ConfigError(
                "a worker needs the chief's port: pass sweep.oracle_port=<port> (the chief prints it) "
                "and sweep.oracle_host=<its address>"
            )
        os.environ["KERASTUNER_ORACLE_PORT"] = str(sw.oracle_port)
    os.environ.setdefault("KERASTUNER_TUNER_ID", f"worker-{socket.gethostname()}-{os.getpid()}")
    if "chief" in os.environ["KERASTUNER_TUNER_ID"]:
        raise ConfigError("KERASTUNER_TUNER_ID must not contain 'chief' (Keras Tuner would make this worker a chief)")


def set_threads() -> int:
    """TF intra- and inter-op threads: the launcher's share of the cores (PROBSWEEP_THREADS), else all."""
    import tensorflow as tf

    n = int(os.environ.get("PROBSWEEP_THREADS") or 0) or (os.cpu_count() or 1)
    tf.config.threading.set_intra_op_parallelism_threads(n)
    tf.config.threading.set_inter_op_parallelism_threads(n)
    return n


def run_worker(cfg: DictConfig) -> int:
    """Run trials until the chief has none left (returns 0) or sweep.trials_per_worker are done (RECYCLED)."""
    cfg, entries = checked(cfg)  # the launcher is watched from the start of the process (cli/worker.py)
    chief_address(cfg.sweep)
    me = os.environ["KERASTUNER_TUNER_ID"]
    threads = set_threads()  # before TensorFlow runs its first op
    uri = tracking.resolve_uri(cfg.tracking.uri)
    if uri.startswith("sqlite:"):
        raise ConfigError(
            "a worker writes through the tracking server, never to a SQLite file: set "
            "MLFLOW_TRACKING_URI=http://<server host>:<port> (make server)"
        )
    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    entries = fit_space(entries, data, cfg)
    experiment_id = tracking.setup(uri, cfg.sweep.name)
    parent = os.environ.get("PROBSWEEP_PARENT_RUN_ID") or tracking.running_sweep(experiment_id)
    if not parent:
        raise ConfigError(
            f"no running sweep '{cfg.sweep.name}' at {uri}: start the chief first, with the same "
            "sweep.name and MLFLOW_TRACKING_URI"
        )
    theirs = tracking.get_run(parent).data.tags.get("data_fingerprint")
    if theirs != data.fingerprint:
        raise ConfigError(
            f"{me}: this worker's data (fingerprint {data.fingerprint[:12]}) is not the sweep's "
            f"({str(theirs)[:12]}, parent run {parent}): give every worker the same data file at "
            "data.path and the same data.* and seed overrides as the chief"
        )
    tuner = SweepTuner(cfg, entries, data, experiment_id, parent, sweep_dir(cfg.sweep), overwrite=False)
    print(
        f"[{me}] joined sweep '{cfg.sweep.name}' (chief {os.environ['KERASTUNER_ORACLE_IP']}:"
        f"{os.environ['KERASTUNER_ORACLE_PORT']}, {threads} TF threads)",
        flush=True,
    )
    try:
        tuner.search(verbose=1)
    except Recycle as done:
        print(
            f"[{me}] {done}: this process ends, a fresh one takes the next trial (sweep.trials_per_worker)", flush=True
        )
        return RECYCLED
    print(f"[{me}] no trials left: done", flush=True)
    return 0
