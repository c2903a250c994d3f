"""Evaluation of a pack's members: together (one stacked pass per batch, workers/packed_eval.py) vs.
one after another (what each trial does alone), side by side in one run, as validation examples/s.

    python -m scripts.benchmarks.packed_eval [--model tiny-t5-lm-adapt] [--members 4] [--rounds 5] [--compile]
                                             [--out FILE] [--throughput FILE]

Members: prompt tuning (10 tokens) on one task's validation split (the demo copy: 64 examples,
which caps --samples; `--varied`: sst2 inputs of 8-200 tokens), each with its own prompt, under both
evaluation modes; the answers are checked equal before timing. "alone" is a member's own
evaluation (Member.evaluate: sorted by width into passes), beside its batches in data order
(workers/evaluation.py, what a trial alone did before). `--compile` also times the passes with the encoder compiled (inductor,
bucketed shapes, as a compiled pack runs them) and the seconds its first call took (the compiles).
Default: the embedded tiny model (the demo's mnli, eval batch 64); on a GPU:
--model random:google/t5-base-lm-adapt --members 8 --compile.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from scripts import first_paragraph
from scripts.benchmarks.__main__ import side_by_side
from workers.evaluation import outputs
from workers.member import Member
from workers.models import load_model
from workers.packed_eval import outputs_together, passes, token_budget
from workers.trial import TrialConfig


def members(model: str, task: str, k: int, mode: str, samples: int, batch: int, loaded, data: str = "demo") -> list[Member]:
    out = []
    for seed in range(k):
        cfg = TrialConfig(method="prompt_tuning", task=task, model=model, dropout=False, seed=seed, eval_mode=mode,
                          max_eval_samples=samples, eval_batch_size=batch, max_train_samples=8, data=data)
        out.append(Member.build(cfg, loaded=loaded, cache=True))
    return out


def one_by_one(group: list[Member], device) -> list[list]:
    """What the members' evaluations do when each runs alone (Member.evaluate: its own examples sorted
    by width into passes)."""
    return [outputs_together(m.model.t5, m.tokenizer, [m.eval_jobs()["val"]], device)[0] for m in group]


def in_data_order(group: list[Member], device) -> list[list]:
    """workers.evaluation's batches in data order: the answers every other path must give."""
    return [outputs(m.model, m.tokenizer, m.task, m.splits["val"], m.cfg.eval_batch_size, device, m.cfg.eval_mode)
            for m in group]


def _compiled(loaded, jobs, device) -> tuple:
    """The compiled variant's function, its answers, the seconds its first call (compiling every shape)
    took and how many shapes that was."""
    import time

    encoder = torch.compile(loaded.model.get_encoder(), dynamic=False)

    def run():
        return outputs_together(loaded.model, loaded.tokenizer, jobs, device, encoder, buckets=True)

    start = time.perf_counter()
    answers = run()
    seconds = time.perf_counter() - start
    prepared = [job.prepared(loaded.tokenizer) for job in jobs]
    shapes = {(p.rows, p.width) for p in passes([job.widths() for job in prepared], token_budget(prepared), True)}
    return run, answers, seconds, len(shapes)


def bench(model: str, task: str, k: int, samples: int, batch: int, rounds: int, compile: bool = False,
          data: str = "demo") -> dict:
    loaded = load_model(model)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    loaded.model.to(device)
    figures = {}
    for mode in ("generate", "rank"):
        group = members(model, task, k, mode, samples, batch, loaded, data)
        jobs = [m.eval_jobs()["val"] for m in group]
        examples = sum(len(j.data) for j in jobs)
        expected = in_data_order(group, device)
        assert expected == one_by_one(group, device) == outputs_together(loaded.model, loaded.tokenizer, jobs, device)
        fns = {"alone_in_data_order": lambda group=group: in_data_order(group, device),
               "alone": lambda group=group: one_by_one(group, device),
               "together": lambda jobs=jobs: outputs_together(loaded.model, loaded.tokenizer, jobs, device)}
        if compile:
            fns["together_compiled"], answers, compile_s, shapes = _compiled(loaded, jobs, device)
        times = side_by_side(fns, rounds)
        figures[mode] = {f"examples_per_s_{name}": round(examples / t, 1) for name, t in times.items()}
        figures[mode]["speedup"] = round(times["alone"] / times["together"], 2)
        figures[mode]["sorted_alone_speedup"] = round(times["alone_in_data_order"] / times["alone"], 2)
        line = (f"{mode:8s} {k} members x {len(jobs[0].data)} examples: alone {figures[mode]['examples_per_s_alone']}"
                f" ex/s ({figures[mode]['sorted_alone_speedup']}x its batches in data order), together "
                f"{figures[mode]['examples_per_s_together']} ex/s ({figures[mode]['speedup']}x)")
        if compile:
            figures[mode].update(compiled_speedup=round(times["alone"] / times["together_compiled"], 2),
                                 compile_s=round(compile_s, 1), compiled_shapes=shapes,
                                 compiled_answers_equal=answers == expected)  # float rounding may flip a near tie
            line += (f", compiled {figures[mode]['examples_per_s_together_compiled']} ex/s "
                     f"({figures[mode]['compiled_speedup']}x; {shapes} shapes compiled in {compile_s:.1f} s; "
                     f"answers {'equal' if answers == expected else 'NOT equal'})")
        print(line)
    return {"model": model, "task": task, "data": data, "members": k, "device": str(device),
            "device_name": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", **figures}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks.packed_eval", description=first_paragraph(__doc__))
    parser.add_argument("--model", default="tiny-t5-lm-adapt")
    parser.add_argument("--task", default="mnli")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--samples", type=int, default=64, help="validation examples per member")
    parser.add_argument("--batch", type=int, default=64, help="evaluation batch size")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", help="also write the figures to this JSON file")
    parser.add_argument("--throughput", metavar="FILE", help="also write the speed-ups into this throughput table "
                        "(packing.eval_speedup, which `superpos sweep plan` reads), e.g. orchestrator/throughput.json")
    parser.add_argument("--compile", action="store_true", help="also time the passes with the encoder compiled")
    parser.add_argument("--varied", action="store_true", help="sst2 of real-looking spreads of lengths (a local "
                        "folder, scripts/benchmarks/input_widths.py) instead of the demo copy's near-equal inputs")
    args = parser.parse_args(argv)
    data, task = "demo", args.task
    if args.varied:
        import tempfile

        from scripts.benchmarks.input_widths import write_folder

        data, task = tempfile.mkdtemp(prefix="superpos-varied-"), "sst2"
        write_folder(Path(data), examples=64, validation=args.samples)
    result = bench(args.model, task, args.members, args.samples, args.batch, args.rounds, args.compile, data)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.throughput:
        write_speedups(result, Path(args.throughput))


def write_speedups(result: dict, path: Path) -> None:
    """packing.eval_speedup[mode][members] = measured (and 1 at 1): the planner interpolates between
    them. A run with another member count adds its point to the curve (a pack's epochs often end
    for 2 or 3 members together, so a curve of 1 and 8 alone would guess there); one with the
    same count replaces it."""
    table = json.loads(path.read_text()) if path.is_file() else {"provenance": {}, "rows": []}
    packing = table.setdefault("packing", {})
    modes, members = ("generate", "rank"), str(result["members"])
    for mode in modes:
        packing.setdefault("eval_speedup", {}).setdefault(mode, {"1": 1.0})[members] = result[mode]["speedup"]
    if "compiled_speedup" in result["generate"]:  # a compiled pack's evaluation, and its compiles per shape
        for mode in modes:
            packing.setdefault("compiled_eval_speedup", {}).setdefault(mode, {"1": 1.0})[members] = (
                result[mode]["compiled_speedup"])
        packing["eval_compile_s_per_shape"] = round(max([packing.get("eval_compile_s_per_shape", 0.0)] + [
            result[m]["compile_s"] / result[m]["compiled_shapes"] for m in modes]), 1)
    command = "python -m scripts.benchmarks.packed_eval" + (" --compile" if "compiled_speedup" in result["generate"] else "")
    counts = sorted({int(k) for curve in packing["eval_speedup"].values() for k in curve} - {1})
    packing["eval_provenance"] = {"device": result["device_name"], "command": command,
                                  "inputs": f"{result['model']}, {result['task']}, "
                                            f"{' and '.join(map(str, counts))} members"}
    path.write_text(json.dumps(table, indent=2) + "\n")
    print(f"wrote the packed-evaluation speed-ups into {path}")


if __name__ == "__main__":
    main()
