"""`make ui`: the MLflow UI on the project's store, on 127.0.0.1 only (never all interfaces)."""
from __future__ import annotations

import argparse
import os
import socket
import sys

from probsweep.tracking import resolve_uri, sqlite_path

HOST = "127.0.0.1"


def server_command(port: int, uri: str) -> list:
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", HOST, "--port", str(port), "--backend-store-uri", uri,
           "--workers", "1"]
    db = sqlite_path(uri)
    if db is not None:  # where tracking.setup puts artifacts: beside the database
        cmd += ["--default-artifact-root", (db.parent / "artifacts").as_uri()]
    return cmd


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 5000)), help="0 picks a free port")
    args = parser.parse_args(argv)
    port = args.port or free_port()
    uri = resolve_uri(None)
    print(f"MLflow UI: http://{HOST}:{port}   (store: {uri}; Ctrl-C stops it)", flush=True)
    print("  a sweep: open its experiment (named after sweep.name), then 'Training runs'; expand the parent "
          "run for its trials", flush=True)
    # The UI needs no background job workers (MLflow 3 starts seven of them by default).
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    os.execv(sys.executable, server_command(port, uri))


if __name__ == "__main__":
    main(sys.argv[1:])
