"""Thin command-line entry points: each composes the config and calls one job."""
from __future__ import annotations

import signal
import sys
from typing import Callable


def friendly_errors(job: Callable[[], None]) -> None:
    """Known bad input ends with one line and exit code 2; SIGTERM behaves like Ctrl-C."""
    from ..config import ConfigError

    try:
        from ..data import DataError
    except ImportError:  # pragma: no cover
        DataError = ConfigError  # type: ignore

    def on_term(signum, frame):  # so `kill` ends MLflow runs as KILLED, like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        job()
    except (ConfigError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: the run is recorded in MLflow as KILLED", file=sys.stderr)
        sys.exit(130)
