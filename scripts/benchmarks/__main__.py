"""`make bench`: speed figures, each measured side by side in one run (interleaved rounds, medians),
printed as ratios and written to bench-results.json.

    python -m scripts.benchmarks [--model random:google/t5-small-lm-adapt] [--rounds 5] [--out bench-results.json]

- train step of `prompt_tuning` vs HF PEFT's prompt tuning, same model and batches (target ratio <= 1.0)
- `superpos_prompt` (m=128) vs `prompt_tuning` step (target overhead <= 10%)
- evaluation of a classification task: `rank` vs `generate` (target: rank >= 3x faster)
- on a GPU: the t5-base-lm-adapt architecture (random weights) in bf16: tokens/s and peak memory
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch

from scripts import first_paragraph
from scripts.benchmarks.peft_reference import ours_and_peft, train_step
from workers.assembly import assemble
from workers.batching import batches, encode
from workers.data import load_examples
from workers.evaluation import evaluate
from workers.methods import get_method_config
from workers.models import embedded_tokenizer
from workers.tasks import get_task


def _batch(batch_size: int, device: str) -> dict:
    tok, task = embedded_tokenizer(), get_task("sst2")
    data = encode(tok, load_examples(task, "train", max_samples=batch_size), 128, task.target_max_tokens)
    _, batch = batches(data, batch_size, tok.pad_token_id)[0]
    return {k: v.to(device) for k, v in batch.items()}


def side_by_side(fns: dict[str, Callable[[], object]], rounds: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each function, alternating between them every round."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_peft(model: str, rounds: int, batch_size: int, device: str) -> dict:
    ours, opt_ours, peft_model, opt_peft = ours_and_peft(model, device=device)
    batch = _batch(batch_size, device)
    t = side_by_side({"ours": lambda: train_step(ours, opt_ours, batch),
                      "peft": lambda: train_step(peft_model, opt_peft, batch)}, rounds)
    return {"ours_step_s": t["ours"], "peft_step_s": t["peft"], "ratio_ours_over_peft": t["ours"] / t["peft"],
            "target": "<= 1.0"}


def bench_superpos(model: str, rounds: int, batch_size: int, device: str) -> dict:
    built = {name: assemble(model, get_method_config(name, params), dropout=False)
             for name, params in (("prompt_tuning", {}), ("superpos_prompt", {"m": 128}))}
    batch = _batch(batch_size, device)
    steps = {}
    for name, b in built.items():
        b.model.to(device)
        opt = torch.optim.AdamW(b.param_groups, lr=0.01)
        steps[name] = (lambda m=b.model, o=opt: train_step(m, o, batch))
    t = side_by_side(steps, rounds)
    return {"prompt_tuning_step_s": t["prompt_tuning"], "superpos_step_s": t["superpos_prompt"],
            "overhead": t["superpos_prompt"] / t["prompt_tuning"] - 1, "target": "<= 0.10"}


def bench_eval(model: str, rounds: int, device: str, examples: int = 64) -> dict:
    b = assemble(model, get_method_config("prompt_tuning"), dropout=False)
    b.model.to(device)
    tok, task = b.loaded.tokenizer, get_task("sst2")
    data = encode(tok, load_examples(task, "validation", max_samples=examples), 128, task.target_max_tokens)
    dev = torch.device(device)
    t = side_by_side({mode: (lambda mode=mode: evaluate(b.model, tok, task, data, 32, dev, mode))
                      for mode in ("generate", "rank")}, rounds, warmup=1)
    return {"examples": examples, "generate_s": t["generate"], "rank_s": t["rank"],
            "rank_speedup": t["generate"] / t["rank"], "target": ">= 3.0"}


def bench_bf16_step(model: str = "random:google/t5-base-lm-adapt", device: str = "cuda", rounds: int = 5,
                    batch_size: int = 32) -> dict:
    """A superpos_prompt (m=128) train step with the T5 in bf16: tokens per second and peak memory.
    On a GPU with the t5-base-lm-adapt architecture; tests run it on the CPU with tiny-t5."""
    b = assemble(model, get_method_config("superpos_prompt"), dropout=False, precision="bf16")
    b.model.to(device)
    opt = torch.optim.AdamW(b.param_groups, lr=0.01)
    batch = _batch(batch_size, device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t = side_by_side({"step": lambda: train_step(b.model, opt, batch)}, rounds)["step"]
    tokens = int(batch["attention_mask"].sum()) + batch_size * b.model.method.n_tokens  # with the prompt
    return {"model": model, "device": torch.cuda.get_device_name(0) if device.startswith("cuda") else device,
            "batch_size": batch_size, "step_s": t, "tokens_per_s": tokens / t,
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks", description=first_paragraph(__doc__))
    parser.add_argument("--model", default="random:google/t5-small-lm-adapt",
                        help="model for the CPU figures (default: the t5-small-lm-adapt shape, random weights)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default="bench-results.json")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    results = {"host": {"device": device, "machine": platform.machine(), "threads": torch.get_num_threads(),
                        "torch": torch.__version__}, "model": args.model, "rounds": args.rounds,
               "batch_size": args.batch_size}
    for name, run in (("peft_vs_ours", lambda: bench_peft(args.model, args.rounds, args.batch_size, device)),
                      ("superpos_vs_prompt_tuning", lambda: bench_superpos(args.model, args.rounds, args.batch_size, device)),
                      ("rank_vs_generate", lambda: bench_eval(args.model, args.rounds, device))):
        results[name] = run()
        print(f"{name}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in results[name].items()), flush=True)
    if device == "cuda":
        results["gpu_t5_base_bf16"] = bench_bf16_step(rounds=args.rounds)
        print(f"gpu_t5_base_bf16: {results['gpu_t5_base_bf16']}")
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
