"""Thin command-line entry points: each composes the config and calls one job.

Every entry point is a `main` made by the one decorator `command`, so `probsweep train`,
`python -m probsweep train` and `python -m probsweep.cli.train` behave alike: the same one-line
error for a bad override or bad input (exit 2), and SIGTERM handled like Ctrl-C (exit 130).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import runpy
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

# Hydra's detail lines, useful in a debugger, noise on a terminal.
_DETAIL = ("full_key:", "reference_type=", "object_type=", "Set the environment variable HYDRA_FULL_ERROR")
WHERE_KEYS = "Keys and allowed values: src/probsweep/config.py and src/probsweep/conf/"


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _parse(argv: list[str]) -> list[Any]:
    """Hydra's own parse of the overrides; a value it cannot lex (spaces, non-ASCII) gets the quoting hint."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    parsed = []
    for arg in argv:
        try:
            parsed += parser.parse_overrides([arg])
        except OverrideParseException:
            key, eq, value = arg.partition("=")
            if eq and value and not value.startswith(("'", '"', "[", "{")):
                _fail(
                    f"cannot read the override {arg!r}: a value with spaces, non-ASCII letters or other special "
                    f"characters must be quoted for Hydra, inside the shell's quotes: '{key}=\"{value}\"'"
                )
            _fail(f"cannot read the override {arg!r}: write it as key=value (quote a value with spaces: key='a b')")
    return parsed


def check_overrides(argv: list[str], preflight: Callable[[Any], Any] | None = None) -> None:
    """Everything about the command line that needs no data, before TensorFlow, Keras or MLflow load:
    each key (also one added with `+`) against the schema with the nearest valid names, Hydra's
    composition, every range and pairing (config.validate), that the data files exist, and the command's
    own `preflight` checks (a sweep's search space, say). Each failure is one line and exit code 2."""
    if any(a.startswith("-") for a in argv):  # --help, --cfg, -m: Hydra's own flags
        return
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from probsweep.config import CONF_DIR, ConfigError, check_files, register, unknown_key, validate

    groups = {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
    for override in _parse(argv):
        key = override.key_or_group
        if key.split("/")[0] in groups | {"hydra"} or key.startswith("hydra."):
            continue
        problem = unknown_key(key)
        if problem:
            _fail(problem)
    register()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=argv)
    except (HydraException, OmegaConfBaseException) as exc:
        text = f"{exc}\n{exc.__cause__ or ''}".split("Config search path:")[0]
        lines = [
            ln.strip().rstrip(".:") for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(_DETAIL)
        ]
        _fail(f"{'; '.join(dict.fromkeys(lines))}. {WHERE_KEYS}")
    try:
        valid = validate(cfg)
        check_files(valid)
        if preflight is not None:
            preflight(valid)
    except ConfigError as exc:
        _fail(str(exc))


TF_LOGS_ENV = "PROBSWEEP_TF_LOGS"  # =1: let TensorFlow's and absl's start-up logging reach the terminal


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up logging (absl's "All log messages before
    absl::InitializeLog()", oneDNN's notice: written before TF_CPP_MIN_LOG_LEVEL is read) kept off the
    terminal, unless PROBSWEEP_TF_LOGS=1. Python errors of the import still show: they are raised after
    stderr is restored. Call it once the command line is known good."""
    if os.environ.get(TF_LOGS_ENV) == "1" or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # and TensorFlow's own INFO/WARNING lines after start-up
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def compose(overrides: list[str]) -> Any:
    """The validated config for `overrides` (conf/ + the schema), for commands that parse their own flags;
    a bad override ends in one line (exit 2), as for the Hydra commands."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from probsweep.config import CONF_DIR, register, validate

    register()
    check_overrides(overrides)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return validate(hydra_compose(config_name="config", overrides=overrides))


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


def command(
    parser: argparse.ArgumentParser | None = None, preflight: Callable[[Any], Any] | None = None
) -> Callable[[Callable[[Any], Any]], Callable[..., None]]:
    """The one decorator of every entry point: `@command()` above `def main(cfg)`, or
    `@command(parser)` above `def main(args)`. `preflight(cfg)`: the command's own checks of the validated
    config that need no data and no TensorFlow (raising ConfigError), run with check_overrides.

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
            check_overrides(args, preflight)
            sys.argv = [sys.argv[0], *args]  # Hydra reads its overrides from sys.argv

            @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
            def composed(cfg: Any) -> None:
                import_tensorflow_quietly()  # every composed command (train, sweep, worker) trains
                friendly_errors(lambda: job(cfg))

            composed()

        return main

    return decorate


COMMANDS = ("train", "sweep", "worker", "server", "best", "predict", "report", "ui", "diagnose", "encoder")


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
