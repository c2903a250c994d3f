"""FlexAttention (workers/flex_attention.py) against SDPA in a compiled pack of 8: parity and speed.

    python -m scripts.benchmarks.flex_attention [--out FILE] [--members 8]

On a GPU: the t5-base-lm-adapt architecture (random weights), bf16, batch 32 x 256 source tokens,
10 prompt tokens, dropout off (FlexAttention has no attention dropout: dropout-off cells only). For
each attention, the same members (same seeds, same batches): one eager packed step's per-member
losses and prompt gradients (parity: the largest relative difference), then the compiled step's
seconds, tokens/s and MFU against the measured bf16 matmul peak and the datasheet's (FLOPs: torch's
flop counter on the SDPA step, the same arithmetic for both). On a CPU (tiny-t5, fp32, batch 8 x 64):
forward only (FlexAttention has no backward on a CPU), a rehearsal of the code path.
Each figure is written to `--out` as soon as it is measured.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from scripts import first_paragraph
from scripts.benchmarks.pack_steps import CPU, GPU, Bench, matmul_peak, packed_step, seconds_per_step, step_flops, sync
from workers.flex_attention import use_flex
from workers.packed_step import packed_losses

DATASHEET_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense bf16 FLOP/s (SXM)


def datasheet_peak() -> float | None:
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    return next((v for k, v in DATASHEET_BF16.items() if k in name), None)


def parity(bench: Bench, members: list, device: str, train: bool) -> tuple[list[float], list[torch.Tensor]]:
    """One eager packed step: each member's loss and (with `train`) its prompt's gradient."""
    t5 = members[0][0].t5
    parts = [(m.method, b) for m, _, b in members]
    widest = max(m.method.n_tokens + b["input_ids"].shape[1] for m, _, b in members)
    with torch.set_grad_enabled(train):
        losses = packed_losses(t5, t5, parts, device, None, None, widest)
    if not train:
        return [float(v) for v in losses], []
    torch.stack(losses).sum().backward()
    grads = [torch.cat([p.grad.flatten().float() for p in m.method.parameters() if p.grad is not None]) for m, _, _ in members]
    for _, opt, _ in members:
        opt.zero_grad(set_to_none=True)
    return [float(v) for v in losses], grads


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks.flex_attention", description=first_paragraph(__doc__))
    parser.add_argument("--out", help="write the figures as JSON here (as they are measured)")
    parser.add_argument("--members", type=int, default=8)
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    setup, train = (GPU, True) if device == "cuda" else (CPU, False)
    out: dict = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "setup": setup,
                 "members": args.members, "torch": torch.__version__}

    def save():
        if args.out:
            Path(args.out).write_text(json.dumps(out, indent=2) + "\n")

    bench = Bench(setup, device)
    if device == "cuda":
        out["matmul_peak_flops"], out["datasheet_peak_flops"] = matmul_peak(device), datasheet_peak()
    save()
    seen: dict[str, tuple] = {}
    for attention in ("sdpa", "t5_flex"):
        use_flex(bench.loaded.model, attention == "t5_flex")
        members = bench.members(args.members)
        row: dict = {}
        out[attention] = row
        try:
            seen[attention] = parity(bench, members, device, train)
            if attention == "sdpa" and train:
                out["step_flops"] = step_flops(packed_step(members, device, False)[0])
            if train:
                step, forward = packed_step(members, device, True)
                started = time.perf_counter()
                seconds, warm = seconds_per_step(step, setup["steps"], setup["warmup"])
                row.update(compiled=forward.compiled is not None, step_s=seconds, warmup_s=warm,
                           tokens_per_s=bench.tokens(members) / seconds, wall_s=time.perf_counter() - started)
                if out.get("step_flops"):
                    achieved = out["step_flops"] / seconds
                    row.update(tflops=achieved / 1e12, mfu_measured_peak=achieved / out["matmul_peak_flops"],
                               mfu_datasheet=achieved / out["datasheet_peak_flops"] if out["datasheet_peak_flops"] else None)
            else:  # forward only: the packed losses timed eagerly
                sync()
                started = time.perf_counter()
                for _ in range(setup["steps"]):
                    parity(bench, members, device, False)
                sync()
                row["forward_s"] = (time.perf_counter() - started) / setup["steps"]
        except Exception as err:  # noqa: BLE001 - a measurement: what failed is the figure
            row["error"] = f"{type(err).__name__}: {str(err)[:500]}"
        print(attention, {k: v for k, v in row.items()}, flush=True)
        save()
    use_flex(bench.loaded.model, False)
    if len(seen) == 2:
        (l0, g0), (l1, g1) = seen["sdpa"], seen["t5_flex"]
        out["loss_max_abs_diff"] = max(abs(a - b) for a, b in zip(l0, l1))
        if g0:
            out["prompt_grad_max_rel_diff"] = max(float((a - b).norm() / a.norm()) for a, b in zip(g0, g1))
        if "step_s" in out["sdpa"] and "step_s" in out["t5_flex"]:
            out["flex_speedup_over_sdpa"] = out["sdpa"]["step_s"] / out["t5_flex"]["step_s"]
        print({k: out[k] for k in ("loss_max_abs_diff", "prompt_grad_max_rel_diff", "flex_speedup_over_sdpa") if k in out})
    save()
    return out


if __name__ == "__main__":
    main()
