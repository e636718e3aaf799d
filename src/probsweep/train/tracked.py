"""One tracked training: the same steps for `make train`, every sweep trial and `make best`.

Opens nothing itself: the caller owns the MLflow run and passes its id.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from probsweep import tracking
from probsweep.config import Activation, Loss, counted, flatten, validate
from probsweep.data.features import TOKENS, family_of, features_for
from probsweep.data.loading import Dataset, load_dataset
from probsweep.head import Head
from probsweep.probs import analysis
from probsweep.probs import metrics as prob_metrics
from probsweep.train import baseline
from probsweep.train.baseline import Baseline
from probsweep.train.callbacks import EpochLogger, ProgressLine
from probsweep.train.fit import Trained, fit, process_memory
from probsweep.train.model import HeadLossMismatchWarning, resolve_trainable_embedding

log = logging.getLogger(__name__)
# Logistic regression's outputs are a softmax over the classes.
BASELINE_HEAD = Head(Activation.softmax, Loss.sparse_categorical_crossentropy)


@dataclass
class Outcome:
    trained: Trained
    final: dict[str, float]  # the metrics of the epoch the model holds (the last, or early stopping's best)
    calibrated: dict[str, np.ndarray]  # split -> calibrated probabilities, as the analysis computed them


def model_summary(model: keras.Model) -> str:
    buf = io.StringIO()
    model.summary(print_fn=lambda line, *a, **k: buf.write(line + "\n"), line_length=100)
    return buf.getvalue()


def dataset_name(data_cfg: DictConfig) -> str:
    return "embedded" if data_cfg.source == "embedded" else Path(data_cfg.path).name


def log_inputs(cfg: DictConfig, data: Dataset, run_id: str) -> None:
    """What a run was asked to do: the config (params + config.yaml), the data, the head's tags."""
    tracking.log_config(run_id, cfg)
    tracking.log_dataset(run_id, data.frame, name=dataset_name(cfg.data), fingerprint=data.fingerprint)
    head = Head.of(cfg.model)
    tracking.set_tags(run_id, {"head": head.label, "head_loss_mismatch": str(head.mismatch).lower()})
    # Rows dropped, split sizes, vector coverage: what the data became, beside what was asked for;
    # and what `auto` became for the embedding.
    tracking.log_params(
        run_id,
        {
            **{f"data_report.{k}": v for k, v in data.report.items()},
            "resolved.trainable_embedding": trains_embedding(cfg, data),
            "resolved.family": family_of(cfg.model._target_),  # the builder's name without _body
            # What featurising the data for this body found (sizes): made once per data set, fit reuses it.
            **{f"features.{k}": v for k, v in features_for(data, cfg.model).report.items()},
        },
    )


def trains_embedding(cfg: DictConfig, data: Dataset) -> bool:
    return resolve_trainable_embedding(cfg.model.trainable_embedding, data.embedding_matrix is not None)


def tracked_fit(
    cfg: DictConfig,
    data: Dataset,
    run_id: str,
    prefix: str = "",
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Outcome:
    """Log config, data and head tags; train with per-epoch MLflow logging; log the artifacts."""
    log_inputs(cfg, data, run_id)
    trainable = trains_embedding(cfg, data)
    feats = features_for(data, cfg.model)  # made once per data set and settings; fit reuses them
    if feats.kind == TOKENS:
        print(
            f"{prefix}embedding {'trained' if trainable else 'frozen'} (model.trainable_embedding="
            f"{str(cfg.model.trainable_embedding).lower()}, {'with' if data.embedding_matrix is not None else 'no'} "
            f"pretrained vectors); max_len {data.x_train.shape[1]}",
            flush=True,
        )
    else:
        shown = ", ".join(f"{k} {v}" for k, v in feats.report.items())
        print(f"{prefix}{family_of(cfg.model._target_)} family reads {feats.kind}: {shown}", flush=True)
    rows = len(data.x_train)
    if cfg.train.batch_size > rows:
        print(
            f"{prefix}note: train.batch_size={cfg.train.batch_size} is more than the {counted(rows, 'training row')}: "
            f"each epoch is one batch of {rows:,} (one step); set train.batch_size<={rows} to silence this",
            flush=True,
        )
    head = Head.of(cfg.model)
    if head.mismatch:  # say it before training, not after
        message = head.explain()
        log.warning("%s", message)
        tracking.set_tags(run_id, {"head_loss_mismatch_warning": message})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HeadLossMismatchWarning)  # already said above
        trained = fit(
            cfg.model,
            cfg.train,
            data,
            cfg.seed,
            callbacks=[
                EpochLogger(lambda m, step: tracking.log_metrics(run_id, m, step=step)),
                *extra_callbacks,
                *([ProgressLine(prefix, cfg.train.epochs)] if cfg.train.verbose else []),
            ],
        )
    # Which code path the loss took is only known once Keras has traced it.
    tracking.set_tags(run_id, {"loss_path": trained.loss.path or "unknown"})
    history, probes = trained.monitor.history, trained.monitor.probe_frame()
    best = history.iloc[trained.best_epoch - 1]
    # The monitor kept the last epoch's validation outputs; after early stopping restored an earlier
    # epoch, the model's own outputs are that epoch's (one more pass over validation).
    assert trained.monitor.last_raw is not None, "the monitor keeps the last epoch's outputs"
    raw_val = trained.predict(feats.x_val) if trained.restored else trained.monitor.last_raw
    # Final values at one step past the last epoch when an earlier epoch was restored, as MLflow's
    # Keras autologging does: the run's latest metrics (the trial table, the objective) are the
    # restored epoch's, and the curves keep every epoch trained.
    step = len(history) + trained.restored
    if cfg.train.early_stopping.enabled:
        epochs = {"best_epoch": float(trained.best_epoch), "stopped_epoch": float(trained.epochs_trained)}
        tracking.log_metrics(run_id, epochs, step=step)
        print(
            f"{prefix}early stopping on {cfg.train.early_stopping.monitor}: kept epoch {trained.best_epoch} "
            f"of {trained.epochs_trained}",
            flush=True,
        )
    if trained.restored:
        tracking.log_metrics(run_id, {k: float(v) for k, v in best.items() if k != "epoch"}, step=step)
    has_test = len(data.y_test) > 0
    found = analysis.analyse(
        head,
        raw_val,
        data.y_val,
        raw_test=trained.predict(feats.x_test) if has_test else None,
        y_test=data.y_test if has_test else None,
        loss_path=trained.loss.path,
        history=history,
        probes=probes,
        target_precision=cfg.train.target_precision,
        class_names=data.class_names,
    )
    tracking.log_metrics(run_id, found.metrics, step=step)
    tracking.set_tags(run_id, found.tags)
    tracking.log_artifacts(
        run_id,
        {
            "history.csv": history,
            "model_summary.txt": model_summary(trained.model),
            "probes.csv": probes,
            **found.files,
        },
    )
    tracking.log_metrics(run_id, process_memory(), step=step)  # after the trial: is its memory given back?
    final = {k: float(v) for k, v in best.items() if k != "epoch"}
    if cfg.train.early_stopping.enabled:
        final.update(best_epoch=float(trained.best_epoch), stopped_epoch=float(trained.epochs_trained))
    return Outcome(trained=trained, final={**final, **found.metrics}, calibrated=found.calibrated)


@dataclass
class BaselineOutcome:
    baseline: Baseline
    final: dict[str, float]  # the same keys as a trial's final metrics
    calibrated: dict[str, np.ndarray]


def tracked_baseline(cfg: DictConfig, data: Dataset, run_id: str, prefix: str = "[baseline] ") -> BaselineOutcome:
    """The linear baseline as one run: fitted on the training texts, analysed exactly like a trial.

    Its outputs are a softmax over the classes, so it goes through `analysis.analyse` as
    BASELINE_HEAD; its one "epoch" row carries the same keys as a trial's.
    """
    tracking.log_params(
        run_id,
        {k: v for k, v in flatten(cfg).items() if k.startswith(("data.", "seed", "train.target_precision"))}
        | {f"baseline.{k}": v for k, v in baseline.PARAMS.items()},
    )
    tracking.log_dataset(run_id, data.frame, name=dataset_name(cfg.data), fingerprint=data.fingerprint)
    tracking.log_params(run_id, {f"data_report.{k}": v for k, v in data.report.items()})
    tracking.set_tags(run_id, {"head": f"baseline: {baseline.NAME}", "head_loss_mismatch": "false"})
    train_texts = data.frame.text[data.frame.split == "train"].tolist()  # the rows behind x_train, in order
    print(f"{prefix}fitting {baseline.NAME} on {counted(len(train_texts), 'training text')}", flush=True)
    fitted = baseline.fit_baseline(train_texts, data.y_train, cfg.seed)
    p_train, p_val = fitted.predict_proba(train_texts), fitted.predict_proba(data.texts_val)
    has_test = len(data.y_test) > 0
    p_test = fitted.predict_proba(data.texts_test) if has_test else None
    in_val = data.y_val >= 0
    row = {
        "epoch": 1,
        "accuracy": prob_metrics.accuracy(p_train, data.y_train),
        "loss": prob_metrics.nll(p_train, data.y_train),
        **prob_metrics.probability_metrics(p_val[in_val], data.y_val[in_val], prefix="val_"),
        "epoch_seconds": fitted.fit_seconds,
    }  # the whole fit: a linear model has no epochs
    row["val_loss"] = row["val_nll"]  # the log-loss logistic regression minimises, as Keras's val_loss is the model's
    history = pd.DataFrame([row])
    tracking.log_metrics(run_id, {k: v for k, v in row.items() if k != "epoch"}, step=1)
    found = analysis.analyse(
        BASELINE_HEAD,
        p_val,
        data.y_val,
        raw_test=p_test,
        y_test=data.y_test if has_test else None,
        history=history,
        target_precision=cfg.train.target_precision,
        class_names=data.class_names,
    )
    tracking.log_metrics(run_id, found.metrics, step=1)
    tracking.set_tags(run_id, found.tags)
    tracking.log_artifacts(run_id, {"history.csv": history, "model_summary.txt": repr(fitted.pipeline), **found.files})
    tracking.log_metrics(run_id, process_memory(), step=1)  # as a trial's run: the process after the fit
    final = {k: float(v) for k, v in row.items() if k != "epoch"}
    test = f"  test_acc {found.metrics['test_accuracy']:.4g}" if "test_accuracy" in found.metrics else ""
    print(
        f"{prefix}{baseline.NAME}: val_acc {row['val_accuracy']:.4g}{test}  val_brier {row['val_brier']:.4g}  "
        f"({fitted.fit_seconds:.1f}s)",
        flush=True,
    )
    return BaselineOutcome(fitted, {**final, **found.metrics}, found.calibrated)


def save_model(trained: Trained, data: Dataset, path: str, run_id: str) -> Path | None:
    """The trained model as model.keras (token ids in, compiled with its HeadLoss) and the vectorizer's
    vocabulary.txt beside it: what `probsweep diagnose --model` reads. Both are also artifacts of the run."""
    from probsweep.config import under_project

    if trained.features is not None and trained.features.kind != TOKENS:
        # Its inputs are the family's own features, which vocabulary.txt does not make: not diagnosable this way.
        log.warning(
            "model not saved: `make diagnose --model` reads token-id or raw-string models, not %s",
            trained.features.kind,
        )
        return None
    target = under_project(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        trained.model.save(target)
    except Exception as exc:  # a custom body Keras cannot serialise: the run itself is complete
        log.warning("model not saved to %s (%s): `make diagnose` needs a model Keras can save", target, exc)
        return None
    vocabulary = target.with_name("vocabulary.txt")
    vocabulary.write_text("\n".join(data.vectorizer.get_vocabulary()) + "\n", encoding="utf-8")
    tracking.log_artifacts(run_id, {f"model/{target.name}": target, "model/vocabulary.txt": vocabulary})
    return target


def train_once(cfg: DictConfig) -> str:
    """`make train`: one tracked training of the validated config; prints its final numbers, returns the run id."""
    cfg = validate(cfg)
    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    experiment_id = tracking.setup(cfg.tracking.uri, cfg.tracking.experiment)
    with tracking.run(experiment_id, name=f"train-{Head.of(cfg.model).label}", tags={"kind": "train"}) as run_id:
        outcome = tracked_fit(cfg, data, run_id)
        saved = save_model(outcome.trained, data, cfg.train.save_model, run_id) if cfg.train.save_model else None
    f = outcome.final
    print(
        f"run {run_id} finished: val_accuracy {f['val_accuracy']:.4f}  val_max_prob {f['val_max_prob']:.4f}  "
        f"val_prob_sum {f['val_prob_sum']:.4f}  val_ece {f['val_ece']:.4f}  (loss path {outcome.trained.loss.path})"
    )
    print(f"compare runs in the MLflow UI: make ui   (store: {tracking.resolve_uri(cfg.tracking.uri)})")
    if saved is not None:
        print(f"model saved to {saved}; diagnose it: make diagnose   (or probsweep diagnose --model {saved})")
    return run_id
