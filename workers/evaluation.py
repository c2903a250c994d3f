"""Evaluate a prompted model on one split by greedy generation (the paper's protocol).

A generated string that is not a valid label is wrong; the share of such outputs is reported, and a
run whose outputs are all invalid is flagged by `invalid_rate == 1.0` (the paper's dagger).
"""

from __future__ import annotations

import math

import torch

from workers.batching import Encoded, batches
from workers.metrics import METRICS
from workers.tasks import TaskSpec


def parse_prediction(task: TaskSpec, text: str) -> float | int:
    """Label index (-1 if invalid) or, for regression, the number (NaN if invalid)."""
    text = text.strip()
    if task.is_regression:
        try:
            value = float(text)
        except ValueError:
            return math.nan
        return value if math.isfinite(value) else math.nan
    return task.label_words.index(text) if text in task.label_words else -1


def score_predictions(task: TaskSpec, preds: list, golds: list, groups: list | None) -> dict[str, float]:
    """Every metric of the task, the task score (their mean) and the invalid share, all in 0..1."""
    invalid = [(math.isnan(p) if task.is_regression else p == -1) for p in preds]
    result = {name: METRICS[name](preds, golds, groups) for name in task.metrics}
    result["score"] = sum(result[name] for name in task.metrics) / len(task.metrics)
    result["invalid_rate"] = sum(invalid) / max(len(invalid), 1)
    return result


@torch.no_grad()
def evaluate(model, tokenizer, task: TaskSpec, data: Encoded, batch_size: int, device: torch.device) -> dict:
    was_training = model.training
    model.eval()
    preds: list = [None] * len(data)
    for idx, batch in batches(data, batch_size, tokenizer.pad_token_id):
        out = model.generate(
            batch["input_ids"].to(device), batch["attention_mask"].to(device), max_new_tokens=task.target_max_tokens
        )
        for i, text in zip(idx, tokenizer.batch_decode(out, skip_special_tokens=True)):
            preds[i] = parse_prediction(task, text)
    model.train(was_training)
    golds = [e.label for e in data.examples]
    groups = [e.group for e in data.examples] if task.group_field else None
    return score_predictions(task, preds, golds, groups)
