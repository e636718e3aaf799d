"""Child processes that end when the process that started them is gone, even by SIGKILL.

The launcher starts its tracking server and its workers each in their own session, so that Ctrl-C
reaches the launcher alone and it can stop them in order. A launcher that is SIGKILLed (or killed by
the kernel for memory) runs no cleanup: without this, its workers waited forever on a chief that no
longer answered, and its `mlflow server` lived on, so the next launch started a second server over
the same SQLite file. So each child watches the process that started it:

- a worker (our code) calls `watch_parent(on_gone=...)`: a daemon thread sees the parent's pid go and
  calls `on_gone`, which ends the worker's runs as KILLED (sweep/worker.py: launcher_gone);
- a program that is not ours (`mlflow server`, with its uvicorn child) is started through
  `tethered(cmd)`: `python -m probsweep.lifeline PID -- cmd` runs it in the group it leads and, once
  PID is gone, waits `GRACE` seconds (the workers' runs are marked KILLED through that server), then
  stops the group: SIGTERM, and SIGKILL for what is left after `GRACE` more.

Standard library only: the supervisor starts in a fraction of a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

PARENT_ENV = "PROBSWEEP_PARENT_PID"  # set by the launcher for its workers
GRACE = 15.0  # seconds a server outlives its parent, so workers can still end their runs through it
POLL = 0.5  # seconds between two looks at the parent


def parent_alive(pid: int) -> bool:
    """The process that started us is still there: we were not re-parented (to init or a subreaper)."""
    return os.getppid() == pid


def watch_parent(on_gone: Callable[[], None], pid: int | None = None, poll: float = POLL) -> threading.Thread | None:
    """From now on, call `on_gone` (on a daemon thread) once `pid` is gone.

    `pid` defaults to $PROBSWEEP_PARENT_PID; without either, nothing is watched (a worker started by
    hand on another host). A parent already gone when this is called counts as gone."""
    pid = pid if pid is not None else int(os.environ.get(PARENT_ENV) or 0)
    if not pid:
        return None

    def watch() -> None:
        while parent_alive(pid):
            time.sleep(poll)
        on_gone()

    thread = threading.Thread(target=watch, name="lifeline", daemon=True)
    thread.start()
    return thread


def tethered(cmd: Sequence[str]) -> list[str]:
    """`cmd` run under a supervisor that stops it (and its children) once this process is gone."""
    return [sys.executable, "-m", "probsweep.lifeline", str(os.getpid()), "--", *cmd]


def supervise(parent: int, cmd: Sequence[str], grace: float = GRACE, poll: float = POLL) -> int:
    """Run `cmd` until it exits (its exit code is ours) or `parent` has been gone for `grace` seconds.

    Run as a session leader (Popen(start_new_session=True)): `cmd` and its children share our
    process group, so one killpg reaches them all. A SIGTERM to that group (tracking.stop_server)
    stops `cmd`; this supervisor then returns its exit code, so waiting for us is waiting for it."""
    signal.signal(signal.SIGTERM, lambda *_: None)
    child = subprocess.Popen(list(cmd))
    while child.poll() is None:
        if not parent_alive(parent):
            deadline = time.monotonic() + grace
            while child.poll() is None and time.monotonic() < deadline:
                time.sleep(poll)
            if child.poll() is None:
                stop_group(child, grace)
            break
        time.sleep(poll)
    return child.wait()


def stop_group(child: subprocess.Popen, grace: float) -> None:
    """SIGTERM our process group (supervise ignores it), then SIGKILL what is left after `grace` seconds."""
    os.killpg(0, signal.SIGTERM)
    try:
        child.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(0, signal.SIGKILL)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[1] != "--" or not args[0].isdigit():
        print("usage: python -m probsweep.lifeline PARENT_PID -- command [args]", file=sys.stderr)
        sys.exit(2)
    sys.exit(supervise(int(args[0]), args[2:]))


if __name__ == "__main__":
    main()
