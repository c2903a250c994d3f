"""What one training step of a pack (or of one trial) is, and how it is timed and counted: the parts
the packing benchmark (scripts/benchmarks/packing.py) measures with. Needs only torch, transformers
and the workers.
"""

from __future__ import annotations

import statistics
import time

import torch

from workers.assembly import assemble
from workers.member import seed_everything
from workers.methods import get_method_config
from workers.models import load_model
from workers.pack import StepForward
from workers.packed_step import packed_losses

GPU = dict(model="random:google/t5-base-lm-adapt", precision="bf16", batch=32, source=256, target=2, steps=10, warmup=3)
CPU = dict(model="tiny-t5", precision="fp32", batch=8, source=64, target=2, steps=6, warmup=2)
METHODS = {"prompt_tuning": {}, "superpos_prompt": {"m": 128}}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class Bench:
    """One shared frozen model and a synthetic batch per member (full-length rows: no padding)."""

    def __init__(self, setup: dict, device: str):
        self.setup, self.device = setup, device
        self.loaded = load_model(setup["model"])
        self.loaded.model.to(device)

    def members(self, k: int, method: str = "prompt_tuning", source: int | None = None,
                median: int | None = None) -> list:
        """`k` members, each with its own prompt, optimizer and batch (`batch`'s `source` and `median`)."""
        out = []
        for i in range(k):
            seed_everything(i)
            built = assemble(self.setup["model"], get_method_config(method, METHODS[method]), dropout=False,
                             precision=self.setup["precision"], loaded=self.loaded)
            built.model.to(self.device)
            out.append((built.model, torch.optim.AdamW(built.param_groups, lr=0.01), self.batch(i, source, median)))
        return out

    def batch(self, seed: int, source: int | None = None, median: int | None = None) -> dict:
        """Random ids of `source` tokens (the setup's by default) per row; with `median`, rows of
        lognormal lengths around it (sigma 0.6, as short sentences are) padded to the longest."""
        s, gen = self.setup, torch.Generator().manual_seed(seed)
        width = source or s["source"]
        ids = torch.randint(5, self.loaded.real_vocab, (s["batch"], width), generator=gen)
        labels = torch.randint(5, self.loaded.real_vocab, (s["batch"], s["target"]), generator=gen)
        mask = torch.ones_like(ids)
        if median:
            lengths = (median * torch.exp(0.6 * torch.randn(s["batch"], generator=gen))).round().clamp(4, width).long()
            mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
            ids, mask = (ids * mask)[:, : int(lengths.max())], mask[:, : int(lengths.max())]
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    def tokens(self, members: list) -> int:
        return sum(b["input_ids"].numel() + b["labels"].numel() + len(b["labels"]) * m.method.n_tokens
                   for m, _, b in members)


def solo_step(members: list, device: str):
    model, opt, batch = members[0]

    def step():  # as workers/trial.py's loop: batches come from the host
        loss = model(**{k: v.to(device) for k, v in batch.items()})
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def packed_step(members: list, device: str, compile: bool, stats=None):
    """One step of the pack as workers/pack.py steps it (`stats`: a PackStats that counts its slots and real tokens)."""
    t5 = members[0][0].t5
    forward = StepForward(t5, compile)
    rows = sum(b["input_ids"].shape[0] for _, _, b in members) if compile else None
    widest = max(m.method.n_tokens + b["input_ids"].shape[1] for m, _, b in members)

    def step():
        losses = packed_losses(t5, forward.active, [(m.method, b) for m, _, b in members], device, rows, stats, widest)
        torch.stack(losses).sum().backward()
        for _, opt, _ in members:
            opt.step()
            opt.zero_grad(set_to_none=True)
    return step, forward


def train_epoch(member, epoch: int) -> tuple[float, int]:
    """One epoch of a Member's training as workers/trial.py runs it, eagerly: (seconds, examples)."""
    batches = member.train_batches(epoch)
    start = time.perf_counter()
    for batch in batches:
        loss = member.model(**batch)
        loss.backward()
        member.step(loss)
    return time.perf_counter() - start, sum(len(b["labels"]) for b in batches)


def seconds_per_step(step, steps: int, warmup: int) -> tuple[float, float]:
    """(median seconds per step, seconds the warm-up took: compiling, for a compiled step)."""
    start = time.perf_counter()
    for _ in range(warmup):
        step()
    sync()
    warm = time.perf_counter() - start
    times = []
    for _ in range(steps):
        sync()
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times), warm


def step_flops(step) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def matmul_peak(device: str, n: int = 8192, reps: int = 20) -> float:
    """FLOP/s of a large bf16 matmul on this device (the MFU denominator)."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync()
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync()
    return 2 * n**3 * reps / (time.perf_counter() - start)


def peak_memory() -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
