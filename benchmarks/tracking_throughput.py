"""Per-epoch `log_batch` calls per second from K concurrent writers, through an MLflow server over
SQLite and over PostgreSQL, with every metric counted back from the store.

    .venv/bin/python benchmarks/tracking_throughput.py [--writers 2 8] [--epochs 40] [--metrics 20]

Each writer is a process (like a worker) that opens one run and logs `--epochs` batches of
`--metrics` metrics (one per epoch, step = epoch), as a trial's EpochLogger does. Afterwards every
run's metric histories are read back: lost or duplicated values are counted (both must be 0).
The PostgreSQL cluster is a real throwaway one (tests/pgcluster.py).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))


def writer(url: str, experiment_id: str, epochs: int, metrics: int, barrier, out) -> None:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(url)
    run_id = client.create_run(experiment_id).info.run_id
    barrier.wait()
    t0 = time.time()
    for step in range(1, epochs + 1):
        ts = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(f"m{k}", step + k / 100, ts, step) for k in range(metrics)])
    t1 = time.time()
    client.set_terminated(run_id)
    out.put((run_id, t0, t1))


def measure(url: str, k: int, epochs: int, metrics: int, name: str) -> dict:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(url)
    experiment_id = client.create_experiment(name)
    ctx = mp.get_context("spawn")
    out, barrier = ctx.Queue(), ctx.Barrier(k)
    procs = [ctx.Process(target=writer, args=(url, experiment_id, epochs, metrics, barrier, out)) for _ in range(k)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    wall = max(r[2] for r in results) - min(r[1] for r in results)
    lost = dup = 0
    for run_id, _, _ in results:
        for m in range(metrics):
            steps = [x.step for x in client.get_metric_history(run_id, f"m{m}")]
            lost += len(set(range(1, epochs + 1)) - set(steps))
            dup += len(steps) - len(set(steps))
    return {"calls": k * epochs, "wall": wall, "lost": lost, "dup": dup}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writers", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--metrics", type=int, default=20)
    args = parser.parse_args()
    from pgcluster import throwaway_cluster
    from probsweep import tracking

    print(
        f"log_batch of {args.metrics} metrics per call, {args.epochs} calls per writer, one process per writer, "
        f"{os.cpu_count()} cores, loopback"
    )
    print(f"{'store':>10} {'writers':>8} {'calls':>6} {'wall s':>7} {'calls/s':>8} {'lost':>5} {'dup':>4}")
    with tempfile.TemporaryDirectory() as tmp, throwaway_cluster() as pg:
        stores = {"sqlite": f"sqlite:///{Path(tmp) / 'mlflow.db'}", "postgresql": pg}
        for label, uri in stores.items():
            server, url = tracking.start_server(uri, Path(tmp) / f"{label}.log", artifacts=str(Path(tmp) / "art"))
            try:
                for k in args.writers:
                    r = measure(url, k, args.epochs, args.metrics, f"bench-{k}")
                    print(
                        f"{label:>10} {k:>8} {r['calls']:>6} {r['wall']:>7.1f} {r['calls'] / r['wall']:>8.1f} "
                        f"{r['lost']:>5} {r['dup']:>4}",
                        flush=True,
                    )
            finally:
                tracking.stop_server(server)
            locked = "database is locked" in (Path(tmp) / f"{label}.log").read_text()
            print(f"{'':>10} server log mentions 'database is locked': {locked}")


if __name__ == "__main__":
    main()
