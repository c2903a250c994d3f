"""Sweep specs: YAML in, a validated `SweepSpec` out, or a `SpecError` naming the bad key and the fix.

Validation imports no torch and starts nothing, so a bad spec fails before any resources are spent.
See orchestrator/specs/demo.yaml for a commented example.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from workers.data import local_files
from workers.methods import METHOD_CONFIGS, get_method_config
from workers.presets import ARCHITECTURES, EMBEDDED_MODELS, RANDOM_PREFIX, is_offline_model, known_vocabulary
from workers.tasks import TASKS
from workers.trial import TrialConfig

GRID_FIELDS = {"method", "task", "model", "dropout", "method_params", "lr", "weight_decay", "seed"}
TRAINING_FIELDS = [f.name for f in fields(TrialConfig) if f.name not in GRID_FIELDS]
TOP_KEYS = ("name", "methods", "tasks", "models", "m", "dropout", "seeds", "method_params", "optuna",
            "training", "scheduler", "resources", "ray")
SCHEDULERS = ("fifo", "asha")


class SpecError(ValueError):
    """A sweep spec is invalid; the message names the key and what would be accepted."""


@dataclass(frozen=True)
class OptunaSpec:
    trials_per_cell: int = 3
    lr_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # method -> (low, high), log scale
    sampler_seed: int = 0

    def lr_range(self, method: str) -> tuple[float, float]:
        """The spec's range, else the paper's learning rate x [1/10, 10]."""
        if method in self.lr_ranges:
            return self.lr_ranges[method]
        default = METHOD_CONFIGS[method].lr
        return default / 10, default * 10


@dataclass(frozen=True)
class SchedulerSpec:
    """Early stopping by Ray Tune. fifo: every trial runs all its epochs. asha: ASHA stops trials whose
    validation score trails the others' at the same epoch (after grace_period epochs)."""

    type: str = "fifo"
    grace_period: int = 1
    reduction_factor: int = 3


@dataclass(frozen=True)
class ResourceSpec:
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0
    max_concurrent_trials: int | None = None


@dataclass(frozen=True)
class RaySpec:
    address: str | None = None  # None: start a local Ray; "auto" or "ray://host:10001": join a cluster
    num_cpus: int | None = None  # local Ray only
    num_gpus: int | None = None  # local Ray only
    storage_path: str | None = None  # where Tune keeps trial folders; None: ~/ray_results


@dataclass(frozen=True)
class SweepSpec:
    name: str
    methods: tuple[str, ...]
    tasks: tuple[str, ...]
    models: tuple[str, ...]
    m: tuple[int, ...]
    dropout: tuple[bool, ...]
    seeds: tuple[int, ...]
    method_params: dict[str, dict[str, Any]]
    optuna: OptunaSpec
    training: dict[str, Any]
    scheduler: SchedulerSpec
    resources: ResourceSpec
    ray: RaySpec
    text: str  # the YAML as given, stored with the sweep

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def _list(raw: dict, key: str, default: list | None = None) -> list:
    value = raw.get(key, default)
    if value is None:
        raise SpecError(f"spec.{key} is required")
    if not isinstance(value, list):
        value = [value]
    if not value:
        raise SpecError(f"spec.{key} must not be empty")
    return value


def _choices(raw: dict, key: str, allowed: dict | tuple) -> tuple[str, ...]:
    values = _list(raw, key)
    for i, v in enumerate(values):
        if v not in allowed:
            raise SpecError(f"spec.{key}[{i}]: unknown {key[:-1]} {v!r}; choose from: {', '.join(sorted(allowed))}")
    return tuple(dict.fromkeys(values))


def _ints(raw: dict, key: str, default: list, minimum: int) -> tuple[int, ...]:
    values = _list(raw, key, default)
    for i, v in enumerate(values):
        if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
            raise SpecError(f"spec.{key}[{i}] must be an integer >= {minimum}, got {v!r}")
    return tuple(dict.fromkeys(values))


def _dropout(raw: dict) -> tuple[bool, ...]:
    words = {"on": True, "off": False, True: True, False: False}
    values = _list(raw, "dropout", [True])
    for i, v in enumerate(values):
        if v not in words:
            raise SpecError(f"spec.dropout[{i}] must be on or off, got {v!r}")
    return tuple(dict.fromkeys(words[v] for v in values))


def _mapping(raw: dict, key: str, allowed: tuple | list | None = None) -> dict:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise SpecError(f"spec.{key} must be a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - set(allowed)) if allowed is not None else []
    if unknown:
        raise SpecError(f"spec.{key}: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(allowed)}")
    return value


_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "None": (type(None),)}


def _section(raw: dict, key: str, cls: type):
    """A spec section as its dataclass, each value checked against the field's annotation."""
    values = _mapping(raw, key, [f.name for f in fields(cls)])
    for f in fields(cls):
        if f.name in values:
            allowed = tuple(t for name in str(f.type).split(" | ") for t in _TYPES[name])
            value = values[f.name]
            if not isinstance(value, allowed) or isinstance(value, bool):
                raise SpecError(f"spec.{key}.{f.name} must be {str(f.type).replace(' | None', ' or null')}, "
                                f"got {value!r}")
    return cls(**values)


def _optuna(raw: dict, methods: tuple[str, ...]) -> OptunaSpec:
    opt = _mapping(raw, "optuna", ("trials_per_cell", "lr", "sampler_seed"))
    n = opt.get("trials_per_cell", 3)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise SpecError(f"spec.optuna.trials_per_cell must be a positive integer, got {n!r}")
    ranges = {}
    for method, bounds in _mapping(opt, "lr", methods).items():
        ok = isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds)
        if not ok or not 0 < bounds[0] <= bounds[1]:
            raise SpecError(f"spec.optuna.lr.{method} must be [low, high] with 0 < low <= high, got {bounds!r}")
        ranges[method] = (float(bounds[0]), float(bounds[1]))
    seed = opt.get("sampler_seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SpecError(f"spec.optuna.sampler_seed must be an integer, got {seed!r}")
    return OptunaSpec(n, ranges, seed)


def _training(raw: dict) -> dict[str, Any]:
    training = dict(_mapping(raw, "training", TRAINING_FIELDS))
    data = training.get("data", "demo")
    if data not in ("demo", "hub") and not Path(str(data)).expanduser().is_dir():
        raise SpecError(f"spec.training.data: {data!r} is not 'demo', 'hub' or an existing directory")
    try:  # the same checks a trial makes, before anything starts
        TrialConfig.from_dict({"method": next(iter(METHOD_CONFIGS)), "task": next(iter(TASKS)), **training})
    except (TypeError, ValueError) as err:
        raise SpecError(f"spec.training: {err}") from None
    return training


def _check_local_data(training: dict, tasks: tuple[str, ...]) -> None:
    """A local data folder must hold every task's train and validation split, laid out like the hub's."""
    data = training.get("data", "demo")
    if data in ("demo", "hub"):
        return
    root = Path(str(data)).expanduser().resolve()
    if not Path(str(data)).is_absolute():
        raise SpecError(f"spec.training.data: give an absolute path ({root}), since trials run in their own folder")
    for task in tasks:
        spec = TASKS[task]
        for split in (spec.train_split, spec.validation_split):
            try:
                local_files(root, spec, split)
            except FileNotFoundError as err:
                raise SpecError(f"spec.training.data: {err}") from None


def _models(raw: dict, ms: tuple[int, ...], methods: tuple[str, ...]) -> tuple[str, ...]:
    """Offline names must exist; paths must be folders; m must fit the vocabulary we know of."""
    models = tuple(dict.fromkeys(str(m) for m in _list(raw, "models", list(EMBEDDED_MODELS)[:1])))
    needs_m = max(ms) if any(METHOD_CONFIGS[m].has_m for m in methods) else 0
    for i, name in enumerate(models):
        if name.startswith(RANDOM_PREFIX) and not is_offline_model(name):
            raise SpecError(f"spec.models[{i}]: no architecture preset {name[len(RANDOM_PREFIX):]!r}; choose "
                            f"from: {', '.join(RANDOM_PREFIX + a for a in ARCHITECTURES)}")
        if name.startswith(("/", ".", "~")) and not Path(name).expanduser().is_dir():
            raise SpecError(f"spec.models[{i}]: {name!r} is not a directory with model weights")
        vocab = known_vocabulary(name)
        if vocab is not None and needs_m > vocab:
            raise SpecError(f"spec.m: {needs_m} superposed tokens exceed the {vocab} sampleable tokens of {name!r}")
    return models


def _scheduler(raw: dict) -> SchedulerSpec:
    sched = _section(raw, "scheduler", SchedulerSpec)
    if sched.type not in SCHEDULERS:
        raise SpecError(f"spec.scheduler.type must be one of {', '.join(SCHEDULERS)}, got {sched.type!r}")
    for name in ("grace_period", "reduction_factor"):
        value = getattr(sched, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if name == "grace_period" else 2):
            raise SpecError(f"spec.scheduler.{name} must be an integer >= {1 if name == 'grace_period' else 2}, "
                            f"got {value!r}")
    return sched


def _resources(raw: dict) -> ResourceSpec:
    res = _section(raw, "resources", ResourceSpec)
    if not res.cpus_per_trial > 0:
        raise SpecError(f"spec.resources.cpus_per_trial must be > 0, got {res.cpus_per_trial!r}")
    if res.gpus_per_trial < 0:
        raise SpecError(f"spec.resources.gpus_per_trial must be >= 0, got {res.gpus_per_trial!r}")
    if res.max_concurrent_trials is not None and res.max_concurrent_trials < 1:
        raise SpecError("spec.resources.max_concurrent_trials must be >= 1")
    return res


def _method_params(raw: dict, methods: tuple[str, ...], ms: tuple[int, ...]) -> dict[str, dict]:
    params = _mapping(raw, "method_params", methods)
    for method in methods:
        given = params.get(method) or {}
        if not isinstance(given, dict):
            raise SpecError(f"spec.method_params.{method} must be a mapping")
        if "m" in given:
            raise SpecError(f"spec.method_params.{method}.m: set m in the grid (spec.m), not per method")
        probes = [{**given, "m": m} for m in ms] if METHOD_CONFIGS[method].has_m else [given]
        for probe in probes:
            try:
                get_method_config(method, probe)
            except (TypeError, ValueError) as err:
                raise SpecError(f"spec.method_params.{method}: {err}") from None
    return {m: dict(params.get(m) or {}) for m in methods}


def parse_spec(text: str, source: str = "spec") -> SweepSpec:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"{source} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{source} must be a YAML mapping with keys {', '.join(TOP_KEYS)}")
    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        raise SpecError(f"spec: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(TOP_KEYS)}")
    methods = _choices(raw, "methods", METHOD_CONFIGS)
    ms = _ints(raw, "m", [128], 1)
    tasks = _choices(raw, "tasks", TASKS)
    training = _training(raw)
    _check_local_data(training, tasks)
    ray = _section(raw, "ray", RaySpec)
    return SweepSpec(
        name=str(raw.get("name") or Path(source).stem),
        methods=methods,
        tasks=tasks,
        models=_models(raw, ms, methods),
        m=ms,
        dropout=_dropout(raw),
        seeds=_ints(raw, "seeds", [0], 0),
        method_params=_method_params(raw, methods, ms),
        optuna=_optuna(raw, methods),
        training=training,
        scheduler=_scheduler(raw),
        resources=_resources(raw),
        ray=ray,
        text=text,
    )


def load_spec(path: str | Path) -> SweepSpec:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"no sweep spec at {path}; see orchestrator/specs/demo.yaml for an example")
    return parse_spec(path.read_text(), str(path))
