"""Sweep specs: YAML in, a validated `SweepSpec` out, or one `SpecError` that lists every problem.

Types and ranges come from the schema (orchestrator/spec_schema.py); the checks here span several
keys. Nothing here imports torch or starts anything, so a bad spec fails before resources are spent.
Checks that must look at the machine (can the model load, does the cluster have GPUs) are in
orchestrator/preflight.py. See orchestrator/specs/demo.yaml for a commented example.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from orchestrator.spec_schema import LimitSpec, OptunaSpec, RaySpec, ResourceSpec, SchedulerSpec, SpecModel
from workers.data import local_files
from workers.methods import METHOD_CONFIGS, get_method_config
from workers.presets import ARCHITECTURES, RANDOM_PREFIX, is_offline_model, known_vocabulary
from workers.tasks import TASKS
from workers.trial import TrialConfig

GRID_FIELDS = {"method", "task", "model", "dropout", "method_params", "lr", "weight_decay", "seed"}
TRAINING_FIELDS = [f.name for f in fields(TrialConfig) if f.name not in GRID_FIELDS]

__all__ = ["SpecError", "SweepSpec", "parse_spec", "load_spec", "OptunaSpec", "SchedulerSpec", "ResourceSpec",
           "RaySpec"]


def _cut(problem: str, limit: int = 600) -> str:
    """A problem's line stays readable whatever value it quotes."""
    return problem if len(problem) <= limit else f"{problem[:limit]}... ({len(problem) - limit:,} more characters)"


class SpecError(ValueError):
    """A sweep spec is invalid; the message names each bad key and what would be accepted."""

    def __init__(self, problems: list[str] | str, source: str = "spec"):
        self.problems = [_cut(p) for p in ([problems] if isinstance(problems, str) else problems)]
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{source}: {len(self.problems)} problems\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


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
    text: str  # the YAML as given, stored with the sweep

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

    def option_sets(self, method: str) -> int:
        """How many cells one method's option grid makes per task, model and dropout setting."""
        return math.prod(len(v) for v in self.method_grid[method].values())

    def n_cells(self) -> int:
        """The grid's size, computed without expanding it."""
        per_method = sum(self.option_sets(m) for m in self.methods)
        return per_method * len(self.tasks) * len(self.models) * len(self.dropout)

    def n_trials(self) -> int:
        """Every trial the grid plans (search budgets and replicas), computed without expanding it."""
        per_method = sum(self.option_sets(m) * self.trials_per_cell(m) for m in self.methods)
        return per_method * len(self.tasks) * len(self.models) * len(self.dropout)


MAX_SPEC_BYTES = 256_000  # a spec is a small file; anything larger is refused before it is parsed
MAX_SPEC_VALUES = 50_000  # values once YAML aliases are expanded (a "billion laughs" file expands to billions)
MAX_SPEC_DEPTH = 50  # nesting of mappings and lists
MAX_SHOWN = 120  # characters of a bad value an error message shows


def _short(value: Any) -> str:
    """A value as an error message shows it: its repr, cut to MAX_SHOWN characters."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}... ({len(text):,} characters)"


def _expanded(node: yaml.Node, memo: dict[int, int], depth: int = 0) -> int:
    """How many values `node` stands for once every alias is expanded (shared nodes counted each
    time they are used, each computed once), refusing deep nesting as it goes."""
    if depth > MAX_SPEC_DEPTH:
        raise SpecError(f"the YAML nests deeper than {MAX_SPEC_DEPTH} levels; a sweep spec is a few levels deep")
    if id(node) not in memo:
        children = node.value if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)) else []
        items = [part for pair in children for part in pair] if isinstance(node, yaml.MappingNode) else children
        memo[id(node)] = 1 + sum(_expanded(child, memo, depth + 1) for child in items)
    return memo[id(node)]


def _load_yaml(text: str, source: str) -> Any:
    """yaml.safe_load with bounds: size, nesting and alias expansion are checked on the composed node
    graph (where an alias is one shared node), before anything is expanded."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"{source} is {len(text):,} characters; a sweep spec is a small YAML file (at most "
                        f"{MAX_SPEC_BYTES:,})")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            values = _expanded(root, {})
            if values > MAX_SPEC_VALUES:
                raise SpecError(f"{source} expands to {values:,} values once its YAML aliases (&name / *name) are "
                                f"followed, more than {MAX_SPEC_VALUES:,}; write the values out, or use fewer aliases")
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"{source} is not valid YAML: {err}") from None
    except RecursionError:
        raise SpecError(f"{source} nests too deeply to be a sweep spec") from None
    except ValueError as err:  # e.g. an integer of thousands of digits
        raise SpecError(f"{source} holds a value that cannot be read: {_cut(str(err), 200)}") from None


def _path(loc: tuple) -> str:
    out = "spec"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


UNION_TAG = re.compile(r"^(int|bool|str|float|none|[a-z-]+\[.*\])$")  # pydantic's name of a union's member


def _schema_problems(err: ValidationError) -> list[str]:
    """One line per bad key in the product's words: a union's alternatives (pydantic reports each
    under its own tag, e.g. `pack_size.int` and `pack_size.literal['auto']`) become one line."""
    merged: dict[tuple, list[dict]] = {}
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and UNION_TAG.match(p)))
        merged.setdefault(loc, []).append(e)
    problems = []
    for loc, errors in merged.items():
        first = errors[0]
        if first["type"] == "extra_forbidden":
            msg = "unknown key; see `superpos sweep schema` for the allowed ones"
        elif len(errors) > 1:
            wanted = dict.fromkeys(e["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
                                   for e in errors)
            msg = "must be " + " or ".join(wanted)
        else:
            msg = first["msg"].removeprefix("Value error, ")
        shown = first.get("input")
        got = "" if first["type"] in ("missing", "value_error") or isinstance(shown, dict) else f" (got {_short(shown)})"
        problems.append(f"{_path(loc)}: {msg}{got}")
    return problems


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


def _training(model: SpecModel, problems: list[str]) -> dict[str, Any]:
    training = dict(model.training)
    unknown = sorted(set(training) - set(TRAINING_FIELDS))
    if unknown:
        problems.append(f"spec.training: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(TRAINING_FIELDS)}")
        return training
    try:  # the same checks a trial makes, before anything starts
        TrialConfig.from_dict({"method": next(iter(METHOD_CONFIGS)), "task": next(iter(TASKS)), **training})
    except (TypeError, ValueError) as err:
        problems.append(f"spec.training: {err}")
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
    raw = _load_yaml(text, source)
    if not isinstance(raw, dict):
        raise SpecError(f"{source} must be a YAML mapping with keys {', '.join(SpecModel.model_fields)}")
    try:
        model = SpecModel.model_validate(raw)
    except ValidationError as err:
        raise SpecError(_schema_problems(err), source) from None
    problems: list[str] = []
    grids = _method_grids(model, problems)
    training = _training(model, problems)
    _models(model, grids, problems)
    spec = SweepSpec(
        name=model.name or Path(source).stem, methods=tuple(model.methods), tasks=tuple(model.tasks),
        models=tuple(model.models), m=tuple(model.m), dropout=tuple(model.dropout), seeds=tuple(model.seeds),
        method_params={m: dict(model.method_params.get(m, {})) for m in model.methods}, method_grid=grids,
        optuna=model.optuna, training=training, scheduler=model.scheduler, resources=model.resources,
        ray=model.ray, limits=model.limits, text=text,
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
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"{path} is not a text (UTF-8) file: byte {err.start} cannot be read; a spec is YAML") from None
    return parse_spec(text, str(path))
