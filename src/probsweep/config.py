"""The typed schema behind every Hydra config: one definition per key, and the one place defaults live.

The dataclasses below hold every key's type AND its default value. The YAML files of `conf/`
(src/probsweep/conf/, shipped inside the package) hold only what choosing a config-group option
changes (data=file sets data.source, tuner=bayesian its kind, trial budget and seed, search=quick its
space); they never restate a default. Hydra composes
`conf/` on top of this schema; `validate` merges the result onto it again, so an unknown key or a
wrong type fails before any training starts, with the key named. Tests may build the dataclasses
directly (DataConfig(), ModelConfig()) and get the same values as `make train`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

PACKAGE_DIR = Path(__file__).resolve().parent
CONF_DIR = PACKAGE_DIR / "conf"  # package data: found the same from a checkout and from an installed wheel


def project_root() -> Path:
    """Where sweeps/ and mlruns/ go: the checkout this package runs from (src/ layout beside
    pyproject.toml, whatever the working directory), or for an installed package the working directory."""
    checkout = PACKAGE_DIR.parents[1]
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


PROJECT_ROOT = project_root()


SPLITS = ("train", "val", "test")  # the data splits, and the values data.split_column may hold


class ConfigError(ValueError):
    """A config that cannot run; the message names the key and the fix."""


class Activation(str, Enum):
    softmax = "softmax"
    sigmoid = "sigmoid"
    linear = "linear"  # logits; the loss is then built with from_logits=True


class Loss(str, Enum):
    sparse_categorical_crossentropy = "sparse_categorical_crossentropy"
    categorical_crossentropy = "categorical_crossentropy"
    binary_crossentropy = "binary_crossentropy"


class MismatchPath(str, Enum):
    # Only matters for a probability head whose loss expects the other kind of probability.
    A = "A"  # Keras 3 on TensorFlow: the loss reads the logits cached on the sigmoid's output
    B = "B"  # older Keras / JAX / torch: the loss clips and renormalises the outputs


@dataclass
class SyntheticConfig:
    profile: str = "seed"  # seed: the seed-like corpus with "pretrained" vectors | intents: short queries, no vectors
    n_classes: int = 102  # the seed's 102 classes
    n_groups: int = 17  # groups of similar classes that share words
    train_per_class: int = 24  # "a few dozen" examples per class, as in the seed; 24 keeps a sweep short
    val_per_class: int = 10
    test_per_class: int = 10
    min_len: int = 20
    max_len: int = 150
    vocab_words: int = 882  # + padding + OOV token = the seed's vocabulary of 884
    label_noise: float = 0.05  # share of training labels moved to a sibling class: makes overfitting visible
    oos_per_split: int = 0  # out-of-scope examples per split (label "oos"); 0 = none
    oos_test: int | None = None  # out-of-scope examples in test; None = oos_per_split


@dataclass
class DataConfig:
    source: str = "embedded"  # embedded | file (set by the config-group option data=embedded / data=file)
    format: str | None = None  # csv | tsv | parquet | jsonl; None = from the file's suffix
    path: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    split_column: str | None = None  # values train/val/test, used as given
    val_size: float = 0.15
    test_size: float = 0.15
    max_tokens: int = 20000  # TextVectorization vocabulary cap (includes padding and OOV)
    max_len: Any = 150  # tokens per text after padding/truncation; "auto" = the training texts' 99th percentile, capped
    vectors_path: str | None = None  # GloVe-format text file; None = random init (or embedded vectors)
    encoding: str = "utf-8"
    sep: str | None = None  # column separator: one character or comma|semicolon|pipe|tab; None = from the format
    dedupe: bool = False  # keep only the first row of each exact text, before splitting (no text in two splits)
    oos_label: str | None = None  # label that marks out-of-scope examples; never a training class
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass
class EncoderConfig:
    """model.encoder.*: the `encoder` family (probsweep.encoder.family.encoder_body, docs/encoder.md): a
    pretrained keras-hub backbone, mean pooling over its tokens (padding masked), optional L2 norm, then
    the head. It reads model.dropout like the other bodies."""

    # A local keras-hub preset folder (`make encoder` prints one), a local Hugging Face-layout folder, or
    # a keras-hub preset name / hf:// handle (downloaded then, and only then). None: no encoder family.
    preset: str | None = None
    sequence_length: int = 128  # WordPieces per text, [CLS] and [SEP] included; HWU64's longest text has 31
    normalize: bool = True  # L2-normalise the pooled vector, as all-MiniLM-L6-v2 was trained to be used
    hidden: int = 0  # units of one ReLU layer between the pooled vector and the head; 0 = none
    trainable: bool = False  # false: features computed once and cached, trials train the head in seconds
    learning_rate: float = 5e-5  # fine-tuning only (train.learning_rate is the frozen head's): BERT's range
    warmup: float = 0.1  # fine-tuning only: share of the steps with a linear warm-up from 0 to learning_rate
    cache_dir: str | None = None  # where frozen features are cached; None = <project>/models/features


@dataclass
class NgramConfig:
    """model.ngram.*: the `ngram` family (probsweep.train.families.ngram_body, docs/families.md). The
    baseline's TF-IDF vector of word and character n-grams, learned by Keras: dropout on the present
    n-grams, one ReLU layer, the head. Defaults from HWU64 (docs/families.md)."""

    word_ngrams: list[int] = field(
        default_factory=lambda: [1, 2]
    )  # word n-gram sizes, lowest and highest: the baseline's
    char_ngrams: list[int] = field(
        default_factory=lambda: [2, 5]
    )  # char_wb n-gram sizes (inside word boundaries), lowest and highest
    min_df: int = 2  # an n-gram must occur in this many training texts (HWU64: 24,000 features instead of 90,000)
    hidden: int = 256  # units of the ReLU layer; 0 = none, a linear model as the baseline's (HWU64: 1 point lower)
    dropout: float = 0.6  # on the present n-grams and on the hidden layer (HWU64 val: 0.5 0.891, 0.6 0.899, 0.7 0.895)


@dataclass
class CnnConfig:
    """model.cnn.*: the `cnn` family (probsweep.train.families.cnn_body): Kim (2014), parallel Conv1D
    widths over the token embedding, each max-pooled over time, concatenated. It reads model.embed_dim,
    model.trainable_embedding and model.dropout like the seed's body."""

    widths: list[int] = field(
        default_factory=lambda: [2, 3, 4]
    )  # Kim's 3, 4, 5 are for sentences; queries are ~8 words
    filters: int = 128  # per width (Kim: 100)


@dataclass
class ModelConfig:
    # The body before the head, built with hydra.utils.instantiate (README, "Bring your own model"):
    # a dotted path to a function (vocab_size, n_classes, max_len, embedding_matrix, **keys) returning a
    # keras.Model from token ids to features. It receives the keys below that it names, plus `kwargs`.
    _target_: str = "probsweep.train.model.seed_body"
    kwargs: dict[str, Any] = field(default_factory=dict)  # your builder's own keyword arguments
    embed_dim: int = 100  # the seed's 100-dimensional vectors; must equal the dimension of data.vectors_path
    trainable_embedding: Any = "auto"  # auto | true | false; auto: frozen with pretrained vectors, else trained
    gru_units: int = 32  # per direction
    dropout: float = 0.1
    recurrent_dropout: float = 0.1
    conv_filters: int = 32
    kernel_size: int = 3
    activation: Activation = Activation.sigmoid  # the seed's head ...
    loss: Loss = Loss.sparse_categorical_crossentropy  # ... with a softmax loss: the mismatch users come to diagnose
    label_smoothing: float = 0.0  # needs one-hot targets: not with the sparse loss
    mismatch_path: MismatchPath = MismatchPath.A  # A: Keras 3/TF reads cached logits; B: clip + renormalise
    # A family's own keys: model.<family>.*, given to the builder named <family>_body (train/families.py).
    ngram: NgramConfig = field(default_factory=NgramConfig)
    cnn: CnnConfig = field(default_factory=CnnConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # probsweep.encoder.family.encoder_body


HEAD_KEYS = ("activation", "loss", "label_smoothing", "mismatch_path")  # build_model's head and the loss
FAMILY_SECTIONS = ("ngram", "cnn", "encoder")  # model.<family>.*: only the <family>_body builder receives them
BODY_KEYS = tuple(
    k for k in ModelConfig.__dataclass_fields__ if k not in ("_target_", "kwargs", *HEAD_KEYS, *FAMILY_SECTIONS)
)


@dataclass
class EarlyStoppingConfig:
    enabled: bool = False  # off in the seed's question, whose point is what training length does
    monitor: str = "val_accuracy"  # any per-epoch metric (see search.objective)
    direction: str | None = None  # min | max; None: the monitored metric's own (probs.metrics.METRICS)
    patience: int = 5  # epochs without improvement before stopping
    min_delta: float = 0.0  # smallest change that counts as an improvement


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 32  # Keras's default, as in the seed
    learning_rate: float = 1e-3  # Adam(1e-3), as in the seed
    jit_compile: bool = True  # XLA: ~1.6x faster per epoch for the seed's model on 2 cores
    # Skip each epoch's last partial batch (16 of 2,448 rows, different ones each epoch): one batch
    # shape, one XLA compilation, ~10 s less per training.
    drop_remainder: bool = True
    # TF op determinism; Keras then turns jit_compile off. Seeded XLA runs on CPU already repeat exactly (measured).
    deterministic: bool = False
    # Speed switches (issue 11): none changes what is computed; false/1 gives the previous approach.
    single_validation_pass: bool = True  # val_loss/val_accuracy from the monitor's predict, not Keras's evaluate pass
    steps_per_execution: int = 1  # batches per compiled call (Keras); 8 measured no faster here (README)
    clear_session: bool = True  # keras.backend.clear_session() + gc before each training: memory over long sweeps
    one_loop_bidirectional: bool = True  # Bidirectional RNNs step both directions in one loop (train/recurrent.py)
    trace_once: bool = True  # build Adam's slots before fit, so Keras traces the train step once, not twice
    fixed_prefetch: bool = True  # 2 batches prefetched, tf.data autotuning off (its teardown stalled epochs 0.1-2.6 s)
    overlap_compile: bool = True  # XLA compiles the validation pass on the other core while the train step is traced
    probe_examples: int = 5  # validation examples whose raw outputs are kept at every epoch
    target_precision: float = 0.95  # the confidence threshold reported per run reaches this precision on val
    verbose: int = 2  # 0: silent; else one progress line per epoch
    # `make train` saves its model here (relative: under the project), vocabulary.txt beside it, for
    # `make diagnose`; also an artifact of its run. null: not saved. Sweep trials never save.
    save_model: str | None = "models/model.keras"
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)  # restores the best epoch


@dataclass
class TrackingConfig:
    uri: str | None = None  # None: $MLFLOW_TRACKING_URI if set, else sqlite:///mlruns/mlflow.db
    experiment: str = "probsweep-train"  # single runs of `make train`; sweeps get one experiment per sweep.name
    registered_model: str = "probsweep-best"  # `make best` registers the retrained model under this name


@dataclass
class TunerConfig:
    kind: str = "random"  # random | grid | bayesian | hyperband (the config-group option tuner=...)
    max_trials: int = 7  # the default sweep's budget: about 5 minutes on 2 idle cores
    seed: int = 553  # the sampling seed; its 7 random draws cover the default space (benchmarks/sweep_draws.py)
    max_epochs: int = 30  # hyperband only: the budget of its longest bracket
    factor: int = 3  # hyperband only
    initial_points: int | None = None  # bayesian only: random trials first; None = Keras Tuner's 3 per hyperparameter


@dataclass
class SearchConfig:
    objective: str = "val_brier"  # any per-epoch metric (probs.metrics.OBJECTIVES)
    direction: str = "min"  # min | max: must agree with the metric's own direction
    baseline: bool = True  # fit the linear baseline (TF-IDF + logistic regression) before the first trial
    space: dict[str, Any] = field(default_factory=dict)


@dataclass
class SweepConfig:
    name: str = "seed-question"  # sweeps/<name>/ holds the tuner state, best.yaml and the report
    restart: bool = False  # true: delete sweeps/<name>/ and start the sweep over
    dir: str | None = None  # where sweeps live; None = <project>/sweeps
    # Scale-out (Keras Tuner's chief/worker mode). workers=1 with oracle_port=0 is one process, no server.
    workers: int = 1  # local worker processes; 0 = a chief only, for workers on other hosts (make worker)
    oracle_host: str = "127.0.0.1"  # where the chief's gRPC oracle listens: unauthenticated, keep it private
    oracle_port: int = 0  # 0 = a free port; fix it when workers on other hosts connect
    trial_lease: float = 600.0  # seconds without an epoch reported before a trial goes back to the queue; 0 = never
    max_restarts: int = 3  # times a dead local worker is restarted (same tuner ID, same trial); 0 = never
    # A local worker process ends after this many trials and a fresh one takes the next: TensorFlow keeps
    # every trial's compiled XLA code until its process ends (~100 MB a trial, benchmarks/sweep_memory.py),
    # so long sweeps stay flat with 1. 0 = never; any other value runs the trials in worker processes.
    trials_per_worker: int = 0


def is_distributed(sweep_cfg: Any) -> bool:
    """A chief and workers (Keras Tuner's gRPC oracle), rather than today's single process."""
    return sweep_cfg.workers != 1 or sweep_cfg.oracle_port != 0 or sweep_cfg.trials_per_worker > 0


def sweep_dir(sweep_cfg: Any) -> Path:
    """sweeps/<name>/: the tuner's state, the parent run id, best.yaml and the report."""
    check_sweep_name(sweep_cfg.name)  # never a path outside sweeps/, whoever calls this
    return Path(sweep_cfg.dir or PROJECT_ROOT / "sweeps") / sweep_cfg.name


def under_project(path: str) -> Path:
    """A configured path: as given when absolute, else under the project (as sweeps/ and mlruns/ are)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p


def parent_run_id(folder: Path) -> str | None:
    """The sweep's MLflow parent run id recorded in <folder>/parent_run_id, or None if there is none yet."""
    id_file = Path(folder) / "parent_run_id"
    found = id_file.read_text().strip() if id_file.is_file() else ""
    return found or None


def locate_sweep(name: str, sweeps_dir: str | None = None) -> tuple[Path, str]:
    """(sweeps/<name>/, its parent run id) of a sweep that has started; ConfigError naming the fix otherwise.

    Plain files only (no MLflow, TensorFlow or Keras Tuner), so `report` fails fast on a wrong name.
    """
    folder = sweep_dir(SimpleNamespace(name=name, dir=sweeps_dir))
    id_file = folder / "parent_run_id"
    if not id_file.is_file():
        raise ConfigError(
            f"no sweep '{name}' in {folder.parent}: {id_file} does not exist; run "
            f'`make sweep ARGS="sweep.name={name}"` first, or pass --sweeps-dir'
        )
    found = parent_run_id(folder)
    if not found:
        raise ConfigError(f"{id_file} is empty: the sweep '{name}' never started; run `make sweep` again")
    return folder, found


def check_best(name: str, sweeps_dir: str | None = None) -> Path:
    """sweeps/<name>/best.yaml of a sweep that has finished; ConfigError naming the fix otherwise (with the
    nearest existing sweep names). Plain files only: `make best SWEEP=nosuch` answers before TensorFlow or
    MLflow load."""
    folder = sweep_dir(SimpleNamespace(name=name, dir=sweeps_dir))
    best_yaml = folder / "best.yaml"
    if best_yaml.is_file():
        return best_yaml
    if not folder.is_dir():
        there = sorted(p.parent.name for p in folder.parent.glob("*/parent_run_id"))
        near = difflib.get_close_matches(name, there, n=3, cutoff=0.6)
        listed = f"its sweeps: {', '.join(there[:8])}" if there else "it holds no sweep yet"
        hint = f"did you mean SWEEP={' or SWEEP='.join(near)}? Or " if near else ""
        raise ConfigError(
            f"no sweep '{name}' in {folder.parent} ({listed}): {hint}run "
            f'`make sweep ARGS="sweep.name={name}"` first, or pass SWEEP=<name> of a finished sweep'
        )
    raise ConfigError(
        f"{best_yaml} does not exist: the sweep '{name}' has not finished; run `make sweep` "
        f"(with sweep.name={name}) until it finishes, or pass SWEEP=<name>"
    )


@dataclass
class Config:
    seed: int = 42  # data split, weight init and dropout: same seed, same numbers
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    tuner: TunerConfig = field(default_factory=TunerConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)


def register() -> None:
    """Make the schema available to Hydra as `schema` (used at the top of conf/config.yaml)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="schema", node=Config)


@functools.cache
def schema_keys() -> dict[str, bool]:
    """Every key of the schema, dotted (`model.activation`), and whether any key below it is allowed:
    true for the free-form mappings (`model.kwargs`: a custom body's own arguments; `search.space`)
    and loosely typed keys (Any), false for a section (its own keys only) or a typed value."""
    keys: dict[str, bool] = {}

    def walk(cls: Any, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            key, kind = f"{prefix}{f.name}", hints[f.name]
            if dataclasses.is_dataclass(kind):
                keys[key] = False
                walk(kind, f"{key}.")
            else:
                keys[key] = kind is Any or typing.get_origin(kind) is dict

    walk(Config, "")
    return keys


def suggest(key: str, n: int = 3) -> list[str]:
    """The schema's keys nearest to `key` (difflib's ratio), on the whole dotted name or on its last part
    alone (`+activation` -> model.activation); only those about as near as the nearest."""
    scores: dict[str, float] = {}
    for k in schema_keys():
        whole = difflib.SequenceMatcher(None, key, k).ratio()
        last = difflib.SequenceMatcher(None, key.rsplit(".", 1)[-1], k.rsplit(".", 1)[-1]).ratio()
        scores[k] = max(whole, last - 0.05)  # a last part alone is weaker evidence than the whole name
    ranked = sorted((k for k in scores if scores[k] >= 0.75), key=lambda k: -scores[k])
    return [k for k in ranked if scores[k] >= scores[ranked[0]] - 0.05][:n]


def unknown_key(key: str) -> str | None:
    """None for a key the schema has (or a key under a free-form mapping such as `model.kwargs`), else
    the one-line error with the nearest valid keys."""
    keys, parts = schema_keys(), key.split(".")
    for i in range(len(parts), 0, -1):
        known = ".".join(parts[:i])
        if known in keys:
            if i == len(parts) or keys[known]:
                return None
            break
    near = suggest(key)
    hint = f"did you mean {' or '.join(near)}?" if near else "no key of the schema is close"
    return (
        f"unknown config key '{key}': {hint} (every key: src/probsweep/config.py; a custom body's own "
        "arguments go under model.kwargs)"
    )


def check_known_keys(cfg: Any) -> None:
    """Every key of a composed config is in the schema, also those added with `+` (Hydra lets them in)."""

    def walk(node: Any, prefix: str) -> None:
        for k in node.keys() if isinstance(node, DictConfig) else ():
            key = f"{prefix}{k!s}"
            problem = unknown_key(key)
            if problem:
                raise ConfigError(problem)
            if not schema_keys().get(key, True):  # a section: its keys too
                walk(node._get_node(k), f"{key}.")

    walk(cfg, "")


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """ "1 row", "2,000 rows": a count and its noun, in the right number."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def one_line(exc: BaseException) -> str:
    """An exception's first line (or its type's name): the detail a one-line error quotes."""
    msg = str(exc).strip().splitlines()
    return msg[0] if msg else type(exc).__name__


def validate(cfg: Any) -> DictConfig:
    """Return `cfg` merged onto the schema; raise ConfigError naming the bad key."""
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(cfg)
    cfg = OmegaConf.masked_copy(cfg, [k for k in cfg.keys() if k != "hydra"]) if "hydra" in cfg else cfg
    check_known_keys(cfg)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(Config), cfg)
        assert isinstance(merged, DictConfig)  # merged onto the Config dataclass
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        raise ConfigError(f"bad config key '{key}': {one_line(exc)}. Fix it in conf/ or on the command line.") from None
    check_combinations(merged)
    return merged


def _at_least(low: int) -> tuple:
    return (lambda v: v >= low), f"at least {low}"


def _fraction(low_open: bool = False, high_closed: bool = False) -> tuple:
    ok = lambda v: (0 < v if low_open else 0 <= v) and (v <= 1 if high_closed else v < 1)  # noqa: E731
    return ok, f"in {'(' if low_open else '['}0, 1{']' if high_closed else ')'}"


# Every numeric key's own range, checked (in this order) before any rule that combines keys, so the
# message names the key that is wrong rather than a rule it happens to break.
RANGES = {
    "seed": _at_least(0),
    "data.val_size": _fraction(),
    "data.test_size": _fraction(),
    "data.max_tokens": _at_least(3),  # padding + OOV + one word
    "data.max_len": _at_least(1),
    "data.synthetic.n_classes": _at_least(2),
    "data.synthetic.n_groups": _at_least(1),
    "data.synthetic.train_per_class": _at_least(1),
    "data.synthetic.val_per_class": _at_least(1),
    "data.synthetic.test_per_class": _at_least(0),
    "data.synthetic.min_len": _at_least(1),
    "data.synthetic.max_len": _at_least(1),
    "data.synthetic.vocab_words": _at_least(1),
    "data.synthetic.label_noise": _fraction(),
    "data.synthetic.oos_per_split": _at_least(0),
    "model.embed_dim": _at_least(1),
    "model.gru_units": _at_least(1),
    "model.conv_filters": _at_least(1),
    "model.kernel_size": _at_least(1),
    "model.dropout": _fraction(),
    "model.recurrent_dropout": _fraction(),
    "model.label_smoothing": _fraction(),
    "model.ngram.min_df": _at_least(1),
    "model.ngram.hidden": _at_least(0),
    "model.ngram.dropout": _fraction(),
    "model.cnn.filters": _at_least(1),
    "model.encoder.sequence_length": _at_least(3),  # [CLS], one WordPiece, [SEP]
    "model.encoder.hidden": _at_least(0),
    "model.encoder.learning_rate": ((lambda v: v > 0), "greater than 0"),
    "model.encoder.warmup": _fraction(),
    "train.epochs": _at_least(1),
    "train.batch_size": _at_least(1),
    "train.steps_per_execution": _at_least(1),
    "train.learning_rate": ((lambda v: v > 0), "greater than 0"),
    "train.probe_examples": _at_least(0),
    "train.target_precision": _fraction(low_open=True, high_closed=True),
    "train.verbose": ((lambda v: v in (0, 1, 2)), "0, 1 or 2"),
    "tuner.max_trials": _at_least(1),
    "tuner.seed": _at_least(0),
    "tuner.max_epochs": _at_least(1),
    "tuner.factor": _at_least(2),
}
SEPARATORS = {"comma": ",", "semicolon": ";", "pipe": "|", "tab": "\t"}  # names that need no shell quoting
PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def check_sweep_name(name: Any) -> None:
    if not PLAIN_NAME.fullmatch(str(name)):
        raise ConfigError(
            f"sweep.name={name!r} must be a plain name (letters, digits, -, _ and ., not starting "
            "with .): it becomes the folder sweeps/<name>/; use e.g. sweep.name=my-sweep"
        )


def check_ranges(cfg: DictConfig) -> None:
    """Each key on its own: its range, one message per key. Keys a newer schema lacks are skipped."""
    for key, (ok, rule) in RANGES.items():
        value = OmegaConf.select(cfg, key)
        if value is None or (key == "data.max_len" and value == "auto"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):  # loosely typed: data.max_len takes "auto"
            what = "a positive number of tokens or auto" if key == "data.max_len" else "a number"
            raise ConfigError(f"{key}={value!r} must be {what}")
        if isinstance(value, float) and not math.isfinite(value) or not ok(value):
            raise ConfigError(f"{key}={value} must be {rule}")
    if OmegaConf.select(cfg, "sweep.name") is not None:
        check_sweep_name(cfg.sweep.name)
    sep = OmegaConf.select(cfg, "data.sep")
    if sep is not None and sep not in SEPARATORS and len(str(sep)) != 1:
        raise ConfigError(f"data.sep={sep!r} must be one character or one of {', '.join(SEPARATORS)}")


def check_combinations(cfg: DictConfig) -> None:
    """Every key's range first (check_ranges), then the rules no single field can state."""
    check_ranges(cfg)
    m, d = cfg.model, cfg.data
    if m.label_smoothing and m.loss == Loss.sparse_categorical_crossentropy:
        raise ConfigError(
            "model.label_smoothing needs one-hot targets, and Keras's sparse loss has no smoothing: "
            "set model.loss=categorical_crossentropy (or binary_crossentropy), or model.label_smoothing=0"
        )
    if d.source not in ("embedded", "file"):
        raise ConfigError(f"data.source={d.source!r} must be 'embedded' or 'file' (use data=file for your own file)")
    if d.source == "file" and not d.path:
        raise ConfigError("data.path is not set: pass data.path=/path/to/your/file")
    if m.trainable_embedding not in ("auto", True, False):
        raise ConfigError(f"model.trainable_embedding={m.trainable_embedding!r} must be auto, true or false")
    if not m.cnn.widths or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in m.cnn.widths):
        raise ConfigError(
            f"model.cnn.widths={list(m.cnn.widths)} must be a non-empty list of positive integers, e.g. [2, 3, 4]"
        )
    for key, sizes in (
        ("model.ngram.word_ngrams", m.ngram.word_ngrams),
        ("model.ngram.char_ngrams", m.ngram.char_ngrams),
    ):
        if (
            len(sizes) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in sizes)
            or sizes[0] > sizes[1]
        ):
            raise ConfigError(f"{key}={list(sizes)} must be [lowest, highest] n-gram sizes, e.g. [2, 5]")
    if str(m._target_).rsplit(".", 1)[-1] == "encoder_body":
        from probsweep.encoder.family import check_encoder_config

        check_encoder_config(m.encoder)  # plain files: a missing preset fails here, before any import of Keras
    if d.max_len != "auto" and m.kernel_size > d.max_len:
        raise ConfigError(
            f"model.kernel_size={m.kernel_size} is longer than data.max_len={d.max_len}: "
            f"set model.kernel_size<={d.max_len} or a larger data.max_len"
        )
    if d.val_size + d.test_size >= 1:
        raise ConfigError(
            f"data.val_size={d.val_size} + data.test_size={d.test_size} must be below 1 "
            "(some rows must be left to train on)"
        )
    if d.synthetic.min_len > d.synthetic.max_len:
        raise ConfigError(
            f"data.synthetic.min_len={d.synthetic.min_len} is above data.synthetic.max_len={d.synthetic.max_len}"
        )
    es = cfg.train.early_stopping
    if es.direction not in (None, "min", "max") or es.patience < 0:
        raise ConfigError(
            f"train.early_stopping: direction={es.direction!r} must be min or max and patience={es.patience} at least 0"
        )
    sw = cfg.sweep
    if sw.workers < 0 or sw.max_restarts < 0 or sw.trial_lease < 0 or sw.trials_per_worker < 0:
        raise ConfigError(
            "sweep.workers, sweep.max_restarts, sweep.trial_lease and sweep.trials_per_worker must be 0 or more"
        )
    if not 0 <= sw.oracle_port < 65536:
        raise ConfigError(f"sweep.oracle_port={sw.oracle_port} must be a TCP port (0 picks a free one)")
    if cfg.search.direction not in ("min", "max"):
        raise ConfigError(f"search.direction={cfg.search.direction!r} must be 'min' or 'max'")


def check_files(cfg: DictConfig) -> None:
    """The files a config names exist (data.path, data.vectors_path): checked before any heavy import,
    with the messages the loader would give (data/files.py)."""
    d = cfg.data
    if d.source == "file" and d.path:
        path = Path(d.path).expanduser()
        if path.is_dir():
            raise ConfigError(
                f"data.path {path} is a directory, not a file: point data.path at the data file inside it"
            )
        if not path.is_file():
            raise ConfigError(f"data file not found: {path}; check data.path")
    if d.vectors_path and not Path(d.vectors_path).expanduser().is_file():
        raise ConfigError(f"vectors file not found: {Path(d.vectors_path).expanduser()}; check data.vectors_path")


def flatten(cfg: DictConfig) -> dict[str, Any]:
    """`model.dropout`-style keys to plain values: MLflow params and table columns share them."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        else:
            out[prefix[:-1]] = node

    walk(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True), "")
    return out
