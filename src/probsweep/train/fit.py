"""One training of the seed's model on a data set: plain Keras, no tracking.

Callers (the `train` command, the tuner's trial hook) add their own callbacks.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from probsweep.config import ConfigError, ModelConfig, TrainConfig
from probsweep.data.loading import Dataset
from probsweep.head import Head
from probsweep.probs.metrics import METRICS, OBJECTIVES
from probsweep.train.callbacks import ProbabilityMonitor
from probsweep.train.model import HeadLoss, build_model, compile_model, encode_targets

EVAL_BATCH_CAP = 4096  # rows per inference batch: bounds memory on users' larger data sets


@dataclass
class Trained:
    model: keras.Model
    loss: HeadLoss  # loss.path says which code path the loss took (model.PATH_*)
    monitor: ProbabilityMonitor
    best_epoch: int  # 1-based epoch whose weights the model holds: the last, or early stopping's best

    @property
    def epochs_trained(self) -> int:
        return len(self.monitor.rows)

    @property
    def restored(self) -> bool:
        """True when early stopping put back the weights of an epoch before the last."""
        return self.best_epoch < self.epochs_trained


def seed_everything(seed: int, deterministic: bool) -> None:
    """Python, NumPy and TF seeds; with `deterministic`, TF op determinism too (same seed, same numbers)."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def fit(model_cfg: ModelConfig, train_cfg: TrainConfig, data: Dataset, seed: int,
        callbacks: Sequence[keras.callbacks.Callback] = ()) -> Trained:
    """Build, compile and train; the monitor runs first so later callbacks see its metrics."""
    seed_everything(seed, train_cfg.deterministic)
    model = build_model(model_cfg, data.vocab_size, data.n_classes, data.x_train.shape[1], data.embedding_matrix)
    loss = compile_model(model, model_cfg, train_cfg.learning_rate, train_cfg.jit_compile)
    n = data.n_classes
    val_in_scope = data.y_val >= 0
    head = Head.of(model_cfg)
    monitor = ProbabilityMonitor(data.x_val, data.y_val, head, n_probes=train_cfg.probe_examples,
                                 batch_size=eval_batch(len(data.y_val)))
    es = train_cfg.early_stopping
    # After the monitor, which puts the probability metrics in the epoch's logs. Keras restores the
    # best epoch's weights at the end of training, stopped early or not.
    stopper = keras.callbacks.EarlyStopping(monitor=es.monitor, mode=stopping_direction(es), patience=es.patience,
                                            min_delta=es.min_delta, restore_best_weights=True) if es.enabled else None
    model.fit(
        batches(data.x_train, encode_targets(data.y_train, n, head), train_cfg.batch_size, seed,
                train_cfg.drop_remainder),
        validation_data=(data.x_val[val_in_scope], encode_targets(data.y_val[val_in_scope], n, head)),
        epochs=train_cfg.epochs,
        shuffle=False,  # `batches` reshuffles every epoch itself
        validation_batch_size=eval_batch(len(data.y_val)),
        callbacks=[monitor, *([stopper] if stopper else []), *callbacks],
        verbose=0,
    )
    best = stopper.best_epoch + 1 if stopper and stopper.best_weights is not None else len(monitor.rows)
    return Trained(model=model, loss=loss, monitor=monitor, best_epoch=best)


def stopping_direction(es) -> str:
    """min or max for train.early_stopping: as configured, else the monitored metric's better side."""
    monitor, direction = es["monitor"], es["direction"]
    metric = METRICS.get(monitor)
    direction = direction or (metric.direction if metric else None)
    if metric is None or not metric.per_epoch:
        raise ConfigError(
            f"train.early_stopping.monitor={monitor!r} must be a per-epoch metric: {', '.join(OBJECTIVES)}"
        )
    if direction is None:
        raise ConfigError(f"train.early_stopping.monitor={monitor!r} has no better side: it needs "
                          "train.early_stopping.direction=min or max")
    return direction


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, drop_remainder: bool):
    """Reshuffled every epoch, like `fit(x, y, shuffle=True)`. With `drop_remainder`, each epoch leaves
    out the last partial batch (different rows each time): one batch shape is one XLA compilation
    instead of three (the partial batch, then a relaxed retrace at epoch 3), about 10 s per training."""
    import tensorflow as tf

    drop = drop_remainder and len(x) >= batch_size
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop).prefetch(tf.data.AUTOTUNE)


def eval_batch(n: int) -> int:
    """Evaluate and predict in one batch where it fits: with XLA every distinct batch shape is a
    separate compilation (seconds each), and a split of 1,020 rows in batches of 32 has two shapes."""
    return max(1, min(n, EVAL_BATCH_CAP))


def predict_raw(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return model.predict(x, batch_size=eval_batch(len(x)), verbose=0)
