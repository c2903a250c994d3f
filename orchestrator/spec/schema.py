"""The sweep spec's typed schema (pydantic v2): field types, ranges and help in one place.

`superpos sweep schema` prints it as JSON Schema so editors can complete and check spec files.
Checks that span several keys (m against a model's vocabulary, an option grid against the method's
config, ASHA's grace period against the epochs) live in orchestrator/spec/sweep.py, which reports every
problem of a spec at once.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, create_model, field_validator

from orchestrator.spec.ray_section import RaySpec
from orchestrator.spec.section import Section
from workers.methods import METHOD_CONFIGS
from workers.tasks import TASKS
from workers.trial import TrialConfig

MethodId = Literal[tuple(METHOD_CONFIGS)]  # type: ignore[valid-type]
TaskId = Literal[tuple(TASKS)]  # type: ignore[valid-type]
SAMPLERS = ("tpe", "random", "gp", "fixed")


def _on_off(value: Any) -> Any:
    """YAML reads on/off as booleans; quoted 'on'/'off' mean the same."""
    return {"on": True, "off": False}.get(value, value) if isinstance(value, str) else value


OnOff = Annotated[bool, BeforeValidator(_on_off)]


def on_off(settings, joiner: str = ", ") -> str:
    """Dropout settings as a spec writes them: 'on, off'."""
    return joiner.join("on" if d else "off" for d in settings)


def _unique(values: list) -> list:
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"listed more than once: {', '.join(repeated)}; list each value once")
    return values


class OptunaSpec(Section):
    """How each cell's learning rate is chosen: one Optuna study per cell."""

    sampler: Literal[SAMPLERS] = Field(  # type: ignore[valid-type]
        "tpe", description="tpe | random | gp (Gaussian process) | fixed (the `rates` below, no search)")
    trials_per_cell: int = Field(3, ge=1, description="learning rates tried per cell (not for sampler: fixed)")
    lr: dict[MethodId, list[float]] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="method -> [low, high], log scale; default: the paper's lr x [1/10, 10]")
    rates: dict[MethodId, list[float]] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="sampler fixed: method -> the rates to run; default: the paper's rate")
    sampler_seed: int = Field(0, description="seeds every study's sampler (with the cell and the trial number)")
    startup_trials: int | None = Field(
        None, ge=1, description="random trials before TPE/GP model the results; default: a third of the budget, "
                                "at least 2 and at most 10")

    @field_validator("lr")
    @classmethod
    def _ranges(cls, value: dict) -> dict:
        for method, bounds in value.items():
            if len(bounds) != 2 or not 0 < bounds[0] <= bounds[1]:
                raise ValueError(f"{method}: give [low, high] with 0 < low <= high, got {bounds}")
        return value

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: dict) -> dict:
        for method, rates in value.items():
            if not rates or any(r <= 0 for r in rates):
                raise ValueError(f"{method}: give a non-empty list of positive rates, got {rates}")
            _unique(rates)
        return value

    def lr_range(self, method: str) -> tuple[float, float]:
        """The spec's range, else the paper's learning rate x [1/10, 10]."""
        if method in self.lr:
            low, high = self.lr[method]
            return float(low), float(high)
        default = METHOD_CONFIGS[method].lr
        return default / 10, default * 10

    def fixed_rates(self, method: str) -> list[float]:
        return [float(r) for r in self.rates.get(method, [METHOD_CONFIGS[method].lr])]

    def budget(self, method: str) -> int:
        """Search trials per cell of `method`."""
        return len(self.fixed_rates(method)) if self.sampler == "fixed" else self.trials_per_cell

    def n_startup(self, budget: int) -> int:
        """TPE and GP sample at random until this many trials have finished. Optuna's default (10)
        would make a budget of 3 pure random search; a third of the budget keeps a model-guided part."""
        return self.startup_trials or min(10, max(2, budget // 3))


# TrialConfig fields that the grid, the searcher and the seeds set per trial (not in spec.training), and
# where a spec sets them
GRID_FIELDS = {"method": "methods", "task": "tasks", "model": "models", "dropout": "dropout", "seed": "seeds",
               "method_params": "method_params", "lr": "optuna (the search sets each trial's rate)",
               "weight_decay": "method_params.<method>.weight_decay",
               "source_prompts": "sources (ATTEMPT's source prompts: published by an earlier sweep in the store)"}


def _training_spec() -> type[Section]:
    """spec.training: every other TrialConfig field, with its type, bounds, default and help (one
    definition: workers/trial.py)."""
    types, columns = TrialConfig.types(), {}
    for f in fields(TrialConfig):
        if f.name in GRID_FIELDS:
            continue
        bounds = {key: f.metadata[key] for key in ("ge", "pattern") if key in f.metadata}
        if "pattern" in bounds:
            bounds["pattern"] = f"^({bounds['pattern']})$"
        default = {"default_factory": f.default_factory} if f.default_factory is not MISSING else {
            "default": f.default}
        columns[f.name] = (types[f.name], Field(description=f.metadata["help"], **default, **bounds))
    return create_model("TrainingSpec", __base__=Section, __doc__="Training options of every trial (superpos trial "
                        "run --help lists the same)", **columns)


TrainingSpec = _training_spec()


class SchedulerSpec(Section):
    """Early stopping. fifo: every trial runs all its epochs. asha: within each cell, ASHA stops trials
    whose best validation score so far trails the cell's other trials at the same epoch."""

    type: Literal["fifo", "asha"] = "fifo"
    grace_period: int = Field(1, ge=1, description="epochs before the first stopping decision")
    reduction_factor: int = Field(3, ge=2, description="keep the top 1/reduction_factor at each rung")


class ResourceSpec(Section):
    cpus_per_trial: float = Field(1, gt=0, description="CPUs per trial; also torch's thread count")
    gpus_per_trial: float = Field(0, ge=0, description="GPUs per trial (fractions share a GPU)")
    max_concurrent_trials: int | None = Field(None, ge=1)
    retries: int = Field(0, ge=0, description="re-runs of a failed trial (from its last epoch's checkpoint), "
                                              "live and on resume together")
    cache_models: bool = Field(True, description="keep the frozen model and encoded data in each worker process "
                                                 "between trials")
    pack_size: int | Literal["auto"] = Field("auto", description="trials trained together on one shared frozen "
                                                                 "model in one worker (prompt methods; full "
                                                                 "fine-tuning runs alone); auto: with GPUs, as many "
                                                                 "as fit the GPU's memory, at most 8; without, 1 "
                                                                 "(orchestrator/tune/packing.py)")
    continuous_packing: bool = Field(True, description="a pack takes new trials (of cells sharing its frozen model, "
                                                       "nearest first) as its members leave, so its slot never idles "
                                                       "on a pack's last members (orchestrator/tune/pack_fill.py)")
    compile: bool | Literal["auto"] = Field("auto", description="torch.compile the T5's training step (a pack's "
                                                                "frozen model, full fine-tuning's own; widths "
                                                                "bucketed so shapes repeat; falls back to eager with "
                                                                "a warning); auto: on with GPUs")

    @field_validator("pack_size")
    @classmethod
    def _pack_size(cls, value):
        if isinstance(value, int) and not 1 <= value <= 64:
            raise ValueError("must be 1..64 or 'auto'")
        return value


class MlflowSpec(Section):
    tracking_uri: str = Field(min_length=1, description="an MLflow tracking URI, e.g. sqlite:///mlflow.db or "
                                                        "http://host:5000")
    experiment: str | None = Field(None, min_length=1, description="the MLflow experiment (default: the sweep's name)")


class TrackingSpec(Section):
    """Optional mirrors of the results in other tools; the results store stays the record."""

    mlflow: MlflowSpec | None = Field(None, description="one MLflow run per trial (pack members too), named by cell "
                                                        "key and trial number, with its parameters and every "
                                                        "epoch's metrics (needs the mlflow package)")


THIS = "this"  # spec.sources.sweep: the sources are trained by this sweep's own cells (stages)


class SourcesSpec(Section):
    """Where ATTEMPT's source prompts come from: the prompts a sweep published (each of its cells'
    chosen trial, at its peak epoch), one per source task, on the same model and with the same
    n_tokens: an earlier sweep in this store, or this one (`this`: its source cells run first and the
    consuming cells start as soon as their sources have a chosen trial). Consuming trials record each
    prompt's sha256."""

    sweep: int | str = Field(description="'this' (this sweep's own cells train them), or an earlier sweep: its id, "
                                         "or its name (the newest sweep of that name; superpos sweep list)")
    method: MethodId = Field("prompt_tuning", description="the method of its cells that trained them")  # type: ignore[valid-type]
    dropout: OnOff | None = Field(None, description="its cells with this dropout (default: the consuming cell's "
                                                    "setting, else the only one it ran)")


class LimitSpec(Section):
    max_cells: int = Field(10_000, ge=1, description="refuse grids larger than this (a typo guard)")
    max_trials: int = Field(100_000, ge=1, description="refuse grids that plan more trials than this (search "
                                                       "budgets and replicas; a typo guard)")


class SpecModel(Section):
    """A sweep: the grid (methods x tasks x models x method options x dropout), the learning-rate search
    per cell, seeds as replicas of each cell's chosen rate, training options, scheduling, resources."""

    name: str | None = Field(None, min_length=1, max_length=200, description="the sweep's name (default: the "
                                                                               "spec file's name)")
    methods: list[MethodId] = Field(min_length=1)  # type: ignore[valid-type]
    tasks: list[TaskId] = Field(min_length=1)  # type: ignore[valid-type]
    models: list[str] = Field(["tiny-t5"], min_length=1,
                              description="tiny-t5 (random weights), tiny-t5-lm-adapt (pretrained), random:<architecture preset>, a hub id or a local directory")
    m: list[int] = Field([128], min_length=1, description="superposed embeddings per token: a grid dimension of "
                                                          "every method that has m (shorthand for method_grid)")
    dropout: list[OnOff] = Field([True], min_length=1, description="on | off: every dropout of the frozen model")
    method_dropout: dict[MethodId, list[OnOff]] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="per method, the dropout settings its cells run instead of all of "
                                          "spec.dropout, e.g. {full_finetune: [on]} (the paper's Table 1)")
    seeds: list[int] = Field([0], min_length=1, description="the first seed searches; the others replicate each "
                                                            "cell's chosen learning rate")
    method_params: dict[MethodId, dict[str, Any]] = Field(default_factory=dict,  # type: ignore[valid-type]
                                                          description="fixed method options")
    method_grid: dict[MethodId, dict[str, list[Any]]] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="method options as grid dimensions, e.g. {superpos_prompt: {softmax: "
                                          "[false, true]}}")
    optuna: OptunaSpec = Field(default_factory=OptunaSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)  # type: ignore[valid-type]
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    resources: ResourceSpec = Field(default_factory=ResourceSpec)
    ray: RaySpec = Field(default_factory=RaySpec)
    limits: LimitSpec = Field(default_factory=LimitSpec)
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    sources: SourcesSpec | None = Field(None, description="ATTEMPT's source prompts: an earlier sweep's published "
                                                          "prompts (needed when spec.methods has attempt)")

    _unique_lists = field_validator("methods", "tasks", "models", "m", "dropout", "seeds")(_unique)

    @field_validator("method_dropout")
    @classmethod
    def _method_dropout(cls, value: dict[str, list[bool]]) -> dict[str, list[bool]]:
        for method, settings in value.items():
            if not settings:
                raise ValueError(f"{method}: give at least one dropout setting (on, off)")
            _unique(settings)
        return value

    @field_validator("m")
    @classmethod
    def _positive_m(cls, value: list[int]) -> list[int]:
        if any(v < 1 for v in value):
            raise ValueError(f"every m must be >= 1, got {value}")
        return value

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: list[int]) -> list[int]:
        if any(v < 0 for v in value):
            raise ValueError(f"seeds must be >= 0, got {value}")
        return value


def json_schema() -> dict:
    return SpecModel.model_json_schema()
