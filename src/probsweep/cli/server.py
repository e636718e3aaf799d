"""`make server` (and `make ui`): the MLflow tracking server that workers of a distributed sweep write to.

    make server                                   # the SQLite store under mlruns/, on 127.0.0.1:5000
    make server SERVER_HOST=10.0.0.5 SERVER_ARGS="--backend-store-uri postgresql+psycopg://mlflow:PW@db/mlflow \\
                --artifacts-destination /shared/mlflow-artifacts --app-name basic-auth"

It is the single writer of its store: workers talk to it over HTTP (MLFLOW_TRACKING_URI=http://HOST:PORT).
"""

from __future__ import annotations

import argparse
import os
import sys

from probsweep.config import ConfigError
from probsweep.tracking.server import LOCAL, free_port, server_command, server_env
from probsweep.tracking.store import resolve_uri

from . import command


def serve(args: argparse.Namespace, banner: str = "MLflow tracking server") -> None:
    """Replace this process by `mlflow server` (tracking.server_command: the one command for ui and server)."""
    port = args.port or free_port(args.host)
    uri = args.backend_store_uri or resolve_uri(None)
    if uri.startswith(("http://", "https://")):
        raise ConfigError(
            f"MLFLOW_TRACKING_URI={uri} is a server already: pass --backend-store-uri "
            "(sqlite:///... or postgresql+psycopg://...)"
        )
    shown = uri.split("@")[-1] if "@" in uri else uri  # no password on the terminal
    print(f"{banner}: http://{args.host}:{port}   (store: {shown}; Ctrl-C stops it)", flush=True)
    print(
        "  a sweep: open its experiment (named after sweep.name), then 'Training runs'; expand the parent "
        "run for its trials",
        flush=True,
    )
    os.execve(
        sys.executable, server_command(port, uri, args.host, args.artifacts_destination, args.app_name), server_env()
    )


def make_parser(prog: str, description: str, store_options: bool = True) -> argparse.ArgumentParser:
    """`make server`'s options; `make ui` has only --port (always 127.0.0.1, the project's store)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 5000)), help="0 picks a free port")
    parser.set_defaults(host=LOCAL, backend_store_uri=None, artifacts_destination=None, app_name=None)
    if store_options:
        parser.add_argument(
            "--host", default=LOCAL, help="address to listen on (default 127.0.0.1; another one exposes the store)"
        )
        parser.add_argument("--backend-store-uri", help="default: the SQLite store under mlruns/")
        parser.add_argument("--artifacts-destination", help="default: mlruns/artifacts beside SQLite")
        parser.add_argument("--app-name", choices=["basic-auth"], help="basic-auth: users and passwords")
    return parser


parser = make_parser("probsweep server", (__doc__ or "").splitlines()[0])


@command(parser)
def main(args: argparse.Namespace) -> None:
    serve(args)


if __name__ == "__main__":
    main()
