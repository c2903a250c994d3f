"""Packed trials vs. one trial per process: aggregate training tokens/s, MFU and peak memory.

    python -m scripts.benchmarks.packing [--out bench-results.json] [--budget-s 540]

On a GPU (the t5-base-lm-adapt architecture, random weights, bf16, batch 32 x 256 source tokens,
10 prompt tokens, 2 target tokens, dropout off), measured in one run, in this order (each figure is
written to `--out` under "packing" as soon as it is measured, so a run cut short keeps them):
the device's bf16 matmul peak; solo eager (the unpacked path a trial takes alone); packed K = 4, 8,
16 eager; SuperPos (m=128) vs prompt tuning in a pack of 8; ours vs HF PEFT alone; K separate
processes on the one GPU (what fractional GPUs in Ray give); then compiled: packed K = 8, solo,
SuperPos in a pack of 8, K = 16 and K = 4 (each new shape compiles for a minute or more, so the
most telling come first and `--budget-s` skips what would not finish).

On a CPU (tiny-t5, fp32, batch 8 x 64 tokens): solo vs packed K = 4, eager, interleaved rounds.

MFU: the FLOPs torch's flop counter counts for the same step run eagerly (forward and backward, no
padding), divided by the step's time and the matmul peak measured here. Needs only torch,
transformers and peft (the workers and this folder): no Ray, Optuna or SQLAlchemy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from scripts import first_paragraph
from scripts.benchmarks.pack_steps import (
    CPU,
    DTYPES,
    GPU,
    Bench,
    matmul_peak,
    packed_step,
    peak_memory,
    seconds_per_step,
    solo_step,
    step_flops,
    sync,
)
from scripts.benchmarks.pack_widths import KEY as WIDTHS


class Results:
    def __init__(self, path: Path, info: dict):
        self.path = path
        self.all = json.loads(path.read_text()) if path.is_file() else {}
        self.all["packing"] = self.data = {"info": info, "rows": []}
        self.save()

    def save(self) -> None:
        self.path.write_text(json.dumps(self.all, indent=2) + "\n")

    def add(self, row: dict) -> dict:
        self.data["rows"].append(row)
        self.save()
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
        return row


def measure(bench: Bench, results: Results, name: str, k: int, method: str, compile: bool, peak: float | None) -> dict:
    device, s = bench.device, bench.setup
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    members = bench.members(k, method)
    if k == 1 and not compile:
        step, forward = solo_step(members, device), None
    else:
        step, forward = packed_step(members, device, compile)
    flops = step_flops(solo_step(members, device) if k == 1 else packed_step(members, device, False)[0])
    seconds, warm = seconds_per_step(step, s["steps"], s["warmup"])
    fell_back = forward is not None and compile and forward.compiled is None
    tokens = bench.tokens(members)
    row = {"name": name, "pack": k, "method": method, "compiled": compile and not fell_back, "step_s": seconds,
           "tokens_per_s": tokens / seconds, "tflops": flops / seconds / 1e12,
           "mfu": flops / seconds / peak if peak else None, "peak_memory_gib": peak_memory(),
           "warmup_s": warm}
    del members, step
    return results.add(row)


def separate_processes(setup: dict, k: int, seconds: float = 15.0) -> dict:
    """K solo trials in K processes on the one GPU at once: their summed tokens/s."""
    start_at = time.time() + 35  # every process has loaded its model by then
    procs = [subprocess.Popen([sys.executable, "-m", "scripts.benchmarks.packing", "--solo-worker",
                               json.dumps({**setup, "start_at": start_at, "seconds": seconds, "seed": i})],
                              stdout=subprocess.PIPE, text=True) for i in range(k)]
    outs = [json.loads(p.communicate(timeout=start_at - time.time() + seconds + 120)[0].strip().splitlines()[-1])
            for p in procs]
    return {"name": f"separate_processes_{k}", "pack": 1, "processes": k, "method": "prompt_tuning",
            "compiled": False, "tokens_per_s": sum(o["tokens_per_s"] for o in outs),
            "peak_memory_gib": max((o["peak_memory_gib"] or 0.0) for o in outs) or None}


def solo_worker(arg: str) -> None:
    cfg = json.loads(arg)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bench = Bench(cfg, device)
    members = bench.members(1)
    step = solo_step(members, device)
    for _ in range(cfg["warmup"]):
        step()
    sync()
    time.sleep(max(0.0, cfg["start_at"] - time.time()))
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < cfg["seconds"]:
        step()
        steps += 1
    sync()
    rate = steps * bench.tokens(members) / (time.perf_counter() - start)
    print(json.dumps({"tokens_per_s": rate, "peak_memory_gib": peak_memory()}), flush=True)


def _guarded(results: Results, name: str, run) -> dict | None:
    """A figure that fails (out of memory, a compiler error) is recorded as such; the run goes on."""
    try:
        return run()
    except Exception as err:  # noqa: BLE001
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return results.add({"name": name, "error": f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"})


def gpu(results: Results, budget_s: float, started: float, setup: dict = GPU, device: str = "cuda") -> None:
    """The GPU sequence (`--rehearse` runs it on the CPU with tiny-t5, to check the script before a GPU run)."""
    bench = Bench(setup, device)
    peak = matmul_peak(device, n=8192 if device == "cuda" else 512)
    results.data["info"]["bf16_matmul_peak_tflops"] = peak / 1e12
    results.save()
    solo = measure(bench, results, "solo_eager", 1, "prompt_tuning", False, peak)
    for k in (4, 8, 16):
        _guarded(results, f"packed_{k}_eager",
                 lambda k=k: measure(bench, results, f"packed_{k}_eager", k, "prompt_tuning", False, peak))
    _guarded(results, "packed_8_eager_superpos",
             lambda: measure(bench, results, "packed_8_eager_superpos", 8, "superpos_prompt", False, peak))
    _guarded(results, "solo_ours_vs_peft", lambda: results.add(_peft_ratio(bench)))
    _guarded(results, "separate_processes_4", lambda: results.add(separate_processes(setup, 4)))
    compiled = [("packed_8_compiled", 8, "prompt_tuning"), ("solo_compiled", 1, "prompt_tuning"),
                ("packed_8_compiled_superpos", 8, "superpos_prompt"), ("packed_16_compiled", 16, "prompt_tuning"),
                ("packed_4_compiled", 4, "prompt_tuning")]
    for name, k, method in compiled:
        if time.perf_counter() - started > budget_s - 150:  # a compile takes a minute or two
            results.data["info"].setdefault("skipped", []).append(name)
            results.save()
            continue
        _guarded(results, name, lambda name=name, k=k, method=method: measure(bench, results, name, k, method, True, peak))
    _summarise(results, solo)


def _peft_ratio(bench: Bench) -> dict:
    from scripts.benchmarks.__main__ import side_by_side
    from scripts.benchmarks.peft_reference import ours_and_peft, train_step

    ours, opt_ours, peft_model, opt_peft = ours_and_peft(bench.setup["model"], device=bench.device,
                                                         dtype=DTYPES[bench.setup["precision"]])
    batch = {k: v.to(bench.device) for k, v in bench.batch(0).items()}
    t = side_by_side({"ours": lambda: train_step(ours, opt_ours, batch),
                      "peft": lambda: train_step(peft_model, opt_peft, batch)}, rounds=5)
    return {"name": "solo_ours_vs_peft", "ours_step_s": t["ours"], "peft_step_s": t["peft"],
            "ratio_ours_over_peft": t["ours"] / t["peft"], "target": "<= 1.0"}


def _summarise(results: Results, solo: dict) -> None:
    rows = {r["name"]: r for r in results.data["rows"]}
    summary = {name: r["tokens_per_s"] / solo["tokens_per_s"] for name, r in rows.items() if "tokens_per_s" in r}
    results.data["speedup_over_solo_eager"] = summary
    for compiled in ("", "_compiled"):
        pt, sp = rows.get(f"packed_8{compiled or '_eager'}"), rows.get(f"packed_8{compiled or '_eager'}_superpos")
        if pt and sp:
            results.data[f"superpos_overhead_in_pack{compiled or '_eager'}"] = pt["tokens_per_s"] / sp["tokens_per_s"] - 1
    results.save()
    print(json.dumps({k: v for k, v in results.data.items() if k != "rows"}, indent=2), flush=True)


def write_speedups(results: Results, path: Path) -> None:
    """The training speed-up of packs (eager and compiled) over one eager trial, per pack size, for the
    planner; kept beside the per-method throughput rows."""
    import datetime

    speedups, info = results.data["speedup_over_solo_eager"], results.data["info"]
    curves = {"eager": {"1": 1.0}, "compiled": {}}
    for name, value in speedups.items():
        parts = name.split("_")  # solo_eager, packed_8_compiled, ... (SuperPos and processes rows are not curves)
        if len(parts) == 2 and parts[0] == "solo" and parts[1] == "compiled":
            curves["compiled"]["1"] = round(value, 3)
        elif len(parts) == 3 and parts[0] == "packed":
            curves[parts[2]][parts[1]] = round(value, 3)
    table = json.loads(path.read_text()) if path.is_file() else {"provenance": {}, "rows": []}
    setup = info["setup"]
    warmups = sorted(r["warmup_s"] for r in results.data["rows"] if r.get("compiled") and r.get("warmup_s"))
    old = table.get("packing") or {}
    kept = {k: v for k, v in old.items() if k.startswith("eval_") or k == WIDTHS}  # packed_eval's, pack_widths'
    table["packing"] = {**kept, "provenance": {**{k: v for k, v in old.get("provenance", {}).items() if k == WIDTHS},
        "device": info["device"], "date": datetime.date.today().isoformat(), "torch": info["torch"],
        "command": "python -m scripts.benchmarks.packing",
        "inputs": f"{setup['model'].removeprefix('random:')} architecture, {setup['precision']}, batch {setup['batch']} "
                  f"x {setup['source']} source tokens, 10 prompt tokens, {setup['target']} target tokens, dropout off, "
                  "random weights"}, "train_speedup_over_solo_eager": curves,
                        **({"compile_s_per_shape": round(warmups[-1], 1)} if warmups else {})}  # the slowest first shape
    path.write_text(json.dumps(table, indent=2) + "\n")
    print(f"wrote the pack speed-ups into {path}")


def cpu(results: Results, rounds: int = 5) -> None:
    """Solo vs packed K=4 on tiny-t5, interleaved rounds (this machine is noisy)."""
    bench = Bench(CPU, "cpu")
    solo_members, pack_members = bench.members(1), bench.members(4)
    steps = {"solo": solo_step(solo_members, "cpu"), "packed_4": packed_step(pack_members, "cpu", False)[0]}
    tokens = {"solo": bench.tokens(solo_members), "packed_4": bench.tokens(pack_members)}
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(seconds_per_step(step, CPU["steps"], CPU["warmup"])[0])
    for name in steps:
        median = statistics.median(times[name])
        results.add({"name": f"cpu_{name}_eager", "pack": 4 if name != "solo" else 1, "step_s": median,
                     "tokens_per_s": tokens[name] / median})
    rows = {r["name"]: r for r in results.data["rows"]}
    results.data["cpu_packed_4_over_solo_tokens_per_s"] = (rows["cpu_packed_4_eager"]["tokens_per_s"]
                                                           / rows["cpu_solo_eager"]["tokens_per_s"])
    results.save()
    print(f"cpu: packed K=4 / solo aggregate tokens/s = {results.data['cpu_packed_4_over_solo_tokens_per_s']:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks.packing", description=first_paragraph(__doc__))
    parser.add_argument("--out", default="bench-results.json")
    parser.add_argument("--budget-s", type=float, default=540.0, help="stop starting compiled runs after this")
    parser.add_argument("--solo-worker", help=argparse.SUPPRESS)
    parser.add_argument("--rehearse", action="store_true", help="run the GPU sequence on the CPU with tiny-t5")
    parser.add_argument("--throughput", help="on a GPU: also write the pack speed-ups into this throughput table "
                                             "(orchestrator/throughput.json, read by `superpos sweep plan`)")
    args = parser.parse_args(argv)
    if args.solo_worker:
        return solo_worker(args.solo_worker)
    started = time.perf_counter()
    cuda = torch.cuda.is_available()
    info = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__,
            "setup": GPU if cuda else CPU, "threads": torch.get_num_threads(),
            "command": "python -m scripts.benchmarks.packing " + " ".join(argv or sys.argv[1:])}
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    results = Results(Path(args.out), info)
    if args.rehearse:
        gpu(results, args.budget_s, started, CPU, "cpu")
    elif cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        gpu(results, args.budget_s, started)
        if args.throughput:
            write_speedups(results, Path(args.throughput))
    else:
        cpu(results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
