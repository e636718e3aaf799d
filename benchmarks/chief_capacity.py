"""How many trial requests one chief serves, and so how many workers it can feed.

    .venv/bin/python benchmarks/chief_capacity.py [--workers 8 16] [--trials 1500] [--seconds 30]

The chief's real oracle (random search over the smoke space, with trial leases) served over gRPC
on loopback, as a distributed sweep serves it; fake workers (processes with Keras Tuner's own
OracleClient) train nothing: each asks for a trial, reports E epochs (the lease renewals), reports
the result and ends it, in a loop. Bounded by --trials and --seconds. Prints RPCs/s and trials/s,
then how many concurrent workers one chief can feed at a given trial length (it is busy a fraction
1/capacity of a second per trial cycle: workers = capacity x trial length, at 100% chief load).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

EPOCHS = 8  # lease renewals per trial: a default-sweep trial trains 1 to 32 epochs


def fake_worker(port: int, tuner_id: str, seconds: float, barrier, out: mp.Queue) -> None:
    os.environ.update(KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port), KERASTUNER_TUNER_ID=tuner_id)
    from keras_tuner.src.distribute.oracle_client import OracleClient
    from keras_tuner.src.engine.trial import TrialStatus

    from probsweep.sweep.chief import lease_report

    client = OracleClient(None)
    client.get_space()  # connected
    trials = rpcs = 0
    barrier.wait()  # every fake worker is up: the clock starts for all at once
    t0 = time.time()
    deadline = t0 + seconds
    while time.time() < deadline:
        trial = client.create_trial(tuner_id)
        rpcs += 1
        if trial.status == TrialStatus.STOPPED:
            break
        if trial.status == TrialStatus.IDLE:
            time.sleep(0.05)
            continue
        for e in range(1, EPOCHS + 1):
            client.update_trial(trial.trial_id, lease_report(tuner_id, e), step=e)
        client.update_trial(trial.trial_id, {"val_brier": 0.5 + 0.001 * trials}, step=EPOCHS)
        trial.status = TrialStatus.COMPLETED
        client.end_trial(trial)
        rpcs += EPOCHS + 2
        trials += 1
    out.put((trials, rpcs, t0, time.time()))


def measure(n_workers: int, max_trials: int, seconds: float) -> dict:
    from omegaconf import OmegaConf

    from conftest import compose_config
    from probsweep.sweep import space as search
    from probsweep.sweep.chief import serve
    from probsweep.sweep.tuner import make_oracle

    cfg = compose_config(["search=smoke", f"tuner.max_trials={max_trials}"])
    oracle = make_oracle(cfg.tuner, "val_brier", "min", chief=True)
    oracle.announce = lambda line: None
    with tempfile.TemporaryDirectory() as tmp:
        oracle._set_project_dir(tmp, "chief")
        hp = oracle.get_space()
        search.declare(hp, search.parse(OmegaConf.create(cfg.search.space)))
        oracle.update_space(hp)
        server, _, port = serve(oracle, "127.0.0.1", 0)
        ctx = mp.get_context("spawn")
        out, barrier = ctx.Queue(), ctx.Barrier(n_workers)
        procs = [
            ctx.Process(target=fake_worker, args=(port, f"fake-{i}", seconds, barrier, out)) for i in range(n_workers)
        ]
        for p in procs:
            p.start()
        results = [out.get() for _ in procs]
        wall = max(r[3] for r in results) - min(r[2] for r in results)
        for p in procs:
            p.join()
        server.stop(None)
        n_saved = len(list(Path(tmp, "chief").glob("trial_*")))
    trials, rpcs = sum(r[0] for r in results), sum(r[1] for r in results)
    assert trials == n_saved == min(max_trials, n_saved), (trials, n_saved)
    return {"workers": n_workers, "trials": trials, "rpcs": rpcs, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--trials", type=int, default=1500)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(f"fake workers, {EPOCHS} lease renewals per trial, random oracle, loopback, {os.cpu_count()} cores")
    print(f"{'workers':>8} {'trials':>7} {'wall s':>7} {'trials/s':>9} {'RPC/s':>7}")
    best = 0.0
    for n in args.workers:
        r = measure(n, args.trials, args.seconds)
        rate = r["trials"] / r["wall"]
        best = max(best, rate)
        print(f"{n:>8} {r['trials']:>7} {r['wall']:>7.1f} {rate:>9.1f} {r['rpcs'] / r['wall']:>7.0f}", flush=True)
    print(f"\none chief completes up to {best:.1f} trial cycles/s ({EPOCHS + 3} RPCs each).")
    for length in (10, 60, 600):
        print(f"  trials of {length:>3} s: up to ~{best * length:,.0f} concurrent workers at 100% chief load")


if __name__ == "__main__":
    main()
