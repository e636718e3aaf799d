"""Child processes that end when the process that started them is gone, even by SIGKILL.

The launcher starts its tracking server and its workers each in their own session, so that Ctrl-C
reaches the launcher alone and it can stop them in order. A launcher that is SIGKILLed (or killed by
the kernel for memory) runs no cleanup: without this, its workers waited forever on a chief that no
longer answered, and its `mlflow server` lived on, so the next launch started a second server over
the same SQLite file. So each child watches the process that started it:

- a worker (our code) calls `watch_parent(launcher_gone)` first thing (cli/worker.py, before TensorFlow
  loads): a daemon thread sees the parent's pid go and calls `launcher_gone`, which marks the launcher's
  runs KILLED (the sweep's, and the baseline's if it was being fitted), then ends the worker's own;
- a program that is not ours (`mlflow server`, with its uvicorn child) is started through
  `tethered(cmd)`: `python -m probsweep.lifeline PID -- cmd` runs it in the group it leads and, once
  PID is gone, waits `GRACE` seconds (the workers' runs are marked KILLED through that server), then
  stops the group: SIGTERM, and SIGKILL for what is left after `GRACE` more.

Standard library only at import: the supervisor starts in a fraction of a second (launcher_gone imports
the tracking code when it runs).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

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


def _rest(uri: str, endpoint: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One call of the MLflow tracking server's REST API (api/2.0/mlflow/...): GET without a body, else POST."""
    headers = {"Content-Type": "application/json"}
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"
    elif os.environ.get("MLFLOW_TRACKING_USERNAME"):
        pair = f"{os.environ['MLFLOW_TRACKING_USERNAME']}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}"
        headers["Authorization"] = f"Basic {base64.b64encode(pair.encode()).decode()}"
    request = urllib.request.Request(
        f"{uri.rstrip('/')}/api/2.0/mlflow/{endpoint}",
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"{}")


def end_launcher_runs(uri: str, parent: str) -> int:
    """Mark the launcher's RUNNING runs KILLED through the tracking server at `uri`: the sweep's parent
    run and its baseline run. Standard library only (the REST API, not the mlflow package), so a worker
    still loading TensorFlow does it in well under lifeline.GRACE; returns how many it marked."""
    info = _rest(uri, f"runs/get?run_id={parent}")["run"]["info"]
    now = int(time.time() * 1000)
    stale = [parent] if info["status"] == "RUNNING" else []
    baseline = f"attributes.status = 'RUNNING' and tags.kind = 'baseline' and tags.`mlflow.parentRunId` = '{parent}'"
    found = _rest(
        uri, "runs/search", {"experiment_ids": [info["experiment_id"]], "filter": baseline, "max_results": 100}
    )
    stale += [r["info"]["run_id"] for r in found.get("runs", [])]
    for run_id in stale:
        _rest(uri, "runs/update", {"run_id": run_id, "status": "KILLED", "end_time": now})
    return len(stale)


def launcher_gone() -> None:
    """The launcher that started this worker was killed outright (watch_parent): mark its runs KILLED, as it
    would have (the sweep's, and the baseline's if it was being fitted; a resume reopens the one and refits
    the other), then SIGTERM this process, which ends the trial's run as KILLED and exits. The launcher's
    server outlives it by GRACE seconds for these."""
    me = os.environ.get("KERASTUNER_TUNER_ID", "worker")
    print(f"[{me}] the launcher is gone: this worker stops", flush=True)
    parent, uri = os.environ.get("PROBSWEEP_PARENT_RUN_ID"), os.environ.get("MLFLOW_TRACKING_URI", "")
    if parent and uri.startswith(("http://", "https://")):  # a worker always writes through a server

        def mark() -> None:
            try:
                end_launcher_runs(uri, parent)
            except Exception as exc:  # the server is gone too: the next launch marks them
                print(f"[{me}] could not mark the launcher's runs KILLED ({type(exc).__name__}: {exc})", flush=True)

        marker = threading.Thread(target=mark, daemon=True)
        marker.start()
        marker.join(GRACE * 0.8)  # while the server still answers (it outlives the launcher by GRACE)
    os.kill(os.getpid(), signal.SIGTERM)


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
