"""A compiled pack's step seconds by input width, for the planner (`packing.compiled_step_s_by_width`).

    python -m scripts.benchmarks.pack_widths [--models ARCH ...] [--members 8] [--widths 64 128]
        [--throughput orchestrator/throughput.json] [--out pack_widths.json] [--median 24] [--budget-s 200] [--rehearse]

A compiled pack's step is bound by its tokens, not by kernel launches, so short inputs cost it far
less than they cost one eager trial, whose width curve (`scripts.benchmarks.throughput --widths`)
the planner would otherwise use for compiled packs too. Here a compiled pack of `--members`
prompt-tuning members (the packing benchmark's setup: bf16, batch 32, 10 prompt tokens, 2 target
tokens, dropout off, random weights, full-length rows) steps at the setup's 256 source tokens and
at each `--widths` (source tokens; the narrowest first, the others last). Each width is a new
shape, compiled once (a minute or so on a GPU), and all are timed in this one run. Between them,
as real packs are not full-length rows, the pack steps on rows of short, varied lengths: tokens/s
and MFU of every slot computed and net of padding. Each architecture's {encoder width: step
seconds} goes into the throughput table as soon as it is measured, and `superpos sweep plan`
prices a compiled pack's steps on that architecture by it. `--rehearse`: tiny-t5 on the CPU, to
check the script. Needs only torch, transformers and the workers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from scripts import first_paragraph
from scripts.benchmarks.flex_attention import datasheet_peak
from scripts.benchmarks.pack_steps import (
    CPU,
    GPU,
    Bench,
    matmul_peak,
    packed_step,
    peak_memory,
    seconds_per_step,
    step_flops,
)
from workers.packed_step import PackStats

KEY = "compiled_step_s_by_width"  # in the throughput table's packing section: {architecture: {encoder width: s}}


def measure(bench: Bench, members: int, sources: list[int], deadline: float, record) -> None:
    """The compiled pack at each of `sources` (source tokens), in order, while the deadline allows."""
    setup, device = bench.setup, bench.device
    for source in sources:
        if time.monotonic() > deadline:
            record({"source_tokens": source, "skipped": "out of time"})
            continue
        torch._dynamo.reset()  # each width a fresh compile, as a worker's new bucket is
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        pack = bench.members(members, source=source)
        step, forward = packed_step(pack, device, True)
        seconds, warm = seconds_per_step(step, setup["steps"], setup["warmup"])
        width = pack[0][0].method.n_tokens + source
        record({"width": width, "source_tokens": source, "step_s": seconds, "compile_and_warmup_s": warm,
                "compiled": forward.compiled is not None, "tokens_per_s": bench.tokens(pack) / seconds,
                "peak_memory_gib": peak_memory()})
        del pack, step, forward


def varied(bench: Bench, members: int, median: int, record) -> None:
    """The compiled pack on rows of short, varied lengths (lognormal around `median` tokens, each
    member's batch padded to its longest, the stack to the width bucket), as real packs are:
    tokens/s of every slot computed and net of padding, and MFU both ways against the measured bf16
    matmul peak and the datasheet's. FLOPs: torch's counter on the eager step of the same batches,
    per slot, times the slots each way (attention's share, quadratic in the width, is small here)."""
    setup, device = bench.setup, bench.device
    torch._dynamo.reset()
    pack = bench.members(members, median=median)
    eager = PackStats()
    flops = step_flops(packed_step(pack, device, False, eager)[0])
    compiled = PackStats()
    step, forward = packed_step(pack, device, True, compiled)
    seconds, warm = seconds_per_step(step, setup["steps"], setup["warmup"])
    slots, real, per_slot = compiled.slots / compiled.steps, compiled.real / compiled.steps, flops / eager.slots
    peaks = {"measured": matmul_peak(device, n=8192 if device == "cuda" else 512), "datasheet": datasheet_peak()}
    record({"rows": f"lognormal around {median} tokens", "step_s": seconds, "compile_and_warmup_s": warm,
            "compiled": forward.compiled is not None, "padding_share": 1 - real / slots,
            "tokens_per_s": slots / seconds, "tokens_per_s_net_of_padding": real / seconds,
            **{f"mfu_{way}_{name}": per_slot * count / seconds / peak for name, peak in peaks.items() if peak
               for way, count in (("of_slots", slots), ("net_of_padding", real))},
            "bf16_matmul_peak_tflops": peaks["measured"] / 1e12, "peak_memory_gib": peak_memory()})


def write(path: Path, architecture: str, rows: list[dict]) -> None:
    """This architecture's compiled step seconds by encoder width into the table's packing section."""
    by_width = {str(r["width"]): r["step_s"] for r in rows if r.get("compiled") and "width" in r}
    if len(by_width) < 2:
        return
    table = json.loads(path.read_text()) if path.is_file() else {"provenance": {}, "rows": []}
    packing = table.setdefault("packing", {})
    packing.setdefault(KEY, {})[architecture] = by_width
    packing.setdefault("provenance", {})[KEY] = (f"python -m scripts.benchmarks.pack_widths: compiled packs of "
                                                 f"{rows[0]['members']} prompt-tuning members, full-length rows")
    path.write_text(json.dumps(table, indent=2) + "\n")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks.pack_widths", description=first_paragraph(__doc__))
    parser.add_argument("--models", nargs="+", default=None, help="architectures (default: the packing setup's t5-base)")
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 128], metavar="TOKENS")
    parser.add_argument("--median", type=int, default=24, help="then the pack on rows of lengths around this many "
                        "tokens (0: skip): tokens/s and MFU net of padding")
    parser.add_argument("--throughput", help="write the curves into this throughput table (orchestrator/throughput.json)")
    parser.add_argument("--out", default="pack_widths.json")
    parser.add_argument("--budget-s", type=float, default=200.0, help="start no new width after this many seconds")
    parser.add_argument("--rehearse", action="store_true", help="tiny-t5 on the CPU, small settings")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available() and not args.rehearse
    device, base = ("cuda", GPU) if cuda else ("cpu", CPU)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
    deadline = time.monotonic() + args.budget_s
    out = Path(args.out)
    result = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__, "rows": []}
    for model in args.models or [base["model"]]:
        setup = {**base, "model": model if model.startswith(("random:", "tiny-t5")) else "random:" + model}
        architecture = setup["model"].removeprefix("random:")
        rows: list[dict] = []

        def record(row: dict, rows=rows, architecture=architecture) -> None:
            row = {"architecture": architecture, "members": args.members, **row}
            rows.append(row)
            result["rows"].append(row)
            out.write_text(json.dumps(result, indent=2) + "\n")
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
            if args.throughput:
                write(Path(args.throughput), architecture, rows)

        bench = Bench(setup, device)  # one frozen model for every width
        others = sorted(set(args.widths) - {setup["source"]})  # the setup's width and the narrowest make a curve
        measure(bench, args.members, [setup["source"], *others[:1]], deadline, record)
        if args.median and time.monotonic() < deadline:
            varied(bench, args.members, args.median, record)
        measure(bench, args.members, others[1:], deadline, record)
        del bench
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
