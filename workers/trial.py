"""One trial: build the frozen T5 + method, train, evaluate after every epoch, report.

Runs without Ray and without a database: `report` is any callable taking a dict of metrics (Ray's
`tune.report`, a JSON printer, a list's append). This is the function that every path calls.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from workers.methods import get_method_config
from workers.tasks import get_task

Report = Callable[[dict[str, Any]], None]


@dataclass
class TrialConfig:
    """Everything one trial needs; saved with its results so a run can be repeated."""

    method: str
    task: str
    model: str = "tiny-t5"  # an embedded model, a hub id or a local directory
    dropout: bool = True  # False: every dropout of the frozen model is off, also in train mode
    method_params: dict[str, Any] = field(default_factory=dict)  # e.g. {"m": 128, "n_tokens": 10}
    lr: float | None = None  # None: the method's default (the paper's)
    weight_decay: float | None = None  # None: the method's default
    epochs: int = 5
    batch_size: int = 32
    eval_batch_size: int = 64
    seed: int = 0  # training seed (data order, init of non-sampled weights)
    data: str = "demo"  # 'demo', 'hub' or a local directory laid out like the hub's
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    max_source_tokens: int = 256
    device: str = "auto"  # 'auto' = cuda when available, else cpu

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
        get_task(self.task)
        self.method_config()
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


def run_trial(cfg: TrialConfig, report: Report | None = None) -> dict[str, Any]:
    """Train and evaluate; `report` gets one dict per epoch. Returns the peak and final results."""
    import torch

    from workers.batching import batches, encode
    from workers.data import load_examples
    from workers.evaluation import evaluate
    from workers.methods.modules import build_method
    from workers.models import count_parameters, freeze, load_model, set_dropout
    from workers.prompt_model import PromptedT5

    report = report or (lambda metrics: None)
    task, method_cfg = get_task(cfg.task), cfg.method_config()
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if cfg.device == "auto" else cfg.device))
    _seed_everything(cfg.seed)

    loaded = load_model(cfg.model)
    tok = loaded.tokenizer
    freeze(loaded.model)
    set_dropout(loaded.model, cfg.dropout)
    method = build_method(method_cfg, loaded.model.get_input_embeddings().weight, len(tok), tuple(tok.all_special_ids))
    model = PromptedT5(loaded.model, method).to(device)
    optimizer = torch.optim.AdamW(method.param_groups(method_cfg.weight_decay), lr=method_cfg.lr)

    train = encode(tok, load_examples(task, task.train_split, cfg.data, cfg.max_train_samples, cfg.seed),
                   cfg.max_source_tokens, task.target_max_tokens)
    val = encode(tok, load_examples(task, task.validation_split, cfg.data, cfg.max_eval_samples, cfg.seed),
                 cfg.max_source_tokens, task.target_max_tokens)
    trainable = count_parameters(model, trainable_only=True)

    best: dict[str, Any] = {"score": float("-inf"), "epoch": 0}
    history = []
    for epoch in range(1, cfg.epochs + 1):
        started = time.perf_counter()
        model.train()
        losses = []
        for _, batch in batches(train, cfg.batch_size, tok.pad_token_id, shuffle_seed=cfg.seed * 100_003 + epoch):
            loss = model(**{k: v.to(device) for k, v in batch.items()})
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        val_metrics = evaluate(model, tok, task, val, cfg.eval_batch_size, device)
        if val_metrics["score"] > best["score"]:
            best = {"score": val_metrics["score"], "epoch": epoch}
        metrics = {
            "epoch": epoch,
            "train/loss": sum(losses) / len(losses),
            **{f"val/{k}": v for k, v in val_metrics.items()},
            "peak/score": best["score"],
            "peak/epoch": best["epoch"],
            "trainable_parameters": trainable,
            "epoch_seconds": time.perf_counter() - started,
        }
        history.append(metrics)
        report(metrics)
    return {"peak": history[best["epoch"] - 1], "final": history[-1], "trainable_parameters": trainable}
