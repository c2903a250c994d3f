"""Does the embedded model learn? Prompt tuning on every demo task, on `tiny-t5-lm-adapt` (pretrained)
beside `tiny-t5` (random weights), against the majority-class baseline of each validation split.

    python -m scripts.benchmarks.embedded_model [--epochs 10] [--lr 0.3] [--method prompt_tuning] [--params JSON] [--out FILE]

Each trial as the demo runs it (dropout off, batch 32, the demo data: 256 training and 64
validation examples per task); the figure is the peak validation score (the paper's selection), in %.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from scripts import first_paragraph
from workers.data import load_examples
from workers.evaluation import score_predictions
from workers.tasks import TASKS, get_task
from workers.trial import TrialConfig, run_trial

MODELS = ("tiny-t5-lm-adapt", "tiny-t5")


def baseline(task_name: str) -> float:
    """The score of always answering the training split's most common label (the mean, for STS-B)."""
    task = get_task(task_name)
    if task.is_regression:
        return 0.0  # a constant has no correlation
    val = load_examples(task, task.validation_split)
    common = Counter(e.label for e in load_examples(task, task.train_split)).most_common(1)[0][0]
    groups = [e.group for e in val] if task.group_field else None
    return 100 * score_predictions(task, [common] * len(val), [e.label for e in val], groups)["score"]


def peak(model: str, task: str, method: str, lr: float, epochs: int, params: dict) -> float:
    reports: list = []
    cfg = TrialConfig(method=method, task=task, model=model, dropout=False, lr=lr, epochs=epochs, device="cpu",
                      method_params=params)
    run_trial(cfg, report=reports.append)
    return 100 * max(r["val/score"] for r in reports)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmarks.embedded_model", description=first_paragraph(__doc__))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.3)
    parser.add_argument("--method", default="prompt_tuning")
    parser.add_argument("--params", type=json.loads, default={}, help='method options as JSON, e.g. \'{"m": 32}\'')
    parser.add_argument("--tasks", nargs="*", default=sorted(TASKS))
    parser.add_argument("--out", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    rows = []
    print(f"{args.method}, lr {args.lr}, {args.epochs} epochs, peak validation score (%)")
    print(f"{'task':8s} {'majority':>9s} " + " ".join(f"{m:>17s}" for m in MODELS))
    for task in args.tasks:
        row = {"task": task, "majority": round(baseline(task), 1),
               **{m: round(peak(m, task, args.method, args.lr, args.epochs, args.params), 1) for m in MODELS}}
        rows.append(row)
        print(f"{task:8s} {row['majority']:9.1f} " + " ".join(f"{row[m]:17.1f}" for m in MODELS), flush=True)
    beats = sum(r[MODELS[0]] > r["majority"] + 10 for r in rows)
    print(f"{MODELS[0]} beats the majority baseline by more than 10 points on {beats} of {len(rows)} tasks")
    if args.out:
        Path(args.out).write_text(json.dumps({"method": args.method, "lr": args.lr, "epochs": args.epochs,
                                              "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
