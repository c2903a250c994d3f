"""One trial: build the frozen T5 + method, train, evaluate after every epoch, report.

Runs without Ray and without a database: `report` is any callable taking a dict of metrics (Ray's
`tune.report`, a JSON printer, a list's append). This is the function that every path calls.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from workers.methods import get_method_config
from workers.tasks import get_task

Report = Callable[[dict[str, Any]], None]


def _opt(default: Any, help: str) -> Any:
    """A TrialConfig field whose help text is the one documentation of the option (CLI help, README)."""
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class TrialConfig:
    """Everything one trial needs; saved with its results so a run can be repeated."""

    method: str = field(metadata={"help": "method id: prompt_tuning, superpos_prompt, residual_prompt, full_finetune"})
    task: str = field(metadata={"help": "task id, one of the 13 of workers/tasks.py"})
    model: str = _opt("tiny-t5", "tiny-t5, random:<architecture preset>, a hub id or a local directory")
    dropout: bool = _opt(True, "false: every dropout of the frozen model is off, also in train mode")
    method_params: dict[str, Any] = _opt({}, "method options, e.g. {m: 128, n_tokens: 10}")
    lr: float | None = _opt(None, "learning rate; null: the method's default (the paper's)")
    weight_decay: float | None = _opt(None, "AdamW weight decay; null: the method's default")
    epochs: int = _opt(5, "training epochs; evaluation after each")
    batch_size: int = _opt(32, "training batch size")
    eval_batch_size: int = _opt(64, "evaluation batch size")
    seed: int = _opt(0, "training seed (data order, initialisation of non-sampled weights)")
    data: str = _opt("demo", "demo (bundled), hub, or an absolute path to a folder laid out like the hub's")
    max_train_samples: int | None = _opt(None, "seeded subsample of the training set; null: all")
    max_eval_samples: int | None = _opt(None, "seeded subsample of the validation split; null: all")
    max_source_tokens: int = _opt(256, "inputs are truncated to this many tokens")
    eval_mode: str = _opt("generate", "generate (greedy, the paper's) or rank (label likelihoods)")
    eval_protocol: str = _opt("paper", "paper, holdout_validation or holdout_train (workers/protocols.py)")
    template: str = _opt("reference", "task formats: reference (Residual Prompt Tuning's code) or keyvalue "
                                      "(workers/tasks.py)")
    holdout_size: int | None = _opt(None, "examples held out for selection under a holdout protocol")
    device: str = _opt("auto", "auto (cuda when available, else cpu), cpu, cuda, cuda:1, ...")
    precision: str = _opt("fp32", "fp32 or bf16 (the T5 in bfloat16; prompt parameters stay float32)")
    output_dir: str | None = _opt(None, "where to save the trainable parameters (final and peak); null: nowhere")

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
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ValueError(f"unknown trial option(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        from workers.options import EVAL_MODES, PRECISIONS, PROTOCOLS

        get_task(self.task, self.template)
        self.method_config()
        if self.eval_mode not in EVAL_MODES:
            raise ValueError(f"eval_mode must be one of {', '.join(EVAL_MODES)}, got {self.eval_mode!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.eval_protocol not in PROTOCOLS:
            raise ValueError(f"eval_protocol must be one of {', '.join(PROTOCOLS)}, got {self.eval_protocol!r}")
        for name in ("epochs", "batch_size", "eval_batch_size", "max_source_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def method_config(self):
        overrides = {k: v for k, v in (("lr", self.lr), ("weight_decay", self.weight_decay)) if v is not None}
        return get_method_config(self.method, {**self.method_params, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _setup(cfg: TrialConfig, task, method_cfg, cache: bool):
    """The assembled model and the encoded splits; through the process caches when `cache` is on
    (prompt methods only: full fine-tuning changes the model's weights)."""
    from workers import cache as caches
    from workers.assembly import assemble
    from workers.batching import encode
    from workers.evaluation import target_tokens
    from workers.models import load_model
    from workers.protocols import protocol_splits

    share = cache and method_cfg.trains_prompt
    loaded = caches.frozen_model((cfg.model, cfg.precision), lambda: load_model(cfg.model)) if share else None
    built = assemble(cfg.model, method_cfg, cfg.dropout, task, precision=cfg.precision, loaded=loaded)
    tok = built.loaded.tokenizer

    def encode_all():
        return {name: encode(tok, examples, cfg.max_source_tokens, target_tokens(task, tok))
                for name, examples in protocol_splits(task, cfg.eval_protocol, cfg.data, cfg.seed, cfg.max_train_samples,
                                                      cfg.max_eval_samples, cfg.holdout_size).items()}

    key = (cfg.model, cfg.task, cfg.template, cfg.eval_protocol, cfg.data, cfg.seed, cfg.max_train_samples, cfg.max_eval_samples,
           cfg.holdout_size, cfg.max_source_tokens)
    return built, (caches.encoded_splits(key, encode_all) if cache else encode_all())


def run_trial(cfg: TrialConfig, report: Report | None = None, save_state: Callable[[dict], None] | None = None,
              resume_state: dict | None = None, cache: bool = False) -> dict[str, Any]:
    """Train and evaluate; `report` gets one dict per epoch. Returns the peak and final results.

    Every epoch reports `train/loss`, `val/<metric>` (and `test/<metric>` under a holdout protocol),
    `peak/score` and `peak/epoch` (best validation score so far: the Optuna objective). The last
    report also carries `snapshot`: the method's small learned tensors (SuperPos p').

    `save_state` gets, before each epoch's report, what `resume_state` needs to continue after that
    epoch (trainable tensors, optimizer, RNG, results so far). `cache`: reuse this process's frozen
    model and encoded data (workers/cache.py).
    """
    import torch

    from workers.batching import batches
    from workers.evaluation import evaluate

    report = report or (lambda metrics: None)
    task, method_cfg = get_task(cfg.task, cfg.template), cfg.method_config()
    device = torch.device(cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    _seed_everything(cfg.seed)

    built, splits = _setup(cfg, task, method_cfg, cache)
    tok, model = built.loaded.tokenizer, built.model.to(device)
    optimizer = torch.optim.AdamW(built.param_groups, lr=method_cfg.lr)
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    trainable_count = built.trainable_parameters

    best: dict[str, Any] = {"score": float("-inf"), "epoch": 0}
    history, peak_state, first = [], None, 1
    if resume_state is not None:
        best, history, peak_state, first = _restore(resume_state, trainable, optimizer)
        if first > cfg.epochs:  # it had finished its last epoch when it was stopped: report that again
            report(history[-1])
    for epoch in range(first, cfg.epochs + 1):
        started = time.perf_counter()
        model.train()
        loss_sum, steps = torch.zeros((), device=device), 0  # summed on the device: no sync per step
        for _, batch in batches(splits["train"], cfg.batch_size, tok.pad_token_id, shuffle_seed=cfg.seed * 100_003 + epoch):
            loss = model(**{k: v.to(device) for k, v in batch.items()})
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach().float()
            steps += 1
        metrics: dict[str, Any] = {"epoch": epoch, "train/loss": loss_sum.item() / steps}
        for split in ("val", "test"):
            if split in splits:
                result = evaluate(model, tok, task, splits[split], cfg.eval_batch_size, device, cfg.eval_mode)
                metrics.update({f"{split}/{k}": v for k, v in result.items()})
        if metrics["val/score"] > best["score"]:
            best = {"score": metrics["val/score"], "epoch": epoch}
            if cfg.output_dir:
                peak_state = {name: p.detach().to("cpu", copy=True) for name, p in trainable.items()}
        metrics.update({"peak/score": best["score"], "peak/epoch": best["epoch"],
                        "trainable_parameters": trainable_count,
                        "time/epoch_seconds": time.perf_counter() - started})
        if epoch == cfg.epochs:
            metrics["snapshot"] = _snapshot(model)
        history.append(metrics)
        if save_state is not None:
            save_state({"epoch": epoch, "best": best, "history": history, "peak_state": peak_state,
                        "trainable": {n: p.detach().cpu() for n, p in trainable.items()},
                        "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state()})
        report(metrics)
    if cfg.output_dir:
        _save(cfg, trainable, peak_state)
    return {"peak": history[best["epoch"] - 1], "final": history[-1], "trainable_parameters": trainable_count}


def _restore(state: dict, trainable: dict, optimizer) -> tuple[dict, list, dict | None, int]:
    """Continue after `state["epoch"]`: the trainable tensors, the optimizer, the RNG and the results so far."""
    import torch

    missing = sorted(set(trainable) - set(state["trainable"]))
    if missing:
        raise ValueError(f"the checkpoint does not match this trial: no values for {', '.join(missing[:3])}")
    with torch.no_grad():
        for name, p in trainable.items():
            p.copy_(state["trainable"][name])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    return state["best"], list(state["history"]), state.get("peak_state"), state["epoch"] + 1


def _snapshot(model) -> dict[str, dict]:
    """{name: {shape, dtype, values}}: plain lists, so it travels through Ray and into the store."""
    tensors = model.method.snapshot() if model.method is not None else {}
    return {k: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch."), "values": t.flatten().tolist()}
            for k, t in tensors.items()}


def _save(cfg: TrialConfig, trainable: dict, peak_state: dict | None) -> None:
    """Only the trainable parameters (kilobytes for a prompt, not the frozen model), final and at the peak."""
    from pathlib import Path

    import torch

    out = Path(cfg.output_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    torch.save({n: p.detach().cpu() for n, p in trainable.items()}, out / "trainable_final.pt")
    if peak_state is not None:
        torch.save(peak_state, out / "trainable_peak.pt")
    (out / "trial_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
