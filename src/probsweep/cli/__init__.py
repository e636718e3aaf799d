"""Thin command-line entry points: each composes the config and calls one job.

Every entry point is a `main` made by the one decorator `command`, so `probsweep train`,
`python -m probsweep train` and `python -m probsweep.cli.train` behave alike: the same one-line
error for a bad override or bad input (exit 2), and SIGTERM handled like Ctrl-C (exit 130).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import runpy
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

# Hydra's detail lines, useful in a debugger, noise on a terminal.
_DETAIL = ("full_key:", "reference_type=", "object_type=", "Set the environment variable HYDRA_FULL_ERROR")
WHERE_KEYS = "Keys and allowed values: src/probsweep/config.py and src/probsweep/conf/"


def check_overrides(argv: list[str]) -> None:
    """Compose once before Hydra does, so a bad override ends in one line (exit 2), not Hydra's five."""
    if any(a.startswith("-") for a in argv):  # --help, --cfg, -m: Hydra's own flags
        return
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from probsweep.config import CONF_DIR, register

    register()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            compose(config_name="config", overrides=argv)
    except (HydraException, OmegaConfBaseException) as exc:
        text = f"{exc}\n{exc.__cause__ or ''}".split("Config search path:")[0]
        lines = [
            ln.strip().rstrip(".:") for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(_DETAIL)
        ]
        print(f"error: {'; '.join(dict.fromkeys(lines))}. {WHERE_KEYS}", file=sys.stderr)
        sys.exit(2)


def friendly_errors(job: Callable[[], Any]) -> None:
    """Known bad input ends with one line and exit code 2; SIGTERM behaves like Ctrl-C."""
    from probsweep.config import ConfigError  # data.DataError is a ConfigError too

    def on_term(signum, frame):  # so `kill` ends MLflow runs as KILLED, like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        job()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: the run is recorded in MLflow as KILLED", file=sys.stderr)
        sys.exit(130)


def command(parser: argparse.ArgumentParser | None = None) -> Callable[[Callable[[Any], Any]], Callable[..., None]]:
    """The one decorator of every entry point: `@command()` above `def main(cfg)`, or
    `@command(parser)` above `def main(args)`.

    Without a parser, Hydra composes conf/ with the command line's overrides (checked first, so a bad
    one ends in one line) and the job gets the config; with one, it gets the parsed arguments. The
    job runs under `friendly_errors`. The result is `main(argv=None)`: argv defaults to sys.argv[1:].
    """

    def decorate(job: Callable[[Any], Any]) -> Callable[..., None]:
        @functools.wraps(job)
        def main(argv: Sequence[str] | None = None) -> None:
            args = list(sys.argv[1:] if argv is None else argv)
            if parser is not None:
                parsed = parser.parse_args(args)
                friendly_errors(lambda: job(parsed))
                return
            import hydra

            from probsweep.config import CONF_DIR, register

            register()
            check_overrides(args)
            sys.argv = [sys.argv[0], *args]  # Hydra reads its overrides from sys.argv

            @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
            def composed(cfg: Any) -> None:
                friendly_errors(lambda: job(cfg))

            composed()

        return main

    return decorate


COMMANDS = ("train", "sweep", "worker", "server", "best", "predict", "report", "ui", "encoder")


def main() -> None:
    """`probsweep <command> [args]` (and `python -m probsweep`): runs `python -m probsweep.cli.<command> [args]`."""
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(
            f"usage: probsweep {{{','.join(COMMANDS)}}} [args]   e.g. probsweep train model.activation=softmax",
            file=sys.stderr,
        )
        sys.exit(2)
    command_name = sys.argv.pop(1)
    module = f"probsweep.cli.{command_name}"
    if importlib.util.find_spec(module) is None:
        print(
            f"error: `probsweep {command_name}` is not in this version of probsweep (no module {module})",
            file=sys.stderr,
        )
        sys.exit(2)
    sys.argv[0] = f"probsweep {command_name}"
    runpy.run_module(module, run_name="__main__", alter_sys=True)
