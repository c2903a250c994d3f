"""The planner's input widths checked against training on this machine: an epoch planned from a
full-width throughput row and its width curve, beside the same epoch trained for real.

    python -m scripts.benchmarks.input_widths [--out FILE] [--threads 1]

1. A local data folder of two tasks whose inputs have real-looking spreads of lengths: sst2 with
   short sentences (lognormal word counts, median ~12 words) and boolq with passages of ~40-400 words
   (truncated at 256 tokens, as trials truncate).
2. One throughput row per task's method measured as `scripts.benchmarks.throughput --widths` measures
   it: random full-length inputs of 256 tokens, timed again at 32, 64 and 128.
3. Per task: `sweep plan`'s training seconds for one epoch of one trial (orchestrator/tune: the
   task's inputs read and tokenized, the step's widest row, priced by the curve), and, beside it,
   the planned seconds with every input at full length (what the plan said before it read widths).
4. The same epoch trained for real (a Member on the folder, eager, one trial alone, after a first
   epoch to warm up), timed.
Target: planned / measured within 0.75-1.25 for every task.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
from pathlib import Path

import torch

from scripts import first_paragraph

MODEL, METHOD, BATCH = "tiny-t5-lm-adapt", "prompt_tuning", 32
WORDS = ("the a story film about river garden city people time little good bad great old new long night "
         "world house man woman child day way hand life work part place case week company system").split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(max(1, words)))


def write_folder(root: Path, examples: int = 640, validation: int = 64) -> None:
    rng = random.Random(0)
    for task, row in (("sst2", lambda i: {"sentence": _text(rng, round(rng.lognormvariate(2.5, 0.6))), "label": i % 2}),
                      ("boolq", lambda i: {"question": _text(rng, rng.randint(5, 12)) + "?", "label": i % 2,
                                           "passage": _text(rng, round(math.exp(rng.uniform(3.7, 6.0))))})):
        (root / task).mkdir(parents=True, exist_ok=True)
        for split, n in (("train", examples), ("validation", validation)):
            with open(root / task / f"{split}.jsonl", "w") as fh:
                for i in range(n):
                    fh.write(json.dumps({**row(i), "idx": i}) + "\n")


def measured_epoch(task: str, data: Path) -> float:
    """Seconds of one real epoch of training (the second: the first warms up), eager, alone."""
    from workers.member import Member
    from workers.trial import TrialConfig

    member = Member.build(TrialConfig(method=METHOD, task=task, model=MODEL, data=str(data), epochs=2,
                                      batch_size=BATCH, dropout=True), cache=False)
    from scripts.benchmarks.pack_steps import train_epoch

    return [train_epoch(member, epoch)[0] for epoch in member.epochs()][-1]


def planned_epoch(task: str, data: Path, table: dict, widths: bool) -> float:
    """`sweep plan`'s seconds for one epoch of one such trial (`widths` off: every input at full length)."""
    from orchestrator.spec import parse_spec
    from orchestrator.spec.plan import expand, trial_config
    from orchestrator.tune.measured import Rates
    from orchestrator.tune.pack_time import Speeds, pack_time

    spec = parse_spec(f"methods: [{METHOD}]\ntasks: [{task}]\nmodels: [{MODEL}]\ndropout: [on]\n"
                      f"training: {{epochs: 1, batch_size: {BATCH}, data: {data}}}\nresources: {{gpus_per_trial: 0}}\n")
    rates = Rates(spec, table)
    load = rates.member({"trial": trial_config(spec, expand(spec)[0], 0.3, 0)})
    if not widths:
        load = type(load)(**{**load.__dict__, "profile": None})
    return pack_time([load], Speeds({1: 1.0})).parts["train"]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks.input_widths", description=first_paragraph(__doc__))
    parser.add_argument("--out", help="write the figures as JSON here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both the row and the epochs")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from scripts.benchmarks.throughput import measure

    row = measure(MODEL, METHOD, "fp32", "cpu", BATCH, 256, steps=5, warmup=2, widths=(32, 64, 128))
    table = {"provenance": {"device": "cpu"}, "rows": [row]}
    print("row: " + ", ".join(f"{w} tokens {s:.3f} s" for w, s in row["train_step_s_by_width"].items()), flush=True)
    figures = {"row": row, "tasks": {}}
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        write_folder(data)
        for task in ("sst2", "boolq"):
            measured = measured_epoch(task, data)
            planned, full = planned_epoch(task, data, table, True), planned_epoch(task, data, table, False)
            figures["tasks"][task] = {"measured_s": measured, "planned_s": planned, "planned_full_length_s": full,
                                      "planned_over_measured": planned / measured,
                                      "full_length_over_measured": full / measured}
            print(f"{task:<6} one epoch: measured {measured:6.2f} s   planned {planned:6.2f} s ({planned / measured:.2f}x;"
                  f" target 0.75-1.25: {'met' if 0.75 <= planned / measured <= 1.25 else 'NOT met'})   "
                  f"planned at full length {full:6.2f} s ({full / measured:.2f}x)", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
