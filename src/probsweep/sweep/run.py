"""run_sweep(cfg): Keras Tuner over the configured space, every trial a nested MLflow run under one parent.

Run (or resume) the sweep, then write the comparison table, sweeps/<name>/best.yaml and the report.
The distributed sweep (sweep/launch.py) shares every step here except who runs the trials.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from probsweep import tracking
from probsweep.config import ConfigError, flatten, parent_run_id, validate
from probsweep.config import sweep_dir as sweep_dir_of
from probsweep.data.loading import Dataset, load_dataset
from probsweep.report import tables as reporting
from probsweep.report.decision import Decision, decide, from_tags
from probsweep.report.page import build_report, sweep_table
from probsweep.report.summary import format_summary, summary_lines
from probsweep.sweep import space as search
from probsweep.sweep.tuner import SweepTuner, check_declarable, space_summary
from probsweep.train.model import body_arguments
from probsweep.train.tracked import dataset_name, tracked_baseline


def checked(cfg: DictConfig) -> tuple[DictConfig, list[search.Entry]]:
    """The validated config and its search space, or a ConfigError before anything starts."""
    cfg = search.without_unavailable(validate(cfg))
    entries = search.check_search(cfg)
    check_declarable(entries)
    body_arguments(cfg.model)  # a model._target_ that cannot be built fails here, not in every trial
    for e in entries:  # and so does every family a `choice` in the space can pick
        for label, keys in (e.bundles or {}).items():
            if "model._target_" in keys:
                try:
                    body_arguments(search.apply(cfg, {e.name: label}, [e], check=False).model)
                except ConfigError as exc:
                    raise ConfigError(f"search.space.{e.name}.choice.{label}: {exc}") from None
    return cfg, entries


def fit_space(entries: list[search.Entry], data: Dataset, cfg: DictConfig) -> list[search.Entry]:
    """Pretrained vectors fix model.embed_dim: it leaves the search space."""
    if data.embedding_matrix is not None and any(e.name == "model.embed_dim" for e in entries):
        print(f"pretrained vectors fix model.embed_dim={cfg.model.embed_dim}: left out of the search space")
        return [e for e in entries if e.name != "model.embed_dim"]
    return entries


def prepare_dir(cfg: DictConfig) -> Path:
    sweep_dir = sweep_dir_of(cfg.sweep)
    if cfg.sweep.restart and sweep_dir.exists():
        shutil.rmtree(sweep_dir)
    search.check_unchanged(cfg.search, sweep_dir / "search.yaml", cfg.sweep.name)
    return sweep_dir


@contextmanager
def parent_run(
    cfg: DictConfig, entries: list[search.Entry], data: Dataset, experiment_id: str, sweep_dir: Path
) -> Iterator[str]:
    """The sweep's one parent run, reopened on resume (its id lives in sweeps/<name>/parent_run_id)."""
    resume_id = parent_run_id(sweep_dir)
    resume_id = resume_id if resume_id and tracking.run_exists(resume_id) else None
    if not resume_id:  # a parent left RUNNING by a start killed before it wrote parent_run_id
        tracking.end_stale_runs(experiment_id, "tags.kind = 'sweep'")
    else:
        print(f"resuming sweep '{cfg.sweep.name}' (parent run {resume_id}); finished trials are kept")
    with tracking.run(
        experiment_id, name=cfg.sweep.name, tags={"kind": "sweep", "sweep": cfg.sweep.name}, run_id=resume_id
    ) as parent:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / "parent_run_id").write_text(parent)
        if not resume_id:
            sweep_keys = ("tuner.", "search.objective", "search.direction", "sweep.")
            swept = {k: v for k, v in flatten(cfg).items() if k.startswith(sweep_keys)}
            tracking.log_params(parent, {**swept, **space_summary(entries)})
            tracking.log_artifacts(
                parent, {"search_space.yaml": OmegaConf.to_yaml(cfg.search), "base_config.yaml": OmegaConf.to_yaml(cfg)}
            )
            tracking.log_dataset(parent, data.frame, name=dataset_name(cfg.data), fingerprint=data.fingerprint)
        search.store(cfg.search, sweep_dir / "search.yaml")
        yield parent


def write_best_yaml(cfg: DictConfig, tuner: SweepTuner, decision: Decision, sweep_dir: Path) -> Path | None:
    """sweeps/<name>/best.yaml: the configuration of what the decision hands over (a trial's, or the base
    config for the baseline), which `make best` retrains."""
    row = decision.handed_over
    if row is None:
        return None
    if decision.kind == "trial":
        trial = tuner.oracle.get_trial(str(row["trial_id"]))
        chosen = tuner.trial_config(dict(trial.hyperparameters.values))
        what = f"trial {row['trial']}"
    else:
        chosen, what = cfg, "the linear baseline"
    path = sweep_dir / "best.yaml"
    header = (
        f"# Handed over by sweep '{cfg.sweep.name}': {what} (MLflow run {row['run_id']}),\n"
        f"# {cfg.search.objective}={reporting.fmt(row.get(cfg.search.objective), '.5f')}. Why: {decision.reason}.\n"
        f"# Retrain and register it: make best SWEEP={cfg.sweep.name}\n"
    )
    path.write_text(header + OmegaConf.to_yaml(chosen, resolve=True))
    return path


def finish(
    cfg: DictConfig, entries: list[search.Entry], tuner: SweepTuner, experiment_id: str, parent: str, sweep_dir: Path
) -> None:
    """After the last trial: the comparison table and the one decision (tags on the parent run), best.yaml
    for what is handed over, the report; then print them."""
    objective, direction = cfg.search.objective, cfg.search.direction
    table, _ = sweep_table(experiment_id, parent, [e.name for e in entries], objective, direction)
    shown = reporting.comparison_table(
        tracking.child_runs(experiment_id, parent), [e.name for e in entries], objective, direction
    )
    tracking.log_artifacts(parent, {"comparison.csv": shown})
    decision = decide(table, objective, direction)  # decided once, here; everything after reads the tags
    tracking.set_tags(parent, decision.tags())
    if decision.best is not None:
        tracking.log_metrics(parent, {f"best_{objective}": float(decision.best[objective])})
    best_path = write_best_yaml(cfg, tuner, decision, sweep_dir)
    report_path = build_report(experiment_id, parent, sweep_dir / "report")
    tracking.log_artifacts(parent, {"report/index.html": report_path})
    recorded = from_tags(tracking.get_run(parent).data.tags, table, objective, direction)  # as the others read it
    print("\n" + reporting.format_table(shown))
    if best_path:
        print(f"\nbest config: {best_path}   retrain and register it: make best SWEEP={cfg.sweep.name}")
    print(f"report: {report_path}   (rebuild it from MLflow: make report SWEEP={cfg.sweep.name})")
    print(f"the trials in the MLflow UI (after `make ui`): {tracking.runs_link(experiment_id)}")
    better = "lower" if direction == "min" else "higher"
    print(f"\nDecision of sweep '{cfg.sweep.name}' ({objective} on validation, {better} is better):")
    print(format_summary(summary_lines(recorded, table, cfg.sweep.name)), flush=True)


def run_sweep(cfg: DictConfig) -> str:
    """Run (or resume) the sweep in this process; returns the parent run id."""
    cfg, entries = checked(cfg)
    sweep_dir = prepare_dir(cfg)
    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    entries = fit_space(entries, data, cfg)
    experiment_id = tracking.setup(cfg.tracking.uri, cfg.sweep.name)
    with parent_run(cfg, entries, data, experiment_id, sweep_dir) as parent:
        if cfg.search.baseline:
            baseline_run(cfg, data, experiment_id, parent)
        tuner = SweepTuner(cfg, entries, data, experiment_id, parent, sweep_dir, overwrite=False)
        tuner.search(verbose=1)
        finish(cfg, entries, tuner, experiment_id, parent, sweep_dir)
    return parent


def baseline_run(cfg: DictConfig, data, experiment_id: str, parent: str) -> None:
    """The linear baseline as the parent's first child run; a resumed sweep keeps a finished one."""
    runs = tracking.child_runs(experiment_id, parent)
    if "tags.kind" in runs and ((runs["tags.kind"] == "baseline") & (runs["status"] == "FINISHED")).any():
        return
    tracking.end_stale_runs(experiment_id, f"tags.kind = 'baseline' and tags.`mlflow.parentRunId` = '{parent}'")
    with tracking.run(
        experiment_id, name="baseline", tags={"kind": "baseline", "sweep": cfg.sweep.name}, parent_run_id=parent
    ) as run_id:
        tracked_baseline(cfg, data, run_id)
