"""Thin command-line entry points: each composes the config and calls one job."""
from __future__ import annotations

import signal
import sys
from typing import Callable, List

# Hydra's detail lines, useful in a debugger, noise on a terminal.
_DETAIL = ("full_key:", "reference_type=", "object_type=", "Set the environment variable HYDRA_FULL_ERROR")


def check_overrides(argv: List[str]) -> None:
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
        lines = [ln.strip().rstrip(".:") for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(_DETAIL)]
        print(f"error: {'; '.join(dict.fromkeys(lines))}. Keys and allowed values: conf/ and src/probsweep/config.py",
              file=sys.stderr)
        sys.exit(2)


def friendly_errors(job: Callable[[], None]) -> None:
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
