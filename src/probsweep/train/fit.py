"""One training of the seed's model on a data set: plain Keras, no tracking.

Callers (the `train` command, the tuner's trial hook) add their own callbacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from probsweep.config import ModelConfig, TrainConfig
from probsweep.data.features import Features, features_for, rows
from probsweep.data.loading import Dataset
from probsweep.head import Head
from probsweep.probs.metrics import stopping_direction
from probsweep.train.callbacks import ProbabilityMonitor
from probsweep.train.model import (
    HeadLoss,
    build_model,
    compile_model,
    encode_targets,
    inference_model,
    with_cached_logits,
)
from probsweep.train.recurrent import fuse_bidirectional

EVAL_BATCH_CAP = 4096  # rows per inference batch: bounds memory on users' larger data sets


class ValidationScorer:
    """One forward pass over validation gives the raw outputs and Keras's val_loss and val_accuracy.

    The inference model returns the logits the loss reads beside the outputs, and the training's own
    HeadLoss scores them, so each head and both mismatch paths get the val_loss Keras's evaluate pass
    would (tests/test_speed.py checks it within 1e-5).
    """

    def __init__(
        self, model: keras.Model, loss: HeadLoss, y_in_scope: np.ndarray, head: Head, n_classes: int, jit_compile: bool
    ):
        self.inference = inference_model(model)
        self.inference.compile(jit_compile=jit_compile)  # XLA for the predict, as model.predict had
        self.loss = loss
        self.y = encode_targets(y_in_scope, n_classes, head)
        self.accuracy = (
            keras.metrics.sparse_categorical_accuracy if self.y.ndim == 1 else keras.metrics.categorical_accuracy
        )  # as compile_model's metric

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, raw = self.inference.predict(x, batch_size=eval_batch(rows(x)), verbose=0)
        return logits, raw

    def seed_states(self) -> list:
        """The dropout seed generators' state variables (shared with the training model's layers)."""
        return [v for v in self.inference.variables if v.path.endswith("seed_generator_state")]

    def warm_up(self, x: np.ndarray, model: keras.Model, train_batches) -> None:
        """Before fit: compile this pass on the other core while `model`'s train step is traced here.

        The first epoch otherwise runs in sequence: the train step is traced (~1.1 s of Python) and
        XLA-compiled (~2.3 s), and at its end the monitor's predict is traced (~0.3 s) and compiled
        (~0.9 s). Here the predict is traced first, on this thread (two Keras traces at once would
        share the GRU cells' dropout-mask attributes), then compiled by running it once on a second
        thread while this one traces the train step; XLA compiles in C++, without the GIL. That run
        moves the dropout seed states on, so they are put back before fit: the same numbers follow.
        The train step is traced by running Keras's train function on an empty data set of the same
        element spec: no step is taken, and `train_batches` makes no iterator (each one draws the
        next shuffle seed). One validation batch only."""
        import threading

        import tensorflow as tf

        if eval_batch(rows(x)) < rows(x):
            return
        self.inference.make_predict_function()
        batch = [tf.convert_to_tensor(x)]  # what Keras's predict passes for one batch of inputs alone
        predict = self.inference.predict_function.get_concrete_function(batch)
        states = self.seed_states()
        before = [v.numpy() for v in states]
        failed: list[BaseException] = []

        def compile_predict() -> None:
            try:
                predict(batch)  # the traced function itself: nothing is traced on this thread
            except BaseException as exc:  # re-raised on the calling thread
                failed.append(exc)

        thread = threading.Thread(target=compile_predict, name="compile-validation", daemon=True)
        thread.start()
        try:
            empty = tf.data.Dataset.from_generator(lambda: iter(()), output_signature=train_batches.element_spec)
            model.make_train_function()
            try:  # traced, then run on no data: no step is taken
                model.train_function(iter(model.distribute_strategy.experimental_distribute_dataset(empty)))
            except (tf.errors.OutOfRangeError, StopIteration):
                pass
        finally:
            thread.join()
        for v, b in zip(states, before, strict=True):
            v.assign(b)
        if failed:
            raise failed[0]

    def __call__(self, x: np.ndarray, in_scope: np.ndarray) -> tuple[np.ndarray, dict]:
        states = self.seed_states()
        before = [v.numpy() for v in states]
        logits, raw = self.predict(x)
        # Keras's GRU draws its dropout seeds on every forward pass, inference included, so the evaluate
        # pass this one replaces moved the dropout random stream on. Move it on by as much (per batch,
        # as the predict just did), so the next epoch's dropout masks, hence every number, stay the same.
        eval_batches, predict_batches = n_batches(int(in_scope.sum())), n_batches(rows(x))
        for v, b in zip(states, before, strict=True):
            after = v.numpy()
            v.assign(after + (after - b) // predict_batches * eval_batches)
        cached = None if self.loss.from_logits else logits[in_scope]  # a linear head caches nothing
        y_pred = with_cached_logits(raw[in_scope], cached)
        val_loss = float(self.loss(self.y, y_pred))
        val_accuracy = float(np.mean(keras.ops.convert_to_numpy(self.accuracy(self.y, y_pred))))
        return raw, {"val_accuracy": val_accuracy, "val_loss": val_loss}  # in Keras's order


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

    scorer: ValidationScorer | None = None
    features: Features | None = None  # the inputs the body read (x_val, x_test) and their featurizer

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Raw outputs; through the monitor's compiled inference model when there is one (no new compilation)."""
        return self.scorer.predict(x)[1] if self.scorer is not None else predict_raw(self.model, x)


def free_memory() -> None:
    """Drop Keras's global state (layer names, graphs, kernel caches) and collect garbage: a sweep builds
    a model per trial, and without this each one's graphs stay reachable (benchmarks/sweep_memory.py)."""
    keras.backend.clear_session(free_memory=True)


def process_memory() -> dict[str, float]:
    """This process's resident memory now and at its peak, in MB (Linux /proc; the OS's peak elsewhere).

    Logged at the end of every run: over a sweep it shows whether each trial gave its memory back.
    """
    try:
        with open("/proc/self/status") as status:
            fields = (line.partition(":") for line in status)
            kb = {k: int(v.split()[0]) for k, _, v in fields if k in ("VmRSS", "VmHWM")}
        return {"process_rss_mb": round(kb["VmRSS"] / 1024, 1), "process_peak_rss_mb": round(kb["VmHWM"] / 1024, 1)}
    except (OSError, KeyError):
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
        return {"process_peak_rss_mb": round(peak, 1)}


def seed_everything(seed: int, deterministic: bool) -> None:
    """Python, NumPy and TF seeds; with `deterministic`, TF op determinism too (same seed, same numbers)."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def fit(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    data: Dataset,
    seed: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Trained:
    """Build, compile and train; the monitor runs first so later callbacks see its metrics.

    The speed switches in `train_cfg` (single_validation_pass, steps_per_execution, clear_session,
    one_loop_bidirectional, trace_once, fixed_prefetch, overlap_compile) change how fast, never what
    is computed: same model, batches, order of updates and metrics.
    """
    if train_cfg.clear_session:
        free_memory()
    seed_everything(seed, train_cfg.deterministic)
    feats = features_for(data, model_cfg)  # what the body reads (token ids for the seed), made once per data set
    model = build_model(model_cfg, arguments=feats.arguments)
    jit_compile = train_cfg.jit_compile and feats.jit_compile
    if train_cfg.one_loop_bidirectional:
        fuse_bidirectional(model)
    from probsweep.encoder.family import learning_rate

    steps = len(data.y_train) // train_cfg.batch_size if train_cfg.drop_remainder else n_batches_of(data, train_cfg)
    loss = compile_model(
        model,
        model_cfg,
        learning_rate(model_cfg, train_cfg.learning_rate, max(1, steps) * train_cfg.epochs),
        jit_compile,
        steps_per_execution=train_cfg.steps_per_execution,
    )
    if train_cfg.trace_once:
        # Keras's TF trainer creates the optimizer's slots inside the first trace of the train step, and a
        # tf.function that created variables is traced again: about a second of Python per training.
        # Built here, the slots (zeros) are the same and the step is traced once.
        model.optimizer.build(model.trainable_variables)
    n = data.n_classes
    val_in_scope = data.y_val >= 0
    head = Head.of(model_cfg)
    val_batch = eval_batch(len(data.y_val))
    scorer = (
        ValidationScorer(model, loss, data.y_val[val_in_scope], head, n, jit_compile)
        if train_cfg.single_validation_pass
        else None
    )
    # The sweep checks, tracks and analyses in train/tracked.py; a user's fit has the monitor do it.
    monitor = ProbabilityMonitor(
        feats.x_val,
        data.y_val,
        head,
        n_probes=train_cfg.probe_examples,
        batch_size=val_batch,
        scorer=scorer,
        check=False,
        track=False,
        diagnose=False,
    )
    es = train_cfg.early_stopping
    # After the monitor, which puts the probability metrics in the epoch's logs. Keras restores the
    # best epoch's weights at the end of training, stopped early or not.
    stopper = (
        keras.callbacks.EarlyStopping(
            monitor=es.monitor,
            mode=stopping_direction(es),
            patience=es.patience,
            min_delta=es.min_delta,
            restore_best_weights=True,
        )
        if es.enabled
        else None
    )
    train_batches = batches(
        feats.x_train,
        encode_targets(data.y_train, n, head),
        train_cfg.batch_size,
        seed,
        train_cfg.drop_remainder,
        train_cfg.fixed_prefetch,
    )
    if scorer is not None and train_cfg.overlap_compile and jit_compile:
        monitor.start_clock()  # the warm-up is the first epoch's work: its time counts there
        scorer.warm_up(feats.x_val, model, train_batches)
    model.fit(
        train_batches,
        # Off (single_validation_pass=false): Keras's own evaluate pass, then the monitor predicts again.
        validation_data=None
        if scorer
        else (feats.x_val[val_in_scope], encode_targets(data.y_val[val_in_scope], n, head)),
        epochs=train_cfg.epochs,
        shuffle=False,  # `batches` reshuffles every epoch itself
        validation_batch_size=val_batch,
        callbacks=[monitor, *([stopper] if stopper else []), *callbacks],
        verbose=0,
    )
    best = stopper.best_epoch + 1 if stopper and stopper.best_weights is not None else len(monitor.rows)
    return Trained(model=model, loss=loss, monitor=monitor, best_epoch=best, scorer=scorer, features=feats)


def n_batches_of(data: Dataset, train_cfg: TrainConfig) -> int:
    return -(-len(data.y_train) // train_cfg.batch_size)


def batches(x: Any, y: np.ndarray, batch_size: int, seed: int, drop_remainder: bool, fixed_prefetch: bool):
    """Reshuffled every epoch, like `fit(x, y, shuffle=True)`. With `drop_remainder`, each epoch leaves
    out the last partial batch (different rows each time): one batch shape is one XLA compilation
    instead of three (the partial batch, then a relaxed retrace at epoch 3), about 10 s per training.

    With `fixed_prefetch`, two batches are prefetched and tf.data's autotuning is off. Keras makes a new
    iterator at each epoch's end and again at the next one's start, and tearing down an autotuned
    iterator stalled for 0.1-2.6 s in about one epoch in five (benchmarks/input_stall.py). The batches,
    their order and the shuffle's seeds are the same: prefetching only buffers them."""
    import tensorflow as tf

    drop = drop_remainder and rows(x) >= batch_size
    sparse = hasattr(x, "tocsr")  # scipy sparse (the ngram family's TF-IDF rows)
    ds, gather_batch = sparse_rows(x.tocsr(), y) if sparse else (tf.data.Dataset.from_tensor_slices((x, y)), None)
    ds = ds.shuffle(rows(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size, drop_remainder=drop)
    if gather_batch is not None:
        ds = ds.map(gather_batch)
    if not fixed_prefetch:
        return ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)


def sparse_rows(x: Any, y: np.ndarray) -> tuple[Any, Any]:
    """Row numbers and targets as a tf.data set, and `gather_batch`, which turns a batch of row numbers into
    the tf.SparseTensor of those CSR rows: the shuffle moves integers (the same order as shuffling the rows
    themselves), and each batch is gathered at once instead of slicing a SparseTensor row by row."""
    import tensorflow as tf

    x.sort_indices()
    splits = x.indptr.astype(np.int64)
    cols = tf.RaggedTensor.from_row_splits(x.indices.astype(np.int64), splits)
    vals = tf.RaggedTensor.from_row_splits(x.data.astype(np.float32), splits)
    width = tf.constant(x.shape[1], tf.int64)

    def gather_batch(index: Any, target: Any) -> tuple[Any, Any]:
        c, v = tf.gather(cols, index), tf.gather(vals, index)
        shape = tf.stack([tf.shape(index, out_type=tf.int64)[0], width])
        return tf.SparseTensor(tf.stack([c.value_rowids(), c.flat_values], axis=1), v.flat_values, shape), target

    return tf.data.Dataset.from_tensor_slices((np.arange(x.shape[0], dtype=np.int64), y)), gather_batch


def eval_batch(n: int) -> int:
    """Evaluate and predict in one batch where it fits: with XLA every distinct batch shape is a
    separate compilation (seconds each), and a split of 1,020 rows in batches of 32 has two shapes."""
    return max(1, min(n, EVAL_BATCH_CAP))


def n_batches(n: int) -> int:
    return -(-n // eval_batch(n)) if n else 0


def predict_raw(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return model.predict(x, batch_size=eval_batch(rows(x)), verbose=0)
