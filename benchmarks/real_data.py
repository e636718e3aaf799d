"""The model families on real data: `search=tune` on a user's CSV, per family and against the baseline.

Runs the default tuning sweep (conf/search/tune.yaml: the family is a hyperparameter) on `--data`
(default ../shared/data/hwu64.csv, HWU64: 64 intents, CC BY 4.0), in a throwaway MLflow store, exactly
as a user would (`data=file`, the file's own split column when it has one), then prints, per family,
its best trial's validation accuracy, test accuracy, calibrated test ECE, epochs and the family's
wall time, then the linear baseline's figures, which model `make best` would hand over and the
sweep's wall time (start-up, featurising and the baseline included). docs/families.md records it.

    PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/real_data.py [--data F.csv] [--trials N]
        [--families ngram,cnn] [overrides ...]

`--families ngram` keeps only those choices of search.space.family (e.g. the ngram family alone);
`--trials` sets tuner.max_trials; any other argument is a Hydra override (e.g. data=intents, which
replaces --data by the generated 150-intent stand-in).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pandas as pd  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from probsweep.config import CONF_DIR, register  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hwu64.csv"
COLUMNS = ["family", "trials", "val_accuracy", "test_accuracy", "test_ece_calibrated", "epochs", "wall_s"]


def overrides_for(data: str, extra: list[str]) -> list[str]:
    """`data=file` on the CSV, with its split column if it has one; nothing when `extra` picks a data option."""
    if any(o.startswith("data=") for o in extra):
        return []
    header = pd.read_csv(data, nrows=0).columns
    return ["data=file", f"data.path={data}", *(["data.split_column=split"] if "split" in header else [])]


def family_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Per family, the best finished trial on val_accuracy, with the family's trials and wall time."""
    trials = runs[(runs["tags.kind"] == "trial") & (runs["status"] == "FINISHED")].copy()
    trials["family"] = trials.get("params.family", trials.get("params.resolved.family"))
    trials["wall_s"] = (trials["end_time"] - trials["start_time"]).dt.total_seconds()
    rows = []
    for family, group in trials.groupby("family"):
        top = group.sort_values("metrics.val_accuracy", ascending=False).iloc[0]
        epochs = (
            f"{top.get('metrics.best_epoch', float('nan')):.0f}/{top.get('metrics.stopped_epoch', float('nan')):.0f}"
        )
        rows.append(
            {
                "family": family,
                "trials": len(group),
                "val_accuracy": top["metrics.val_accuracy"],
                "test_accuracy": top.get("metrics.test_accuracy"),
                "test_ece_calibrated": top.get("metrics.test_ece_calibrated"),
                "epochs": epochs,  # best epoch / epochs trained, of the family's best trial
                "wall_s": group["wall_s"].sum(),  # all of the family's trials
                "trial": top["tags.trial"],  # 1-based, as the trial table and the decision number trials
            }
        )
    return pd.DataFrame(rows).sort_values("val_accuracy", ascending=False)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA.resolve()))
    parser.add_argument("--trials", type=int, default=None, help="tuner.max_trials (default: search=tune's)")
    parser.add_argument("--families", default=None, help="comma-separated search.space.family choices to keep")
    parser.add_argument("--summary", default=None, help="only print the figures of a (stopped) run's store folder")
    args, extra = parser.parse_known_args(argv)
    if args.summary:
        summarise(Path(args.summary), args.data if not extra else " ".join(extra), wall=None)
        return
    tmp = Path(tempfile.mkdtemp(prefix="probsweep-families-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    started = time.perf_counter()
    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=[
                "search=tune",
                *overrides_for(args.data, extra),
                f"sweep.dir={tmp / 'sweeps'}",
                "sweep.name=families",
                "train.verbose=0",
                *([f"tuner.max_trials={args.trials}"] if args.trials else []),
                *extra,
            ],
        )
    if args.families:
        keep = args.families.split(",")
        choice = OmegaConf.to_container(cfg.search.space.family.choice)
        assert isinstance(choice, dict)
        OmegaConf.update(cfg, "search.space.family.choice", {k: choice[k] for k in keep}, merge=False)
    from probsweep.cli.sweep import sweep

    sweep(cfg)
    summarise(
        tmp,
        args.data if not any(o.startswith("data=") for o in extra) else " ".join(extra),
        wall=time.perf_counter() - started,
    )


def summarise(tmp: Path, data: str, wall: float | None) -> None:
    """Per family and the baseline, from the store folder of a run (finished or stopped)."""
    import mlflow

    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    runs = mlflow.search_runs([client.get_experiment_by_name("families").experiment_id])
    table = family_rows(runs)
    base = runs[(runs["tags.kind"] == "baseline") & (runs["status"] == "FINISHED")]
    print(f"\ndata: {data}  store: {tmp}")
    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        print(table.to_string(index=False))
    if len(base):
        b = base.iloc[0]
        print(
            f"baseline (TF-IDF + logistic regression): val_accuracy {b['metrics.val_accuracy']:.4f}  "
            f"test_accuracy {b['metrics.test_accuracy']:.4f}  test_ece_calibrated "
            f"{b['metrics.test_ece_calibrated']:.4f}  fit {b['metrics.epoch_seconds']:.1f}s"
        )
    sweep_runs = runs[runs["tags.kind"] == "sweep"]
    if len(sweep_runs):  # the sweep's one recorded decision (report/decision.py), not recomputed here
        tags = sweep_runs.iloc[0]
        kind = tags.get("tags.handed_over_kind")
        trial = tags.get("tags.handed_over_trial")
        handed = "the baseline" if kind == "baseline" else f"trial {trial}"
        found = runs[(runs["tags.kind"] == "trial") & (runs["tags.trial"].astype(str) == str(trial))]
        if kind == "trial" and len(found):
            row = found.iloc[0]
            family = row.get("params.family") or row.get("params.resolved.family")
            handed += f" ({family}: val_accuracy {row['metrics.val_accuracy']:.4f}, test_accuracy "
            handed += (
                f"{row['metrics.test_accuracy']:.4f}, calibrated test ECE {row['metrics.test_ece_calibrated']:.4f})"
            )
        print(f"the sweep hands over: {handed}: {tags.get('tags.handed_over_reason')}")
    if wall is not None:
        print(f"sweep wall time {wall:.0f}s (start-up, featurising and the baseline included), {len(table)} families")


if __name__ == "__main__":
    main(sys.argv[1:])
