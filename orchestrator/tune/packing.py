"""Packing in the driver: which cells' trials may share a worker's frozen model, and how many.

A pack is several trials in one Tune trial, trained on one shared frozen T5 (workers/pack.py).
Trials may share it when they use the same model and dropout setting (precision and device are one
per sweep); full fine-tuning trains the model and always runs alone.

`resources.pack_size: auto` sizes packs from a memory estimate per example: the activations a
training step keeps for the backward pass grow with encoder layers x tokens x d_model. The constant
below is measured: t5-base-lm-adapt, bf16, batch 32 x 268 tokens, on an NVIDIA H200 (README, GPU
figures): 6.3 GiB alone, 23.4 / 46.2 / 91.8 GiB in packs of 4 / 8 / 16, i.e. 5.75 GiB per trial
beside 0.5 GiB of weights, eager and compiled alike. The memory is the GPU share one trial gets (a
Ray task holding the trial's GPUs asks torch). Packs stop at AUTO_MAX: on that GPU, compiled packs
of 4 / 8 / 16 gave 5.7 / 5.8 / 5.8x the solo eager tokens/s, eager ones 2.4 / 2.8 / 2.9x, so
larger packs buy little and make early stopping coarser. Without GPUs `auto` means 1: on the
2-core CPU a pack of 4 tiny-t5 trials steps 1.5x faster than one, but the demo sweep gained little
end to end (44-45 s packed, 46-49 s not): evaluation and Ray dominate there.

`resources.compile: auto` compiles where a trial has GPUs: 3.1x alone and 2.1x in a pack over
eager, for ~50 s of compiling per new input width per worker process.
"""

from __future__ import annotations

import math
from typing import Any

from orchestrator.spec import SpecError, SweepSpec
from orchestrator.spec.plan import Cell
from workers.methods import get_method_config

BYTES_PER_LAYER_TOKEN_DIM = 40  # per byte of the model's dtype: 5.75 GiB / (12 x 268 x 768 x 32 x 2 bytes) = 39
HEADROOM = 0.85  # of the GPU's memory; the rest is the allocator's and CUDA's
AUTO_MAX = 8
DTYPE_BYTES = {"fp32": 4, "bf16": 2}


def group(spec: SweepSpec, cell: Cell) -> tuple | None:
    """Cells whose trials may share one frozen model have equal groups; None: never packed."""
    if not get_method_config(cell.method).trains_prompt:
        return None
    return (cell.model, cell.dropout, spec.training.get("precision", "fp32"), spec.training.get("device", "auto"))


def nearness(train_sizes: dict[str, int], task: str, other: str) -> tuple[bool, float]:
    """How far a cell of `other` is from a pack started on `task`, for the searcher's fill order: the
    same task first (other methods, options, rates and seeds: members that end together, so no slot
    idles while a long task finishes), then the nearest training size (log ratio; unknown: 0, and
    ties keep plan order)."""
    a, b = train_sizes.get(task), train_sizes.get(other)
    return other != task, abs(math.log(max(a, 1) / max(b, 1))) if a and b else 0.0


def estimate_bytes(config: Any, n_params: int, tokens: int, batch_size: int, precision: str) -> tuple[int, int]:
    """(frozen weights, activations of one trial's training batch) in bytes."""
    size = DTYPE_BYTES[precision]
    activations = BYTES_PER_LAYER_TOKEN_DIM * size * config.num_layers * tokens * config.d_model * batch_size
    return n_params * size, activations


def fit(memory: int, weights: int, per_trial: int, largest: int = AUTO_MAX) -> int:
    """How many trials' batches fit beside one copy of the weights."""
    return max(1, min(largest, math.floor((HEADROOM * memory - weights) / max(per_trial, 1))))


def _model_shape(name: str) -> tuple[Any, int]:
    import torch
    from transformers import T5ForConditionalGeneration

    from workers.models import load_model

    with torch.device("meta"):
        model = load_model(name, device="meta").model if _offline(name) else T5ForConditionalGeneration(_config(name))
    return model.config, sum(p.numel() for p in model.parameters())


def _offline(name: str) -> bool:
    from workers.presets import is_offline_model

    return is_offline_model(name)


def _config(name: str):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(name)


def _gpu_memory(gpus: float) -> int:
    """Bytes of GPU memory one trial gets: a Ray task holding the trial's GPUs asks torch."""
    import ray

    @ray.remote(num_cpus=0, num_gpus=gpus)
    def probe() -> int:
        import torch

        return torch.cuda.get_device_properties(0).total_memory

    return int(ray.get(probe.remote(), timeout=300) * min(gpus, 1.0))


def compile_enabled(spec: SweepSpec) -> bool:
    chosen = spec.resources.compile
    return bool(spec.resources.gpus_per_trial) if chosen == "auto" else bool(chosen)


def nominal_pack_size(spec: SweepSpec) -> int:
    """The spec's pack size, with `auto` read as 1 without GPUs and AUTO_MAX with them (the most a
    GPU's memory can make it; `pack_sizes` asks the GPU). What `superpos sweep plan` assumes."""
    chosen = spec.resources.pack_size
    if chosen != "auto":
        return int(chosen)
    return AUTO_MAX if spec.resources.gpus_per_trial else 1


def pack_sizes(spec: SweepSpec, echo=print) -> dict[str, int]:
    """The pack size per model: the spec's number, or `auto` resolved (needs Ray started for GPUs)."""
    if spec.resources.pack_size != "auto" or not spec.resources.gpus_per_trial:
        return {model: nominal_pack_size(spec) for model in spec.models}
    try:
        memory = _gpu_memory(spec.resources.gpus_per_trial)
    except Exception as err:  # noqa: BLE001 - no GPU answered: say what to set instead
        raise SpecError(f"spec.resources.pack_size: auto needs the GPU's memory, and no GPU task answered "
                        f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); set pack_size "
                        "to a number") from None
    precision = spec.training.get("precision", "fp32")
    tokens = spec.training.get("max_source_tokens", 256) + 12  # the paper's 10 prompt tokens, ~2 target tokens
    batch = spec.training.get("batch_size", 32)
    sizes = {}
    for model in spec.models:
        config, n_params = _model_shape(model)
        weights, per_trial = estimate_bytes(config, n_params, tokens, batch, precision)
        sizes[model] = fit(memory, weights, per_trial)
        echo(f"pack_size auto: {model}: {sizes[model]} trials per pack ({memory / 2**30:.0f} GiB per trial's GPUs, "
             f"~{per_trial / 2**30:.1f} GiB per trial's batch, {weights / 2**30:.1f} GiB of weights)")
    return sizes
