"""Where a compiled pack's step spends its time: kernel time by class, from torch's profiler.

    python -m scripts.benchmarks.profile_pack [--out FILE] [--members 8] [--steps 5]

The pack of `--members` prompt-tuning members of scripts/benchmarks/pack_steps.py (on a GPU the
t5-base-lm-adapt architecture, bf16, batch 32 x 256 + 10 prompt tokens; on a CPU tiny-t5), compiled
and warmed up, then `--steps` steps profiled. Device kernels (CPU ops on a CPU) are summed by class:
matmul, attention forward and backward (and which SDPA kernel ran: flash, memory-efficient, cuDNN or
math), fused elementwise (inductor's Triton kernels), copies, other; with each class's share and
the ten slowest kernels, so the next optimisation is chosen from a measurement.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from scripts import first_paragraph
from scripts.benchmarks.pack_steps import CPU, GPU, Bench, packed_step, seconds_per_step, sync

CLASSES = (  # first match wins: attention before matmul (flash kernels hold "gemm"-like names)
    ("attention backward", r"(flash|fmha|attention|attn|flex).*(bwd|backward)|(bwd|backward).*(flash|fmha|attention|attn|flex)"),
    ("attention forward", r"flash|fmha|attention|attn|flex"),
    ("matmul", r"gemm|cutlass|xmma|cublas|aten::(mm|addmm|bmm|matmul|linear)|_mm_|triton_tem_fused_(mm|addmm|bmm)"),
    ("copies", r"memcpy|memset|copy|aten::(cat|pad|contiguous|clone|to)\b|cat_"),
    ("fused elementwise", r"triton_(poi|red|per)|elementwise_kernel|vectorized_elementwise|reduce_kernel|aten::"),
)
SDPA_KERNELS = (("flash", r"flash"), ("memory-efficient", r"efficient|fmha_cutlass|mem_eff"), ("cudnn", r"cudnn"),
                ("flex", r"flex"))


def classify(name: str) -> str:
    low = name.lower()
    return next((label for label, pattern in CLASSES if re.search(pattern, low)), "other")


def kernel_times(prof, on_device: bool) -> dict[str, float]:
    """Self time (ms) per kernel (device kernels on a GPU, CPU ops on a CPU), over the profiled steps."""
    out: dict[str, float] = {}
    for event in prof.key_averages():
        if on_device:
            if getattr(event, "device_type", None) != torch.autograd.DeviceType.CUDA:
                continue
            us = getattr(event, "self_device_time_total", None) or getattr(event, "self_cuda_time_total", 0)
        else:
            us = event.self_cpu_time_total
        if us:
            out[event.key] = out.get(event.key, 0.0) + us / 1000
    return out


def summarize(times: dict[str, float], steps: int) -> dict:
    total = sum(times.values()) or 1.0
    classes: dict[str, float] = {}
    for name, ms in times.items():
        classes[classify(name)] = classes.get(classify(name), 0.0) + ms
    attention = " ".join(n.lower() for n in times if classify(n).startswith("attention"))
    return {"ms_per_step": {k: v / steps for k, v in sorted(classes.items(), key=lambda kv: -kv[1])},
            "share": {k: v / total for k, v in classes.items()},
            "sdpa_kernels": [label for label, pattern in SDPA_KERNELS if re.search(pattern, attention)] or ["math"],
            "slowest": [{"kernel": n[:160], "ms_per_step": ms / steps, "class": classify(n)}
                        for n, ms in sorted(times.items(), key=lambda kv: -kv[1])[:10]]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks.profile_pack", description=first_paragraph(__doc__))
    parser.add_argument("--out", help="write the figures as JSON here")
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--eager", action="store_true", help="profile the eager pack instead of the compiled one")
    args = parser.parse_args(argv)
    on_device = torch.cuda.is_available()
    device, setup = ("cuda", GPU) if on_device else ("cpu", CPU)
    bench = Bench(setup, device)
    members = bench.members(args.members)
    step, forward = packed_step(members, device, not args.eager)
    seconds, warm = seconds_per_step(step, 3, setup["warmup"])
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if on_device else [])
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(args.steps):
            step()
        sync()
    out = {"device": torch.cuda.get_device_name(0) if on_device else "cpu", "setup": setup, "members": args.members,
           "compiled": forward.compiled is not None, "step_s": seconds, "warmup_s": warm,
           **summarize(kernel_times(prof, on_device), args.steps)}
    for name, ms in out["ms_per_step"].items():
        print(f"{name:<20} {ms:8.2f} ms/step  {100 * out['share'][name]:5.1f}%")
    print(f"SDPA kernels: {', '.join(out['sdpa_kernels'])}; step {seconds * 1000:.1f} ms")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
