"""The search space, declared in conf/search/*.yaml, mapped onto Keras Tuner hyperparameters.

An entry is `<name>: {<kind>: ..., [step, sampling, when, default]}` where the name is a config key
(`model.dropout`) and also the hyperparameter's name, the MLflow param and the table column.
Kinds: `choice: [values]`, `choice: {label: {key: value, ...}}` (one pick sets several keys, e.g. a
head and its loss), `float: [min, max]`, `int: [min, max]`, `boolean: true`. `when: {name: [values]}`
makes the entry conditional (a Keras Tuner conditional scope): it only exists in trials where that
other hyperparameter takes one of those values, which keeps invalid pairings out of the sweep.
"""

from __future__ import annotations

import contextlib
import copy
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from probsweep.config import ConfigError, check_combinations, check_ranges, one_line

KINDS = ("choice", "float", "int", "boolean")
OPTIONS = ("step", "sampling", "when", "default")


@dataclass
class Entry:
    name: str
    kind: str
    spec: Any
    step: float | None = None
    sampling: str = "linear"
    when: dict[str, list[Any]] | None = None
    default: Any = None

    @property
    def bundles(self) -> dict[str, dict[str, Any]] | None:
        """For `choice: {label: {key: value}}`: label -> overrides."""
        return dict(self.spec) if self.kind == "choice" and isinstance(self.spec, dict) else None

    def overrides(self, value: Any) -> dict[str, Any]:
        """The config keys this entry sets when it takes `value`."""
        return dict(self.bundles[value]) if self.bundles else {self.name: value}


def parse(space: Any) -> list[Entry]:
    """Read `search.space`; a malformed entry raises ConfigError naming it."""
    space = OmegaConf.to_container(space, resolve=True) if isinstance(space, DictConfig) else dict(space or {})
    entries = []
    for name, spec in space.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"search.space.{name} must be a mapping like {{choice: [a, b]}} or {{float: [0, 1]}}")
        kinds = [k for k in KINDS if k in spec]
        unknown = sorted(set(spec) - set(KINDS) - set(OPTIONS))
        if len(kinds) != 1 or unknown:
            raise ConfigError(
                f"search.space.{name} needs exactly one of {', '.join(KINDS)}"
                + (f" (unknown: {', '.join(unknown)})" if unknown else "")
            )
        kind = kinds[0]
        body = spec[kind]
        if kind in ("float", "int") and not (isinstance(body, list) and len(body) == 2):
            raise ConfigError(f"search.space.{name}.{kind} must be [min, max]")
        if kind == "choice" and not (isinstance(body, (list, dict)) and len(body) > 0):
            raise ConfigError(f"search.space.{name}.choice must be a non-empty list or mapping")
        entries.append(
            Entry(
                name,
                kind,
                body,
                spec.get("step"),
                spec.get("sampling", "linear"),
                spec.get("when"),
                spec.get("default"),
            )
        )
    names = {e.name for e in entries}
    for e in entries:
        for parent in e.when or {}:
            if parent not in names:
                raise ConfigError(f"search.space.{e.name}.when refers to '{parent}', which is not in the space")
    return entries


def declare(hp: Any, entries: list[Entry]) -> None:
    """Register every entry on a Keras Tuner HyperParameters object (idempotent)."""
    for e in entries:
        if e.when:
            ((parent, values),) = e.when.items()
            with hp.conditional_scope(parent, list(values)):
                _declare_one(hp, e)
        else:
            _declare_one(hp, e)


def _declare_one(hp: Any, e: Entry) -> None:
    if e.kind == "choice":
        values = list(e.bundles) if e.bundles else list(e.spec)
        hp.Choice(e.name, values, default=e.default if e.default is not None else values[0])
    elif e.kind == "float":
        hp.Float(e.name, float(e.spec[0]), float(e.spec[1]), step=e.step, sampling=e.sampling, default=e.default)
    elif e.kind == "int":
        hp.Int(e.name, int(e.spec[0]), int(e.spec[1]), step=int(e.step or 1), sampling=e.sampling, default=e.default)
    else:
        hp.Boolean(e.name, default=bool(e.default))


def _decimals(x: float) -> int:
    """Decimal places of a number as written in the config: 0.05 -> 2, 1e-3 -> 3, 2 -> 0."""
    exponent = Decimal(repr(float(x))).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def rounded(entries: list[Entry], values: dict[str, Any]) -> dict[str, Any]:
    """The sampled values with each stepped float at its step's precision: Keras Tuner computes min + k * step,
    which gives 0.30000000000000004 for 0.1 + 2 * 0.1; this gives 0.3. Linear steps are rounded to the decimals
    of min and step; log steps (min * step**k) to 12 significant digits."""
    out = dict(values)
    for e in entries:
        v = out.get(e.name)
        if e.kind != "float" or e.step is None or not isinstance(v, float):
            continue
        if e.sampling == "log":
            out[e.name] = float(f"{v:.12g}")
        else:
            out[e.name] = round(v, max(_decimals(e.step), _decimals(e.spec[0])))
    return out


def _set(cfg: DictConfig, name: str, key: str, value: Any) -> None:
    # model.kwargs is the schema's one open mapping (a custom builder's own arguments): keys may be new.
    free = open_dict(cfg.model.kwargs) if key.startswith("model.kwargs.") else contextlib.nullcontext()
    try:
        with free:
            OmegaConf.update(cfg, key, value, merge=False)
    except OmegaConfBaseException as exc:
        raise ConfigError(
            f"search.space.{name}: cannot set {key}={value!r} ({one_line(exc)}); "
            "fix the key or value in the search config"
        ) from None


def inactive(entries: list[Entry], values: dict[str, Any]) -> list[str]:
    """The entries whose `when:` conditions the sampled `values` do not meet (another family's keys)."""
    return [e.name for e in entries if e.when and any(values.get(k) not in opts for k, opts in e.when.items())]


def apply(base: DictConfig, values: dict[str, Any], entries: list[Entry], check: bool = True) -> DictConfig:
    """The trial's config: `base` with the sampled keys overridden, checked by the same schema."""
    cfg = copy.deepcopy(base)
    by_name = {e.name: e for e in entries}
    for name, value in rounded(entries, values).items():
        if name not in by_name:  # tuner bookkeeping such as Hyperband's tuner/epochs
            continue
        for key, v in by_name[name].overrides(value).items():
            _set(cfg, name, key, v)
    if check:
        check_combinations(cfg)
    return cfg


NEEDS_PRESET = ".encoder_body"  # a family option whose model._target_ ends so needs model.encoder.preset


def without_unavailable(cfg: DictConfig) -> DictConfig:
    """The config with the options it cannot run left out of search.space: the encoder family (an option
    whose model._target_ is the encoder body) and the keys only it reads, when model.encoder.preset is
    not set. So one search=tune works before and after `make encoder`; the preset turns the family on."""
    found = OmegaConf.to_container(cfg.search.space, resolve=True) if cfg.search.space else {}
    space: dict[str, Any] = {str(k): v for k, v in found.items()} if isinstance(found, dict) else {}
    if not space or OmegaConf.select(cfg, "model.encoder.preset"):
        return cfg
    dropped: dict[str, list[str]] = {}
    for name, spec in space.items():
        options = spec.get("choice") if isinstance(spec, dict) else None
        if isinstance(options, dict):
            gone = [k for k, v in options.items() if str((v or {}).get("model._target_", "")).endswith(NEEDS_PRESET)]
            if gone and len(gone) < len(options):
                dropped[name] = gone
                spec["choice"] = {k: v for k, v in options.items() if k not in gone}
    if not dropped:
        return cfg
    kept = {}
    for name, spec in space.items():
        when = spec.get("when") if isinstance(spec, dict) else None
        if isinstance(when, dict):
            when = {k: [v for v in vs if v not in dropped.get(k, [])] for k, vs in when.items()}
            if any(not vs for vs in when.values()):
                continue  # a key only the dropped options read
            spec["when"] = when
        kept[name] = spec
    for name, gone in dropped.items():
        print(
            f"search.space.{name}: {', '.join(gone)} left out (model.encoder.preset is not set; "
            "`make encoder` prints one)",
            flush=True,
        )
    out = copy.deepcopy(cfg)
    with open_dict(out):
        out.search.space = kept
    return out


def check_space(base: DictConfig, entries: list[Entry]) -> None:
    """Before the first trial: every key exists and every value has the right type."""
    for e in entries:
        if e.kind == "choice":
            values = list(e.bundles or e.spec)
        elif e.kind == "boolean":
            values = [True, False]
        else:
            values = list(e.spec)  # both bounds
        for value in values:
            try:
                check_ranges(apply(base, {e.name: value}, [e], check=False))
            except ConfigError as exc:
                raise ConfigError(f"search.space.{e.name}: {exc}") from None


def check_unchanged(search_cfg: Any, stored: Path, sweep_name: str) -> None:
    """A resumed sweep must search what it started with: the first key that differs from `stored`
    (sweeps/<name>/search.yaml, written when the sweep starts) stops it, with the two ways out."""
    if not stored.exists():
        return
    before: dict[str, Any] = OmegaConf.to_container(OmegaConf.load(stored), resolve=True)  # type: ignore[assignment]
    now: dict[str, Any] = OmegaConf.to_container(OmegaConf.create(search_cfg), resolve=True)  # type: ignore[assignment]
    pairs = [(f"search.{k}", before.get(k), now.get(k)) for k in ("objective", "direction")]
    old_space, new_space = before.get("space") or {}, now.get("space") or {}
    pairs += [(f"search.space.{k}", old_space.get(k), new_space.get(k)) for k in [*old_space, *new_space]]
    for key, old, new in pairs:
        if old != new:
            show = lambda v: "absent" if v is None else json.dumps(v)[:80]  # noqa: E731
            raise ConfigError(
                f"sweep '{sweep_name}' was started with {key}={show(old)} and is now given {show(new)}: "
                f"restore it to resume, or start over with sweep.restart=true, or use a new sweep.name"
            )


def store(search_cfg: Any, stored: Path) -> None:
    """Keep the space and objective the sweep starts with (see check_unchanged)."""
    if not stored.exists():
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(OmegaConf.to_yaml(search_cfg))


def check_search(cfg: DictConfig) -> list[Entry]:
    """Every check of a sweep's config that needs neither data nor TensorFlow (the command line runs it
    before they load): the space's keys and values, the objective and its direction, early stopping's
    monitor, hyperband with train.epochs. Returns the parsed space."""
    from probsweep.probs.metrics import METRICS, OBJECTIVES  # numpy/scipy: no TensorFlow

    entries = parse(cfg.search.space)
    check_space(cfg, entries)
    objective = METRICS.get(cfg.search.objective)
    if objective is None or not objective.per_epoch:
        raise ConfigError(
            f"search.objective={cfg.search.objective!r} is not a per-epoch metric: use one of {', '.join(OBJECTIVES)}"
        )
    if objective.direction and objective.direction != cfg.search.direction:
        raise ConfigError(
            f"search.direction={cfg.search.direction} but {objective.name} is better when "
            f"{'lower' if objective.direction == 'min' else 'higher'}: set search.direction={objective.direction}"
        )
    check_early_stopping(cfg)
    if cfg.tuner.kind == "hyperband" and any(e.name == "train.epochs" for e in entries):
        raise ConfigError("tuner=hyperband sets the epochs itself: remove train.epochs from the search space")
    return entries


def check_early_stopping(cfg: DictConfig) -> None:
    """train.early_stopping's monitor is a logged per-epoch metric with a better side: before any training."""
    from probsweep.probs.metrics import stopping_direction

    if cfg.train.early_stopping.enabled:
        stopping_direction(cfg.train.early_stopping)
