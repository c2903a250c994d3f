"""One trial: build the frozen T5 + method, train, evaluate after every epoch, report.

Runs without Ray and without a database: `report` is any callable taking a dict of metrics (Ray's
`tune.report`, a JSON printer, a list's append). The solo path (`superpos trial run`, a Tune trial of
one); a pack of several trials on one model is workers/pack.py, and both build on workers/member.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Literal, get_args, get_type_hints

from workers.members import DEFAULT_EPOCHS
from workers.methods import get_method_config
from workers.tasks import TEMPLATES, get_task

Report = Callable[[dict[str, Any]], None]

EvalMode = Literal["generate", "rank"]  # what they do: workers/evaluation.py
EvalProtocol = Literal["paper", "holdout_validation", "holdout_train"]  # workers/protocols.py
Precision = Literal["fp32", "bf16"]  # workers/assembly.py
Template = Literal[tuple(TEMPLATES)]  # type: ignore[valid-type]  # workers/tasks.py
EVAL_MODES, PROTOCOLS, PRECISIONS = get_args(EvalMode), get_args(EvalProtocol), get_args(Precision)


DEVICES = r"auto|cpu|mps|cuda(:\d+)?"  # torch devices a trial can train on


def _opt(default: Any, help: str, **bounds: Any) -> Any:
    """A TrialConfig field whose help text is the one documentation of the option (CLI help, the spec's
    JSON Schema, README); `bounds` (ge=1, pattern=REGEX) are checked by both."""
    metadata = {"help": help, **bounds}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrialConfig:
    """Everything one trial needs; saved with its results so a run can be repeated. The spec's
    `training` section is these fields less the grid's (orchestrator/spec/schema.py TrainingSpec)."""

    method: str = field(metadata={"help": "method id: prompt_tuning, superpos_prompt, residual_prompt, full_finetune"})
    task: str = field(metadata={"help": "task id, one of the 13 of workers/tasks.py"})
    model: str = _opt("tiny-t5", "tiny-t5 (random weights), tiny-t5-lm-adapt (pretrained), random:<architecture preset>, a hub id or a local directory")
    dropout: bool = _opt(True, "false: every dropout of the frozen model is off, also in train mode")
    method_params: dict[str, Any] = _opt({}, "method options, e.g. {m: 128, n_tokens: 10}")
    lr: float | None = _opt(None, "learning rate; null: the method's default (the paper's)")
    weight_decay: float | None = _opt(None, "AdamW weight decay; null: the method's default")
    epochs: int = _opt(DEFAULT_EPOCHS, "training epochs; evaluation after each", ge=1)
    batch_size: int = _opt(32, "training batch size", ge=1)
    eval_batch_size: int = _opt(64, "evaluation batch size", ge=1)
    seed: int = _opt(0, "training seed (data order, initialisation of non-sampled weights)")
    data: str = _opt("demo", "demo (bundled), hub, or an absolute path to a folder laid out like the hub's")
    max_train_samples: int | None = _opt(None, "seeded subsample of the training set; null: all", ge=1)
    max_eval_samples: int | None = _opt(None, "seeded subsample of the validation split; null: all", ge=1)
    max_source_tokens: int = _opt(256, "inputs are truncated to this many tokens", ge=1)
    eval_mode: EvalMode = _opt("generate", "generate (greedy, the paper's) or rank (label likelihoods)")
    eval_protocol: EvalProtocol = _opt("paper", "paper, holdout_validation or holdout_train (workers/protocols.py)")
    template: Template = _opt("reference", "task formats: reference (Residual Prompt Tuning's code), "
                                           "reference_hub_fields (the same with the hub's field names) or "
                                           "keyvalue (workers/tasks.py)")
    holdout_size: int | None = _opt(None, "examples held out for selection under a holdout protocol", ge=1)
    device: str = _opt("auto", "auto (cuda when available, else cpu), cpu, cuda, cuda:N, mps", pattern=DEVICES)
    precision: Precision = _opt("fp32", "fp32 or bf16: prompt methods run the frozen T5 in bfloat16 (their own "
                                        "parameters stay float32); full fine-tuning keeps float32 weights and "
                                        "computes in bfloat16 (autocast)")
    output_dir: str | None = _opt(None, "where to save the trainable parameters (final and peak); null: nowhere")
    source_prompts: dict[str, str] = _opt({}, "attempt: source task -> its prompt (an artefact file or a PEFT adapter "
                                              "folder from `superpos export prompt`); a sweep fills it from the store")
    revisions: dict[str, str] = _opt({}, "hub id -> revision (branch, tag or commit) of a model or dataset loaded "
                                         "from the hub; a sweep pins each one it loads to the commit it resolved")

    @classmethod
    def types(cls) -> dict[str, Any]:
        """Each field's type (Literal for the choice options)."""
        return get_type_hints(cls)

    @classmethod
    def help_text(cls) -> str:
        """One line per option: name, default, help."""
        lines = []
        for f in fields(cls):
            default = "required" if f.default is MISSING and f.default_factory is MISSING else (
                f"default {json.dumps(f.default)}" if f.default is not MISSING else "default {}")
            lines.append(f"  {f.name:<18} {f.metadata['help']} ({default})")
        return "\n".join(lines)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrialConfig:
        allowed = [f.name for f in fields(cls)]
        if not isinstance(values, dict):
            raise ValueError(f"a trial config is a mapping of options (`task: rte`, `lr: 0.3`, ...), not a "
                             f"{type(values).__name__}; allowed options: {', '.join(allowed)}")
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ValueError(f"unknown trial option(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """The field types' choices and bounds (the same the spec's schema checks), the task, the method."""
        get_task(self.task, self.template)
        self.method_config()
        types = self.types()
        for f in fields(self):
            value = getattr(self, f.name)
            choices = get_args(types[f.name]) if getattr(types[f.name], "__origin__", None) is Literal else ()
            if choices and value not in choices:
                raise ValueError(f"{f.name} must be one of {', '.join(choices)}, got {value!r}")
            if "ge" in f.metadata and value is not None and (
                    not isinstance(value, int) or isinstance(value, bool) or value < f.metadata["ge"]):
                raise ValueError(f"{f.name} must be an integer >= {f.metadata['ge']}, got {value!r}")
            if "pattern" in f.metadata and not re.fullmatch(f.metadata["pattern"], str(value)):
                raise ValueError(f"{f.name} must be {f.metadata['help']}, got {value!r}")

    def method_config(self):
        overrides = {k: v for k, v in (("lr", self.lr), ("weight_decay", self.weight_decay)) if v is not None}
        return get_method_config(self.method, {**self.method_params, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_trial(cfg: TrialConfig, report: Report | None = None, save_state: Callable[[dict], None] | None = None,
              resume_state: dict | None = None, cache: bool = False, compile: bool | str = False) -> dict[str, Any]:
    """Train and evaluate; `report` gets one dict per epoch. Returns the peak and final results.

    Every epoch reports `train/loss`, `val/<metric>` (and `test/<metric>` under a holdout protocol),
    `peak/score` and `peak/epoch` (best validation score so far: the Optuna objective). The last
    report also carries `snapshot`: the method's small learned tensors (SuperPos p'); every report of a
    prompt method carries `artefacts`, its learned prompt (workers/artefacts.py).

    `save_state` gets, before each epoch's report, what `resume_state` needs to continue after that
    epoch (trainable tensors, optimizer, RNG, results so far). `cache`: reuse this process's frozen
    model and encoded data (workers/cache.py). `compile`: True (inductor) or a torch.compile backend
    name: the T5 is compiled and each training batch padded to bucketed shapes (a failing compile
    falls back to eager, as a pack's does). Several trials on one shared model: workers/pack.py.
    """
    from workers.member import Member
    from workers.pack import StepForward

    report = report or (lambda metrics: None)
    member = Member.build(cfg, cache=cache)
    if resume_state is not None:
        member.restore(resume_state)
        if member.first_epoch > cfg.epochs:  # it had finished its last epoch when it was stopped: report that again
            report(member.last_report())
    forward = StepForward(member.model.t5, compile) if compile else None
    for epoch in member.epochs():
        for batch in member.train_batches(epoch):
            member.step(_backward(member, batch, forward))
        metrics = member.end_epoch(epoch)
        if save_state is not None:
            save_state(member.state(epoch))
        report(metrics)
    member.save_outputs()
    return member.result()


def _backward(member, batch: dict, forward) -> Any:
    """One batch's loss, back-propagated: eager, or through the compiled T5 on bucketed shapes (eager
    from then on if compiling fails, in the forward or the backward pass)."""
    def run(inputs: dict, t5=None):
        loss = member.model(**{k: v.to(member.device) for k, v in inputs.items()}, t5=t5)
        loss.backward()
        return loss

    if forward is None or forward.compiled is None:
        return run(batch)
    from workers.batching import bucketed

    try:
        padded = bucketed(batch, member.tokenizer.pad_token_id, member.cfg.max_source_tokens, member.cfg.batch_size)
        return run(padded, forward.compiled)
    except Exception as err:  # noqa: BLE001 - compiling failed: this trial goes on eager
        member.optimizer.zero_grad(set_to_none=True)
        forward.fall_back(err)
        return run(batch)
