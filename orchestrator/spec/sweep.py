"""Sweep specs: YAML in, a validated `SweepSpec` out, or one `SpecError` that lists every problem.

Types and ranges come from the schema (orchestrator/spec/schema.py); the checks here span several
keys. Nothing here imports torch or starts anything, so a bad spec fails before resources are spent.
Checks that must look at the machine (can the model load, does the cluster have GPUs) are in
orchestrator/spec/preflight.py. See orchestrator/specs/demo.yaml for a commented example.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestrator.spec.schema import (
    GRID_FIELDS,
    THIS,
    LimitSpec,
    OptunaSpec,
    RaySpec,
    ResourceSpec,
    SchedulerSpec,
    SourcesSpec,
    SpecModel,
    TrackingSpec,
    TrainingSpec,
    on_off,
)
from orchestrator.spec.stages import grid_note, source_checks, stage_lines
from orchestrator.spec.text import SpecError, load_yaml, read_text, schema_problems
from workers.data import local_files
from workers.methods import METHOD_CONFIGS, get_method_config
from workers.presets import ARCHITECTURES, RANDOM_PREFIX, is_offline_model, known_vocabulary
from workers.tasks import TASKS
from workers.trial import TrialConfig

TRAINING_HINTS = {  # unknown keys that are known elsewhere
    **{("training", key): f"set per trial by the grid: use spec.{where}" for key, where in GRID_FIELDS.items()},
    **{(key,): "a training option: write it under spec.training" for key in TrainingSpec.model_fields},
}

__all__ = ["SpecError", "SweepSpec", "parse_spec", "load_spec", "OptunaSpec", "SchedulerSpec", "ResourceSpec",
           "RaySpec"]


@dataclass(frozen=True)
class SweepSpec:
    name: str
    methods: tuple[str, ...]
    tasks: tuple[str, ...]
    models: tuple[str, ...]
    m: tuple[int, ...]
    dropout: tuple[bool, ...]
    seeds: tuple[int, ...]
    method_params: dict[str, dict[str, Any]]  # fixed options per method
    method_grid: dict[str, dict[str, list]]  # per method: option -> values (m folded in for methods with m)
    optuna: OptunaSpec
    training: dict[str, Any]
    scheduler: SchedulerSpec
    resources: ResourceSpec
    ray: RaySpec
    limits: LimitSpec
    tracking: TrackingSpec
    text: str  # the YAML as given, stored with the sweep
    sources: SourcesSpec | None = None  # ATTEMPT's source prompts (orchestrator/spec/sources.py)
    method_dropout: dict[str, tuple[bool, ...]] = field(default_factory=dict)  # methods that run fewer settings

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def epochs(self) -> int:
        return self.training.get("epochs", TrialConfig.epochs)

    @property
    def replicas(self) -> int:
        """Replica trials per cell: one per seed after the first (the search seed)."""
        return len(self.seeds) - 1

    def trials_per_cell(self, method: str) -> int:
        """Search trials (the sampler's budget) plus replicas, for a cell of `method`."""
        return self.optuna.budget(method) + self.replicas

    def tasks_for(self, method: str) -> tuple[str, ...]:
        """The tasks a method's cells run: all of spec.tasks, less a source-mixing method's own source
        tasks (ATTEMPT is not run on the tasks its sources were trained on: the paper's '-')."""
        if not METHOD_CONFIGS[method].needs_sources:
            return self.tasks
        own = get_method_config(method, self.method_params.get(method, {})).sources
        return tuple(t for t in self.tasks if t not in own)

    def dropout_for(self, method: str) -> tuple[bool, ...]:
        """The dropout settings a method's cells run: spec.method_dropout's for it, else all of spec.dropout
        (in spec.dropout's order)."""
        given = self.method_dropout.get(method)
        return self.dropout if given is None else tuple(d for d in self.dropout if d in given)

    def grid_note(self) -> str:
        """What the cross product leaves out ('' when nothing): a source-mixing method's source tasks, the
        dropout settings spec.method_dropout leaves out."""
        return grid_note(self)

    def stage_lines(self, cells: list) -> list[str]:
        """A staged sweep's two stages in words (none otherwise)."""
        return stage_lines(self, cells)

    @property
    def staged(self) -> bool:
        """Do some cells consume prompts that cells of this same sweep train (spec.sources.sweep: this)?"""
        return self.sources is not None and self.sources.sweep == THIS

    def option_sets(self, method: str) -> int:
        """How many cells one method's option grid makes per task, model and dropout setting."""
        return math.prod(len(v) for v in self.method_grid[method].values())

    def n_cells(self) -> int:
        """The grid's size, computed without expanding it."""
        return len(self.models) * sum(self.option_sets(m) * len(self.tasks_for(m)) * len(self.dropout_for(m))
                                      for m in self.methods)

    def n_trials(self) -> int:
        """Every trial the grid plans (search budgets and replicas), computed without expanding it."""
        return len(self.models) * sum(self.option_sets(m) * len(self.tasks_for(m)) * len(self.dropout_for(m))
                                      * self.trials_per_cell(m) for m in self.methods)


def _method_grids(model: SpecModel, problems: list[str]) -> dict[str, dict[str, list]]:
    """Per method of the grid: its options as dimensions (checked against the method's config)."""
    for method in model.method_grid:
        if method not in model.methods:
            problems.append(f"spec.method_grid.{method}: {method} is not in spec.methods")
    for method in model.method_params:
        if method not in model.methods:
            problems.append(f"spec.method_params.{method}: {method} is not in spec.methods")
    grids = {}
    for method in model.methods:
        grid = {k: list(v) for k, v in model.method_grid.get(method, {}).items()}
        if METHOD_CONFIGS[method].has_m:
            if "m" in grid and "m" in model.model_fields_set:
                problems.append(f"spec.m and spec.method_grid.{method}.m both give {method}'s m ({list(model.m)} and "
                                f"{grid['m']}); set it in one place")
            grid.setdefault("m", list(model.m))
        allowed = METHOD_CONFIGS[method].field_names()
        fixed = model.method_params.get(method, {})
        before = len(problems)
        for option, values in grid.items():
            if option not in allowed or option in ("lr", "weight_decay"):
                problems.append(f"spec.method_grid.{method}.{option}: not an option of {method}; options: "
                                f"{', '.join(a for a in allowed if a not in ('lr', 'weight_decay'))}")
            elif not values:
                problems.append(f"spec.method_grid.{method}.{option}: give at least one value")
            elif option in fixed:
                problems.append(f"spec.method_params.{method}.{option}: also a grid dimension "
                                f"(spec.{'m' if option == 'm' else f'method_grid.{method}.{option}'}); set it in one place")
        if len(problems) > before:  # the probes below need known option names and non-empty lists
            grids[method] = grid
            continue
        probes = [{**fixed, **{o: vals[i % len(vals)] for o, vals in grid.items()}}
                  for i in range(max((len(v) for v in grid.values()), default=1))]
        where = f"spec.method_params.{method}" + (f" with spec.method_grid.{method}" if method in model.method_grid else "")
        for probe in probes:
            try:
                get_method_config(method, probe)
            except (TypeError, ValueError) as err:
                problems.append(f"{where}: {err}")
                break
        grids[method] = grid
    return grids


def _method_dropout(model: SpecModel, problems: list[str]) -> dict[str, tuple[bool, ...]]:
    """Per method, dropout settings that are a part of spec.dropout."""
    for method, settings in model.method_dropout.items():
        if method not in model.methods:
            problems.append(f"spec.method_dropout.{method}: {method} is not in spec.methods")
        extra = [d for d in settings if d not in model.dropout]
        if extra:
            problems.append(f"spec.method_dropout.{method}: {on_off(extra)} is not "
                            f"in spec.dropout ({on_off(model.dropout)}); add it "
                            "there, since spec.dropout lists every setting of the grid")
    return {m: tuple(s) for m, s in model.method_dropout.items()}


def _training(model: SpecModel, problems: list[str]) -> dict[str, Any]:
    """The keys given (types, choices and bounds are the schema's); the data folder, looked at."""
    training = model.training.model_dump(exclude_unset=True)
    data = str(training.get("data", "demo"))
    if data in ("demo", "hub"):
        return training
    root = Path(data).expanduser()
    if not root.is_dir():
        problems.append(f"spec.training.data: {data!r} is not 'demo', 'hub' or an existing directory")
    elif not root.is_absolute():
        problems.append(f"spec.training.data: give an absolute path ({root.resolve()}), since trials run in "
                        "their own folder")
    else:
        for task in model.tasks:
            spec = TASKS[task]
            for split in (spec.train_split, spec.validation_split):
                try:
                    local_files(root, spec, split)
                except FileNotFoundError as err:
                    problems.append(f"spec.training.data: {err}")
    return training


def _models(model: SpecModel, grids: dict[str, dict[str, list]], problems: list[str]) -> None:
    """Offline names must exist; paths must be folders; m must fit the vocabulary we know of."""
    needs_m = max((max(g["m"]) for g in grids.values() if g.get("m")), default=0)
    for i, name in enumerate(model.models):
        if name.startswith(RANDOM_PREFIX) and not is_offline_model(name):
            problems.append(f"spec.models[{i}]: no architecture preset {name[len(RANDOM_PREFIX):]!r}; choose "
                            f"from: {', '.join(RANDOM_PREFIX + a for a in ARCHITECTURES)}")
        elif name.startswith(("/", ".", "~")) and not Path(name).expanduser().is_dir():
            problems.append(f"spec.models[{i}]: {name!r} is not a directory with model weights")
        vocab = known_vocabulary(name)
        if vocab is not None and needs_m > vocab:
            problems.append(f"spec.m: {needs_m} superposed tokens exceed the {vocab} sampleable tokens of {name!r}")


def _cross_checks(model: SpecModel, spec: SweepSpec, problems: list[str]) -> None:
    for key in ("lr", "rates"):
        for method in getattr(model.optuna, key):
            if method not in model.methods:
                problems.append(f"spec.optuna.{key}.{method}: {method} is not in spec.methods")
    if model.scheduler.type == "asha" and model.scheduler.grace_period > spec.epochs:
        problems.append(f"spec.scheduler.grace_period: {model.scheduler.grace_period} is more than the "
                        f"{spec.epochs} epochs of a trial; lower it or raise spec.training.epochs")
    source_checks(model, spec, problems)
    device, gpus = str(spec.training.get("device", "auto")), math.ceil(model.resources.gpus_per_trial)
    if device.startswith("cuda") and int(device.partition(":")[2] or 0) >= gpus:  # a trial sees its own GPUs only
        problems.append(f"spec.training.device: {device!r}, but a trial sees {gpus} GPU(s) (Ray hides all but spec.resources"
                        ".gpus_per_trial), so every trial would fail; give trials the GPUs, or use device: auto")
    packable = [m for m in spec.methods if METHOD_CONFIGS[m].trains_prompt]
    if isinstance(model.resources.pack_size, int) and model.resources.pack_size > 1 and not packable:
        problems.append(f"spec.resources.pack_size: {model.resources.pack_size}, but nothing can be packed: "
                        f"{', '.join(spec.methods)} trains the model itself and runs alone; remove pack_size "
                        "or set it to 1")
    if spec.n_trials() > model.limits.max_trials:
        problems.append(f"spec: the grid has {spec.n_trials():,} trials ({spec.n_cells():,} cells x their search "
                        f"budget and {len(spec.seeds) - 1} replica seed(s)), more than spec.limits.max_trials = "
                        f"{model.limits.max_trials:,}; shrink a dimension or raise the limit")
    if spec.n_cells() > model.limits.max_cells:
        sizes = {"methods x options": sum(spec.option_sets(m) for m in spec.methods),
                 "tasks": len(spec.tasks), "models": len(spec.models), "dropout": len(spec.dropout)}
        problems.append(f"spec: the grid has {spec.n_cells():,} cells ({' x '.join(f'{n} {k}' for k, n in sizes.items())}), "
                        f"more than spec.limits.max_cells = {model.limits.max_cells:,}; shrink a dimension or raise "
                        "the limit")


def parse_spec(text: str, source: str = "spec") -> SweepSpec:
    raw = load_yaml(text, source)
    if not isinstance(raw, dict):
        raise SpecError(f"{source} must be a YAML mapping with keys {', '.join(SpecModel.model_fields)}")
    if {"method", "task"} <= set(raw) and not {"methods", "tasks"} & set(raw):
        raise SpecError(f"{source} is a trial config (method, task, ...), not a sweep spec: run it with `superpos "
                        "trial run FILE`, or write a sweep spec with lists (methods: [...], tasks: [...]; see "
                        "orchestrator/specs/demo.yaml)")
    try:
        model = SpecModel.model_validate(raw)
    except ValidationError as err:
        raise SpecError(schema_problems(err, SpecModel, TRAINING_HINTS), source) from None
    problems: list[str] = []
    grids = _method_grids(model, problems)
    method_dropout = _method_dropout(model, problems)
    training = _training(model, problems)
    _models(model, grids, problems)
    spec = SweepSpec(
        name=model.name or Path(source).stem, methods=tuple(model.methods), tasks=tuple(model.tasks),
        models=tuple(model.models), m=tuple(model.m), dropout=tuple(model.dropout), seeds=tuple(model.seeds),
        method_params={m: dict(model.method_params.get(m, {})) for m in model.methods}, method_grid=grids,
        optuna=model.optuna, training=training, scheduler=model.scheduler, resources=model.resources,
        ray=model.ray, limits=model.limits, tracking=model.tracking, text=text, sources=model.sources,
        method_dropout=method_dropout,
    )
    _cross_checks(model, spec, problems)
    if problems:
        raise SpecError(problems, source)
    return spec


def load_spec(path: str | Path) -> SweepSpec:
    """A spec file, or `env:NAME`: the YAML in an environment variable (how `superpos sweep submit`
    hands a spec to its job)."""
    if str(path).startswith("env:"):
        name = str(path)[4:]
        if name not in os.environ:
            raise SpecError(f"no sweep spec in the environment variable {name}")
        spec = parse_spec(os.environ[name], f"the spec in ${name}")
        return replace(spec, name=os.environ.get(f"{name}_NAME", spec.name))
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"no sweep spec at {path}; see orchestrator/specs/demo.yaml for an example")
    return parse_spec(read_text(path, "spec"), str(path))
