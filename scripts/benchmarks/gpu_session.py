"""Every GPU measurement issue 16 still needs, as one script for a lent device's few minutes.

    python -m scripts.benchmarks.gpu_session --out DIR [--budget-s 540] [--only STEP ...] [--rehearse]

Runs, most telling first, each in its own process with its own time limit (a step that fails or
runs out of time is recorded and the next one starts), and rewrites DIR/gpu_session.json after
each step, so a session cut short keeps what it measured:

1. full fine-tuning on t5-base, compiled, bf16, with its width curve (`--widths 32 64 128`) ->
   DIR/throughput.json (from the shipped table: its packing section and the rows not measured again
   stay; a row is written before its compile, so a step cut short keeps its eager figures);
2. packed evaluation of 8 members, eager and compiled -> its speed-ups into DIR/throughput.json; then
   of 3 (in Table 1's plan, epochs end together mostly for 3 members of a pack: the same task's
   methods; under 1% for 4 or 5), a second point on the curve;
3. full fine-tuning on t5-small, compiled and with CUDA graphs;
4. the four prompt methods on both models, with their width curves;
5. the compiled pack of 8 at 64 and 128 source tokens beside 256 (scripts/benchmarks/pack_widths.py)
   -> the compiled pack's width curve into DIR/throughput.json; and on short rows of varied lengths:
   tokens/s and MFU (measured peak and datasheet) of every slot and net of padding;
6. FlexAttention vs SDPA in the compiled pack of 8 (parity, tokens/s, MFU) -> DIR/flex_attention.json;
7. the compiled pack of 8 profiled by kernel class -> DIR/profile_pack.json.
The order is the plan's: the steps that move Table 1's GPU-hours most come first (full fine-tuning
is 165 of its 390 planned hours on one GPU, evaluation 86). The steps' limits add up to more than one
session's budget: a later session runs the ones skipped with `--only STEP ...`, from the table
the first one left (committed as orchestrator/throughput.json).
Then copy DIR/throughput.json over orchestrator/throughput.json and re-plan Table 1 with
`superpos sweep plan orchestrator/specs/paper-table1.yaml --read-hub-data` where the hub is at hand.
`--rehearse` (on a CPU): the same steps on tiny-t5 with small settings, to check the script.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from scripts import first_paragraph

SHIPPED = Path(__file__).resolve().parents[2] / "orchestrator" / "throughput.json"


def steps(out: Path, rehearse: bool) -> list[tuple[str, list[str], int]]:
    """(name, module arguments, seconds allowed) of each step, in order; `rehearse`: the same steps on
    tiny-t5 (and its pretrained twin for the second architecture) with small settings."""
    table = str(out / "throughput.json")
    base, small = ("tiny-t5", "tiny-t5-lm-adapt") if rehearse else ("google/t5-base-lm-adapt", "google/t5-small-lm-adapt")
    few = ["--steps", "1", "--warmup", "0", "--batch-size", "4", "--eval-batch-size", "8", "--source-tokens", "32",
           "--widths", "16"]
    tp = ["scripts.benchmarks.throughput", *(few if rehearse else ["--widths", "32", "64", "128"]), "--out", table]
    def eval_args(members: int, name: str) -> list[str]:
        common = ["scripts.benchmarks.packed_eval", "--compile", "--out", str(out / f"{name}.json"), "--throughput", table]
        if rehearse:
            return [*common, "--members", str(2 if members > 3 else members), "--samples", "16", "--rounds", "1"]
        return [*common, "--model", "random:" + base, "--members", str(members)]

    pack = ["--members", "2"] if rehearse else []
    widths = ["--rehearse", "--widths", "16", "32"] if rehearse else ["--widths", "64", "128"]
    return [("finetune_base", [*tp, "--models", base, "--methods", "full_finetune", "--compile"], 150),
            ("packed_eval", eval_args(8, "packed_eval"), 110),
            ("packed_eval_3", eval_args(3, "packed_eval_3"), 90),
            ("finetune_small", [*tp, "--models", small, "--methods", "full_finetune", "--compile", "--cuda-graphs"], 120),
            ("prompt_methods", [*tp, "--models", small, base, "--methods", "prompt_tuning", "superpos_prompt",
                                "residual_prompt", "attempt"], 110),
            ("pack_widths", ["scripts.benchmarks.pack_widths", *pack, *widths, "--budget-s", "150", "--throughput", table,
                             "--out", str(out / "pack_widths.json")], 240),
            ("flex_attention", ["scripts.benchmarks.flex_attention", *pack, "--out", str(out / "flex_attention.json")], 100),
            ("profile_pack", ["scripts.benchmarks.profile_pack", *pack, *(["--steps", "2"] if rehearse else []),
                              "--out", str(out / "profile_pack.json")], 60)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks.gpu_session", description=first_paragraph(__doc__))
    parser.add_argument("--out", required=True, help="the folder every figure is written to ($OUT on a lent device)")
    parser.add_argument("--budget-s", type=float, default=540, help="stop starting steps past this many seconds")
    parser.add_argument("--rehearse", action="store_true", help="tiny-t5, small settings: check the script on a CPU")
    parser.add_argument("--only", nargs="+", metavar="STEP", choices=[name for name, _, _ in steps(Path("."), False)],
                        help="run only these steps (a later session's: the ones an earlier one skipped)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if SHIPPED.is_file() and not (out / "throughput.json").is_file():
        shutil.copy(SHIPPED, out / "throughput.json")
    summary: dict = {"steps": []}
    started = time.monotonic()
    for name, module_args, limit in steps(out, args.rehearse):
        if args.only and name not in args.only:
            continue
        left = args.budget_s - (time.monotonic() - started)
        if left < 30:
            summary["steps"].append({"step": name, "skipped": f"{left:.0f} s of the budget left"})
            continue
        t = time.monotonic()
        try:
            done = subprocess.run([sys.executable, "-m", *module_args], timeout=min(limit, left), capture_output=True,
                                  text=True)
            result = {"rc": done.returncode, "tail": (done.stdout + done.stderr)[-1500:]}
        except subprocess.TimeoutExpired as err:
            result = {"rc": "timeout", "tail": ((err.stdout or b"").decode(errors="replace") if isinstance(err.stdout, bytes)
                                                else (err.stdout or ""))[-1500:]}
        summary["steps"].append({"step": name, "seconds": time.monotonic() - t, **result})
        print(f"{name}: rc {result['rc']} after {time.monotonic() - t:.0f} s", flush=True)
        (out / "gpu_session.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
