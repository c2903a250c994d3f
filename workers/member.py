"""One trial's own part of a run: its method, optimizer, data order, evaluation, results and state.

A solo trial (workers/trial.py) is one Member on its own model; a pack (workers/pack.py) is several
Members on one shared frozen T5. Everything a trial decides for itself lives here, once: how it is
seeded and built, its batches per epoch, what it evaluates and reports after an epoch, the state it
saves for a resume, and what it writes to its output folder.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import torch

from workers.members import ARTEFACTS, EPOCH, PEAK, PEAK_EPOCH, SNAPSHOT, improves
from workers.tasks import get_task


def seed_everything(seed: int) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """`auto`: cuda when available, else cpu; a device this process cannot use is named before any
    tensor goes there."""
    device = torch.device(name if name != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    count = {"cuda": torch.cuda.device_count, "mps": lambda: int(torch.backends.mps.is_available())}.get(device.type)
    if count is not None and (device.index or 0) >= count():
        raise ValueError(f"device {name!r}: this process sees {count()} {device.type} device(s) (torch "
                         f"{torch.__version__}); use device: auto, cpu, or a {device.type} device it has")
    return device


def frozen_model(cfg, method_cfg, cache: bool):
    """The loaded model: the process's shared frozen copy for prompt methods when `cache` is on, else
    its own (full fine-tuning changes the weights)."""
    from workers import cache as caches
    from workers.models import load_model

    if cache and method_cfg.trains_prompt:
        revision = cfg.revisions.get(cfg.model)
        return caches.frozen_model((cfg.model, revision, cfg.precision), lambda: load_model(cfg.model, revision=revision))
    return load_model(cfg.model, revision=cfg.revisions.get(cfg.model))


def encoded_splits(cfg, task, tokenizer, cache: bool) -> dict:
    from workers import cache as caches
    from workers.batching import encode
    from workers.evaluation import target_tokens
    from workers.protocols import protocol_splits

    def encode_all():
        return {name: encode(tokenizer, examples, cfg.max_source_tokens, target_tokens(task, tokenizer))
                for name, examples in protocol_splits(task, cfg.eval_protocol, cfg.data, cfg.seed, cfg.max_train_samples,
                                                      cfg.max_eval_samples, cfg.holdout_size,
                                                      cfg.revisions.get(task.dataset)).items()}

    key = (cfg.model, cfg.task, cfg.template, cfg.eval_protocol, cfg.data, cfg.seed, cfg.max_train_samples,
           cfg.max_eval_samples, cfg.holdout_size, cfg.max_source_tokens, json.dumps(cfg.revisions, sort_keys=True))
    return caches.encoded_splits(key, encode_all) if cache else encode_all()


class Member:
    """Built by `Member.build`; then, per epoch: `train_batches(epoch)`, the caller's steps (which add
    to `loss_sum`/`steps`), and `end_epoch(epoch)`, which evaluates and returns the epoch's report."""

    def __init__(self, cfg, task, method_cfg, built, splits, device: torch.device):
        self.cfg, self.task, self.method_cfg, self.device = cfg, task, method_cfg, device
        self.tokenizer, self.model = built.loaded.tokenizer, built.model.to(device)
        # fused: one kernel for every parameter's update on a GPU (full fine-tuning steps 77M-248M weights)
        self.optimizer = torch.optim.AdamW(built.param_groups, lr=method_cfg.lr, fused=device.type == "cuda")
        self.trainable = {name: p for name, p in self.model.named_parameters() if p.requires_grad}
        self.trainable_count = built.trainable_parameters
        self.splits = splits
        self.best: dict[str, Any] = {"score": float("-inf"), "epoch": 0}
        self.history: list[dict] = []
        self.peak_state: dict | None = None
        self.first_epoch = 1
        self._started = time.perf_counter()
        self.loss_sum, self.steps = torch.zeros((), device=device), 0

    @classmethod
    def build(cls, cfg, cache: bool = False, loaded=None) -> Member:
        """Seeded right before the method is built (after the model is loaded), so the prompt's
        initial values depend on the trial's seed only: the same alone and in a pack."""
        from workers.assembly import assemble

        task, method_cfg = get_task(cfg.task, cfg.template), cfg.method_config()
        loaded = loaded or frozen_model(cfg, method_cfg, cache)
        from workers.artefacts import load_prompt

        sources = {t: load_prompt(path) for t, path in cfg.source_prompts.items()} if cfg.source_prompts else None
        seed_everything(cfg.seed)
        built = assemble(cfg.model, method_cfg, cfg.dropout, task, precision=cfg.precision, loaded=loaded,
                         source_prompts=sources)
        splits = encoded_splits(cfg, task, built.loaded.tokenizer, cache)
        return cls(cfg, task, method_cfg, built, splits, resolve_device(cfg.device))

    @property
    def method(self):
        return self.model.method

    def epochs(self) -> range:
        return range(self.first_epoch, self.cfg.epochs + 1)

    def train_batches(self, epoch: int) -> list[dict[str, torch.Tensor]]:
        """This epoch's batches in the trial's own seeded order; starts the epoch's clock and loss."""
        from workers.batching import batches

        self._started = time.perf_counter()
        self.loss_sum, self.steps = torch.zeros((), device=self.device), 0  # summed on the device: no sync per step
        self.model.train()
        return [b for _, b in batches(self.splits["train"], self.cfg.batch_size, self.tokenizer.pad_token_id,
                                      shuffle_seed=self.cfg.seed * 100_003 + epoch)]

    def step(self, loss: torch.Tensor) -> None:
        """The optimizer step after `loss` (this member's mean token loss) has been back-propagated."""
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.loss_sum += loss.detach().float()
        self.steps += 1

    def eval_jobs(self) -> dict:
        """Its evaluation of each split, for a pack that evaluates members together (workers/packed_eval.py)."""
        from workers.packed_eval import EvalJob

        return {split: EvalJob(self.method, self.task, data, self.cfg.eval_batch_size, self.cfg.eval_mode)
                for split, data in self.splits.items() if split in ("val", "test")}

    def evaluate(self) -> dict[str, dict]:
        """split -> metrics of its own evaluation: its examples sorted by width into token-budgeted passes
        (workers/packed_eval.py, as a pack evaluates its members together), which answers as
        workers.evaluation.evaluate's batches in data order do, with less padding."""
        from workers.packed_eval import evaluate_together

        jobs = self.eval_jobs()
        was_training = self.model.training
        self.model.eval()
        try:
            with self.model.compute():
                return dict(zip(jobs, evaluate_together(self.model.t5, self.tokenizer, list(jobs.values()), self.device)))
        finally:
            self.model.train(was_training)

    def end_epoch(self, epoch: int, extra: dict | None = None, evaluated: dict | None = None) -> dict[str, Any]:
        """Evaluate (or take `evaluated`: split -> metrics, from a packed evaluation); the epoch's report
        (train loss, split metrics, peak so far, snapshot at the end, the learned prompt as artefacts:
        workers/artefacts.py). The history keeps the metrics only."""
        from workers.artefacts import epoch_artefacts

        metrics: dict[str, Any] = {EPOCH: epoch, "train/loss": self.loss_sum.item() / max(self.steps, 1)}
        evaluated = evaluated or self.evaluate()
        for split in ("val", "test"):
            if split in self.splits:
                metrics.update({f"{split}/{k}": v for k, v in evaluated[split].items()})
        moved = improves(metrics["val/score"], self.best["score"])
        if moved:
            self.best = {"score": metrics["val/score"], "epoch": epoch}
            if self.cfg.output_dir:
                self.peak_state = {name: p.detach().to("cpu", copy=True) for name, p in self.trainable.items()}
        metrics.update({PEAK: self.best["score"], PEAK_EPOCH: self.best["epoch"],
                        "trainable_parameters": self.trainable_count,
                        "time/epoch_seconds": time.perf_counter() - self._started, **(extra or {})})
        if epoch == self.cfg.epochs:
            metrics[SNAPSHOT] = self.snapshot()
        self.history.append(metrics)
        return {**metrics, ARTEFACTS: epoch_artefacts(self.method, moved)}

    def last_report(self) -> dict[str, Any]:
        """The last epoch's report again (a resumed member that had run its epochs says so once more),
        with its artefacts: the prompt now, and the peak set if the peak was that epoch."""
        from workers.artefacts import epoch_artefacts

        last = self.history[-1]
        return {**last, ARTEFACTS: epoch_artefacts(self.method, self.best["epoch"] == last[EPOCH])}

    def state(self, epoch: int) -> dict:
        """What `restore` needs to continue after `epoch`."""
        return {"epoch": epoch, "best": self.best, "history": self.history, "peak_state": self.peak_state,
                "trainable": {n: p.detach().to("cpu", copy=True) for n, p in self.trainable.items()},
                "optimizer": self.optimizer.state_dict(), "rng": torch.get_rng_state()}

    def restore(self, state: dict) -> None:
        """Continue after `state["epoch"]`: the trainable tensors, the optimizer, the RNG and the results so far."""
        missing = sorted(set(self.trainable) - set(state["trainable"]))
        if missing:
            raise ValueError(f"the checkpoint does not match this trial: no values for {', '.join(missing[:3])}")
        with torch.no_grad():
            for name, p in self.trainable.items():
                p.copy_(state["trainable"][name])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        self.best, self.history = state["best"], list(state["history"])
        self.peak_state, self.first_epoch = state.get("peak_state"), state["epoch"] + 1

    def snapshot(self) -> dict[str, dict]:
        """{name: {shape, dtype, values}}: plain lists, so it travels through Ray and into the store."""
        tensors = self.method.snapshot() if self.method is not None else {}
        return {k: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch."), "values": t.flatten().tolist()}
                for k, t in tensors.items()}

    def result(self) -> dict[str, Any]:
        return {"peak": self.history[self.best["epoch"] - 1], "final": self.history[-1],
                "trainable_parameters": self.trainable_count}

    def save_outputs(self) -> None:
        """Only the trainable parameters (kilobytes for a prompt, not the frozen model), final and at the peak."""
        if not self.cfg.output_dir:
            return
        out = Path(self.cfg.output_dir).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        torch.save({n: p.detach().cpu() for n, p in self.trainable.items()}, out / "trainable_final.pt")
        if self.peak_state is not None:
            torch.save(self.peak_state, out / "trainable_peak.pt")
        (out / "trial_config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2))
