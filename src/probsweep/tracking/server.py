"""The tracking server as a subprocess: one process that writes the store, many clients over HTTP.

`make ui`, `make server` and a distributed sweep's own server all run `server_command`. This module
starts and stops processes; it never calls mlflow itself.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from probsweep import lifeline
from probsweep.tracking.store import sqlite_path

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
