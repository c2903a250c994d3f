"""Training and evaluation throughput per architecture, precision and method: the table that
`superpos sweep plan` turns into GPU-hours (orchestrator/throughput.json, shipped with its provenance).

    python -m scripts.benchmarks.throughput [--models google/t5-small-lm-adapt google/t5-base-lm-adapt]
        [--precision bf16] [--batch-size 32] [--source-tokens 256] [--widths 32 64 128]
        [--out orchestrator/throughput.json]

Random weights of each architecture (no download), inputs of exactly `--source-tokens` tokens (an upper
bound: real inputs are often shorter), dropout on. `--widths`: the train and eval steps also timed at
these source lengths (`train_step_s_by_width`, `eval_batch_s_by_width`, keyed by encoder width, the
prompt included), the curve by which `sweep plan` prices steps at the inputs' real widths. Train: one AdamW step per batch (fused on a GPU, as
trials do); eval: greedy generation of 5 tokens, at a trial's evaluation batch (`--eval-batch-size`,
default 64: the planner prices a trial's evaluation per example at that batch); `--compile`: full fine-tuning's step also compiled
(`--cuda-graphs`: and compiled with CUDA graphs, mode 'reduce-overhead'). Medians over timed steps after warm-up. Needs only torch and transformers;
rows are written as they are measured, so a run cut short keeps what it measured; a row it does
not measure (another architecture, precision or method) stays in `--out`, with its own date.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from scripts import first_paragraph
from workers.assembly import assemble
from workers.methods import METHOD_CONFIGS, get_method_config
from workers.models import load_model
from workers.presets import EMBEDDED_MODELS, RANDOM_PREFIX
from workers.trial import TrialConfig

METHOD_PARAMS = {"superpos_prompt": {"m": 128}}
EVAL_BATCH = TrialConfig.__dataclass_fields__["eval_batch_size"].default  # what a trial evaluates at


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _median_seconds(fn, device: str, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(model: str, method: str, precision: str, device: str, batch_size: int, source_tokens: int,
            steps: int, warmup: int, compile: bool = False, widths: tuple[int, ...] = (),
            cuda_graphs: bool = False, saved=lambda row: None, eval_batch_size: int = EVAL_BATCH) -> dict:
    """One row: eager train and eval rates (and seconds by width); with `compile`, full fine-tuning's
    compiled rates too. Evaluation runs at `eval_batch_size` rows a batch (default: a trial's), training
    at `batch_size`. `saved(row)` is called once the eager figures are in and again after each
    compiled one, so a run cut short during a compile keeps what it measured."""
    name = model if model in EMBEDDED_MODELS else RANDOM_PREFIX + model
    method_config = get_method_config(method, METHOD_PARAMS.get(method, {}))
    loaded = load_model(name, device=device)
    sources = {task: 0.5 * torch.randn(method_config.n_tokens, loaded.d_model)  # ATTEMPT's: random stand-ins
               for task in getattr(method_config, "sources", ())}
    built = assemble(name, method_config, dropout=True, precision=precision, loaded=loaded, source_prompts=sources or None)
    net = built.model.to(device)
    optimizer = torch.optim.AdamW(built.param_groups, lr=1e-4, fused=device.startswith("cuda"))
    vocab = built.loaded.real_vocab
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(5, vocab, (batch_size, 3), generator=gen).to(device)
    batch: dict[str, torch.Tensor] = {}

    def use(tokens: int) -> None:
        batch["ids"] = torch.randint(5, vocab, (batch_size, tokens), generator=gen).to(device)
        batch["mask"] = torch.ones_like(batch["ids"])
        batch["eval_ids"] = torch.randint(5, vocab, (eval_batch_size, tokens), generator=gen).to(device)

    def train_step(t5=None):
        loss = net(batch["ids"], batch["mask"], labels, t5=t5)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def eval_step():
        with torch.no_grad():
            net.eval()
            net.generate(batch["eval_ids"], torch.ones_like(batch["eval_ids"]), max_new_tokens=5)
            net.train()

    prompt = getattr(method_config, "n_tokens", None) or 0
    timed: dict[int, tuple[float, float]] = {}  # encoder width -> (train step s, eval batch s)
    for tokens in [*sorted(set(widths) - {source_tokens}), source_tokens]:  # the row's own last: its peak memory
        use(tokens)
        if tokens == source_tokens and device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        timed[prompt + tokens] = (_median_seconds(train_step, device, steps, warmup),
                                  _median_seconds(eval_step, device, max(1, steps // 2), 1))
    train_s, eval_s = timed[prompt + source_tokens]
    row = {"architecture": model, "precision": precision, "method": method, "batch_size": batch_size,
           "eval_batch_size": eval_batch_size, "source_tokens": source_tokens, "train_step_s": train_s,
           "eval_batch_s": eval_s, "train_examples_per_s": batch_size / train_s,
           "eval_examples_per_s": eval_batch_size / eval_s,
           "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None}
    if widths:
        for k, key in enumerate(("train_step_s_by_width", "eval_batch_s_by_width")):
            row[key] = {str(w): seconds[k] for w, seconds in sorted(timed.items())}
    saved(row)
    if compile and not method_config.trains_prompt:  # full fine-tuning alone, compiled (workers/trial.py)
        variants = [("compile_s", "compiled_train_examples_per_s", {})]
        if cuda_graphs:  # the same, its forward and backward replayed as CUDA graphs (on a CPU: inductor alone)
            variants.append(("cudagraph_compile_s", "cudagraph_train_examples_per_s", {"mode": "reduce-overhead"}))
        for compile_key, rate_key, options in variants:
            compiled = torch.compile(net.t5, dynamic=False, **options)
            started = time.perf_counter()
            train_step(compiled)  # the compile
            row[compile_key] = time.perf_counter() - started
            row[rate_key] = batch_size / _median_seconds(lambda t5=compiled: train_step(t5), device, steps, warmup)
            saved(row)
    return row


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks.throughput", description=first_paragraph(__doc__))
    parser.add_argument("--models", nargs="+", default=["google/t5-small-lm-adapt", "google/t5-base-lm-adapt"])
    parser.add_argument("--methods", nargs="+", default=list(METHOD_CONFIGS))
    parser.add_argument("--precision", default=None, help="bf16 on a GPU, fp32 on a CPU (default)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-batch-size", type=int, default=EVAL_BATCH,
                        help=f"evaluation batch size (default {EVAL_BATCH}: a trial's, TrialConfig.eval_batch_size)")
    parser.add_argument("--source-tokens", type=int, default=256)
    parser.add_argument("--cuda-graphs", action="store_true", help="with --compile, also time full fine-tuning "
                        "compiled with mode='reduce-overhead' (CUDA graphs): cudagraph_train_examples_per_s")
    parser.add_argument("--widths", type=int, nargs="*", default=[], metavar="TOKENS",
                        help="also time each row at these source lengths (the planner's width curve), e.g. 32 64 128")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", default="orchestrator/throughput.json")
    parser.add_argument("--compile", action="store_true", help="also time full fine-tuning compiled "
                        "(compiled_train_examples_per_s, which `sweep plan` uses with resources.compile)")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = args.precision or ("bf16" if device == "cuda" else "fp32")
    table = {"provenance": {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else f"cpu ({platform.machine()})",
        "date": datetime.date.today().isoformat(), "torch": torch.__version__,
        "command": "python -m scripts.benchmarks.throughput " + " ".join(argv or []),
        "inputs": f"{args.source_tokens} source tokens, 3 target tokens, dropout on, random weights"},
        "rows": []}
    out = Path(args.out)
    if out.is_file():  # other sections (the packing speed-ups of scripts/benchmarks/packing.py) stay, and the
        old = json.loads(out.read_text())  # rows of what this run does not measure (each with its own date)
        measured = {(m, precision, method) for m in args.models for method in args.methods}
        kept = [r for r in old.get("rows", []) if r.get("task") or
                (r["architecture"], r["precision"], r["method"]) not in measured]
        table = {**old, **table, "rows": [{"date": old.get("provenance", {}).get("date"), **r} for r in kept]}
    for model in args.models:
        for method in args.methods:
            index = len(table["rows"])

            def saved(row: dict, index=index) -> None:
                table["rows"][index:] = [{**row, "date": table["provenance"]["date"]}]
                out.write_text(json.dumps(table, indent=2) + "\n")

            row = measure(model, method, precision, device, args.batch_size, args.source_tokens, args.steps,
                          args.warmup, args.compile, tuple(args.widths), args.cuda_graphs, saved,
                          args.eval_batch_size)
            print(f"{model} {precision} {method}: train {row['train_examples_per_s']:.0f} ex/s, eval "
                  f"{row['eval_examples_per_s']:.0f} ex/s" + (f", peak {row['peak_memory_gib']:.1f} GiB"
                                                              if row["peak_memory_gib"] else "")
                  + (f"; compiled train {row['compiled_train_examples_per_s']:.0f} ex/s after {row['compile_s']:.0f} s "
                     "of compiling" if "compile_s" in row else "")
                  + (f"; CUDA graphs {row['cudagraph_train_examples_per_s']:.0f} ex/s" if "cudagraph_compile_s" in row
                     else ""), flush=True)
            if device == "cuda":
                torch.cuda.empty_cache()
    print(f"wrote {out}")
    return table


if __name__ == "__main__":
    main()
