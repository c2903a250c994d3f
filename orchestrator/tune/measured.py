"""What the plan is built from: each task's examples per epoch, and throughput measured on a device.

The throughput table (orchestrator/throughput.json for GPU sweeps, throughput-cpu.json for CPU ones,
or `sweep plan --throughput FILE`) holds:
- `rows`: one eager trial's training and evaluation examples/s per (architecture, precision, method),
  optionally per task too (a row with `task` wins for that task: measured at its real input lengths);
- `packing`: the aggregate training speed-up of k stacked trials over one eager trial (eager and
  compiled curves), the speed-up of evaluating k members together (`eval_speedup`; with the encoder
  compiled: `compiled_eval_speedup`), and the seconds a compile of one new shape takes
  (`compile_s_per_shape`; of a packed evaluation's encoder: `eval_compile_s_per_shape`);
- `overheads`: seconds per member start-up (`trial_s`), per member epoch (`epoch_s`) and per new worker
  process (`worker_s`).
Each section has its provenance (device, date, command). What a table lacks counts as 1x or 0 s,
and the plan says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from orchestrator.spec import SweepSpec
from orchestrator.tune.input_widths import SAMPLE, Curve, Profile, read_lengths
from orchestrator.tune.pack_time import MemberLoad, Speeds, steps_per_epoch
from orchestrator.tune.packing import compile_enabled, nominal_pack_size
from workers.data import DEMO_DATA_DIR, load_rows, local_files
from workers.members import planned_epochs
from workers.methods import METHOD_CONFIGS, get_method_config
from workers.presets import RANDOM_PREFIX
from workers.tasks import get_task

THROUGHPUT = Path(__file__).resolve().parents[1] / "throughput.json"  # measured on a GPU
THROUGHPUT_CPU = THROUGHPUT.with_name("throughput-cpu.json")  # measured on a CPU (scripts/benchmarks/schedule.py)
SAMPLE_NOTE = f"a seeded sample of up to {SAMPLE:,} training examples each, tokenized as the trials do"
DEFAULTS = {"batch_size": 32, "eval_batch_size": 64, "max_source_tokens": 256}  # TrialConfig's (workers/trial.py)


@dataclass(frozen=True)
class TaskLoad:
    task: str
    train: int  # examples per epoch
    validation: int
    source: str  # where the sizes come from


def task_load(spec: SweepSpec, task: str) -> TaskLoad:
    """Examples per epoch of one task: the demo copy's or a local folder's (any layout the trials read:
    .jsonl, .json, .parquet; counted as the trials load them), else the hub's sizes;
    `max_train_samples` / `max_eval_samples` cap them."""
    t = get_task(task)
    data = str(spec.training.get("data", "demo"))
    root = DEMO_DATA_DIR if data == "demo" else Path(data)
    try:
        if data == "hub":
            raise FileNotFoundError
        for split in (t.train_split, t.validation_split):
            local_files(root, t, split)
        train, validation = (len(load_rows(t, split, data)) for split in (t.train_split, t.validation_split))
        source = "demo copy" if data == "demo" else "local"
    except FileNotFoundError:
        (train, validation), source = t.hub_sizes, "hub sizes"
    cap_train, cap_eval = spec.training.get("max_train_samples"), spec.training.get("max_eval_samples")
    return TaskLoad(task, min(train, cap_train or train), min(validation, cap_eval or validation), source)


def train_sizes(spec: SweepSpec, loads: dict[str, TaskLoad] | None = None) -> dict[str, int]:
    """Training examples per epoch by task: the searcher packs tasks of near sizes together. A task
    whose data cannot be read has no size here: its trials fail alone, as they would without packing."""
    sizes = {}
    for task in spec.tasks:
        try:
            sizes[task] = per_epoch(spec, (loads or {}).get(task) or task_load(spec, task))[0]
        except (OSError, ValueError):  # a broken file: the trial that reads it says what is wrong
            continue
    return sizes


def per_epoch(spec: SweepSpec, load: TaskLoad) -> tuple[int, int]:
    """(examples trained, examples evaluated) per epoch under the sweep's protocol: `holdout_train`
    takes its selection examples out of train and evaluates them beside validation."""
    if spec.training.get("eval_protocol", "paper") != "holdout_train":
        return load.train, load.validation
    holdout = spec.training.get("holdout_size") or max(1, load.train // 10)
    return load.train - holdout, load.validation + holdout


ROW_KEYS = ("architecture", "precision", "method", "train_examples_per_s", "eval_examples_per_s")  # what plans read


def load_throughput(path: Path | str | None = THROUGHPUT, spec: SweepSpec | None = None) -> dict:
    """A throughput table; `path` None: the shipped one for the spec's device (GPU, else CPU)."""
    if path is None:
        path = THROUGHPUT if spec is None or spec.resources.gpus_per_trial else THROUGHPUT_CPU
    path = Path(path)
    if not path.is_file():
        return {"provenance": {}, "rows": []}
    try:
        table = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a throughput table (not JSON: {err}); "
                         "`python -m scripts.benchmarks.schedule --table FILE` writes one") from None
    if not isinstance(table, dict) or not isinstance(table.get("rows"), list):
        raise ValueError(f"{path} is not a throughput table (a JSON object with a list of \"rows\", "
                         "as orchestrator/throughput.json); `python -m scripts.benchmarks.schedule --table FILE` writes one")
    for number, row in enumerate(table["rows"]):
        lacks = [key for key in ROW_KEYS if not isinstance(row, dict) or key not in row]
        if lacks:
            raise ValueError(f"{path}: row {number} of the throughput table lacks {', '.join(lacks)} (each row has "
                             f"{', '.join(ROW_KEYS)}, as orchestrator/throughput.json)")
    return table


def architecture(model: str) -> str:
    return model.removeprefix(RANDOM_PREFIX)


def measured_eval_batch(row: dict) -> int | None:
    """The batch a row's evaluation rate was measured at (a row written before the table said so was
    measured at its training batch; None where the row says neither)."""
    found = row.get("eval_batch_size") or row.get("batch_size")
    return None if found is None else int(found)


class Rates:
    """Per-member loads and per-trial speeds from one throughput table, with what it lacks noted."""

    def __init__(self, spec: SweepSpec, table: dict, read_hub: bool = False):
        self.spec, self.read_hub = spec, read_hub
        self.lengths: dict[tuple, tuple[list[int] | None, str]] = {}  # (task, model, template, tokens) -> read_lengths
        self.precision = spec.training.get("precision", "fp32")
        self.rows = {(r["architecture"], r["precision"], r["method"], r.get("task")): r for r in table["rows"]}
        self.loads = {task: task_load(spec, task) for task in spec.tasks}
        self.missing: set[tuple[str, str, str]] = set()
        self.proxied: set[tuple[str, str]] = set()
        self.flat: dict[str, set[str]] = {}  # architecture -> the steps priced without seconds by width
        self.eager_ft: set[str] = set()  # architectures whose compiled full fine-tuning is not measured
        self.solo_curve_packs: set[str] = set()  # architectures whose compiled packs are priced by a solo curve
        self.eval_batches: dict[tuple[int, int], set[str]] = {}  # (measured at, trials') eval batch -> architectures
        packing = table.get("packing") or {}
        self.curves = packing.get("train_speedup_over_solo_eager") or {}
        self.pack_widths = packing.get("compiled_step_s_by_width") or {}  # by architecture (scripts.benchmarks.pack_widths)
        self.eval_curve = packing.get("eval_speedup") or {}
        if compile_enabled(spec) and packing.get("compiled_eval_speedup"):  # a compiled pack's evaluation
            self.eval_curve = packing["compiled_eval_speedup"]
        self.compile_s = packing.get("compile_s_per_shape")
        self.eval_compile_s = packing.get("eval_compile_s_per_shape")  # else compile_s: an upper bound
        self.overheads = table.get("overheads") or {}

    def row(self, model: str, method: str, task: str) -> dict | None:
        arch = architecture(model)
        for name in (method, METHOD_CONFIGS[method].planned_like):
            for key in ((arch, self.precision, name, task), (arch, self.precision, name, None)):
                if name and key in self.rows:
                    if name != method:
                        self.proxied.add((method, name))
                    return self.rows[key]
        self.missing.add((arch, self.precision, method))
        return None

    def member(self, config: dict) -> MemberLoad:
        trial = config["trial"]
        method, task, model = trial["method"], trial["task"], trial["model"]
        batch = int(trial.get("batch_size", DEFAULTS["batch_size"]))
        train, evaluated = per_epoch(self.spec, self.loads[task])
        row = self.row(model, method, task)
        config_of = get_method_config(method, trial.get("method_params") or {})
        prompt = getattr(config_of, "n_tokens", None) or 0
        source = int(trial.get("max_source_tokens", DEFAULTS["max_source_tokens"]))
        rate = row and row["train_examples_per_s"]
        eval_batch = int(trial.get("eval_batch_size", DEFAULTS["eval_batch_size"]))
        measured_at = measured_eval_batch(row) if row else None
        if measured_at not in (None, eval_batch):
            self.eval_batches.setdefault((measured_at, eval_batch), set()).add(architecture(model))
        if row and compile_enabled(self.spec) and not config_of.trains_prompt:  # full fine-tuning, compiled
            rate = row.get("compiled_train_examples_per_s") or rate
            if "compiled_train_examples_per_s" not in row:
                self.eager_ft.add(architecture(model))
        return MemberLoad(model, method, batch, steps_per_epoch(train, batch), planned_epochs(config), evaluated,
                          1 / rate if row else 0.0, 1 / row["eval_examples_per_s"] if row else 0.0,
                          prompt + source, train, eval_batch,
                          self.profile(trial, prompt, source),
                          *self.width_curves(row, prompt, compile_enabled(self.spec) and config_of.trains_prompt))

    def profile(self, trial: dict, prompt: int, source: int) -> Profile | None:
        """The member's input widths, from its task's data (None where it cannot be read)."""
        template = trial.get("template", "reference")  # a trial config holds the spec's training keys (TrialConfig's defaults)
        key = (trial["task"], trial["model"], template, source)
        if key not in self.lengths:
            self.lengths[key] = read_lengths(trial["task"], trial["model"], str(trial.get("data", "demo")), template,
                                             source, trial.get("revisions"), self.read_hub)
        lengths = self.lengths[key][0]
        return Profile.of(lengths, prompt, prompt + source) if lengths else None

    def width_curves(self, row: dict | None, prompt: int, compiled_pack: bool = False) -> tuple[Curve, Curve]:
        """A row's step seconds by encoder width, relative to its own width; none (1x) for a row
        measured per task (at that task's real lengths already) or without them. A compiled pack's
        steps take its architecture's compiled-pack curve where the table has one (packing
        `compiled_step_s_by_width`), else the row's own (one eager trial's)."""
        if not row or row.get("task"):
            return Curve(), Curve()
        at = prompt + int(row.get("source_tokens", DEFAULTS["max_source_tokens"]))
        arch, train, evaluate = row["architecture"], row.get("train_step_s_by_width"), row.get("eval_batch_s_by_width")
        if compiled_pack and arch in self.pack_widths:
            train = self.pack_widths[arch]
        elif compiled_pack and train:
            self.solo_curve_packs.add(arch)
        for step, curve in (("training", train), ("evaluation", evaluate)):
            if not curve:
                self.flat.setdefault(arch, set()).add(step)
        return Curve.of(train, at), Curve.of(evaluate, at)

    def widths_note(self) -> list[str]:
        """Where the inputs' widths come from, per task: said beside the figures."""
        read = sorted({key[0] for key, (lengths, _) in self.lengths.items() if lengths})
        unread = {key[0]: why for key, (lengths, why) in self.lengths.items() if not lengths}
        lines = []
        if read:
            lines.append(f"input widths read from {', '.join(read)} ({SAMPLE_NOTE})")
        if unread:
            whys = sorted(set(unread.values()))
            lines.append(f"inputs taken at full length (an upper bound) for {', '.join(sorted(unread))}: "
                         + "; ".join(whys))
        return lines

    def speeds(self, configs: list[dict]) -> Speeds:
        """A Tune trial's speeds: prompt methods train on a shared frozen model (packed, compiled per the
        spec); full fine-tuning alone and eager."""
        trial = configs[0]["trial"]
        compiled = compile_enabled(self.spec)
        if not get_method_config(trial["method"]).trains_prompt:  # its rate is already the compiled one
            return Speeds({1: 1.0}, compiled=compiled, compile_s=float(self.compile_s or 0.0) if compiled else 0.0,
                          own_model=True, **self._overheads())
        curve = self.curves.get("compiled" if compiled else "eager") or {"1": 1.0}
        eval_curve = self.eval_curve.get(self.spec.training.get("eval_mode", "generate")) or {"1": 1.0}
        compile_s = float(self.compile_s or 0.0) if compiled else 0.0
        return Speeds({int(k): float(v) for k, v in curve.items()}, {int(k): float(v) for k, v in eval_curve.items()},
                      compiled, compile_s, eval_compile_s=float(self.eval_compile_s or compile_s) if compiled else 0.0,
                      **self._overheads())

    def _overheads(self) -> dict[str, float]:
        return {name: float(self.overheads.get(name, 0.0)) for name in ("trial_s", "worker_s", "epoch_s")}

    def unmeasured(self) -> list[str]:
        """What the table lacks that the plan needed: said beside the figures."""
        shared = nominal_pack_size(self.spec) > 1 or compile_enabled(self.spec)
        notes, packed = [], shared and any(get_method_config(m).trains_prompt for m in self.spec.methods)
        if packed and not self.curves.get("compiled" if compile_enabled(self.spec) else "eager"):
            notes.append("the pack speed-up (planned at 1x)")
        if packed and not self.eval_curve.get(self.spec.training.get("eval_mode", "generate")):
            notes.append("packed evaluation (planned at the unpacked rate)")
        if compile_enabled(self.spec) and not self.compile_s:
            notes.append("compile time (planned at 0 s)")
        elif packed and compile_enabled(self.spec) and not self.eval_compile_s:
            notes.append("packed evaluation's compile time (planned at the training step's seconds per shape)")
        if self.eager_ft:
            notes.append(f"compiled full fine-tuning on {', '.join(sorted(self.eager_ft))} (planned at the eager rate; "
                         "`python -m scripts.benchmarks.throughput --compile` measures it)")
        if self.flat and any(lengths for lengths, _ in self.lengths.values()):
            flat = ", ".join(f"{' and '.join(sorted(steps, reverse=True))} on {arch}" for arch, steps in sorted(self.flat.items()))
            notes.append(f"seconds by input width: {flat} (the inputs read are planned at the "
                         "width the table was measured at; `python -m scripts.benchmarks.throughput --widths` measures them)")
        if self.solo_curve_packs and any(lengths for lengths, _ in self.lengths.values()):
            notes.append(f"a compiled pack's seconds by input width on {', '.join(sorted(self.solo_curve_packs))} (planned by "
                         "one eager trial's curve, which short inputs help less than a compiled pack; "
                         "`python -m scripts.benchmarks.pack_widths` measures it)")
        if self.eval_batches:
            which = "; ".join(f"measured at batch {m}, trials evaluate at {t}: {', '.join(sorted(names))}"
                              for (m, t), names in sorted(self.eval_batches.items()))
            notes.append(f"evaluation at the trials' own batch size ({which}; planned at the measured seconds per "
                         "example, which overestimates a larger batch on a GPU, where a batch's time grows less than "
                         "its size; `python -m scripts.benchmarks.throughput` measures it at a trial's batch)")
        if not self.overheads:
            notes.append("worker and trial start-up, per-epoch checkpoints (planned at 0 s)")
        return notes

