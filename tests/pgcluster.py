"""A throwaway PostgreSQL 15 cluster on a free loopback port (tests and benchmarks; never a mock).

PostgreSQL refuses to run as root, so as root the cluster is created and run by the `postgres`
user (`.ci/run` creates it on a fresh machine) in a temporary folder that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def throwaway_cluster(database: str = "mlflow") -> Iterator[str]:
    """Yields a SQLAlchemy URI (postgresql+psycopg://...) of a fresh database; removes everything after."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(
            f"PostgreSQL 15 binaries not found in {PG_BIN} (apt-get install postgresql-15, or set PG_BIN)"
        )
    as_pg: list = []
    folder = Path(tempfile.mkdtemp(prefix="probsweep-pg-"))
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "no 'postgres' user: run .ci/run once (it creates it), or `useradd -r postgres`"
            ) from None
        shutil.chown(folder, "postgres", "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()

    def run(*cmd: object) -> None:
        subprocess.run([*as_pg, *map(str, cmd)], check=True, capture_output=True, cwd=folder)

    try:
        run(PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        opts = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
        run(PG_BIN / "pg_ctl", "-D", data, "-l", folder / "server.log", "-o", opts, "-w", "-t", "60", "start")
        try:
            run(PG_BIN / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", database)
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
        finally:
            run(PG_BIN / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
