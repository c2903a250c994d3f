"""Evaluate a prompted model on one split.

- `generate` (the paper's protocol): greedy decoding; a string that is not a valid label is wrong,
  and the share of such outputs is reported (`invalid_rate`; 1.0 is the paper's dagger).
- `rank`: score every label string by its likelihood and take the best; no invalid outputs, one
  decoder pass per label. Regression (STS-B) keeps its numeric target and is generated under both.
"""

from __future__ import annotations

import math

import torch

from workers.batching import Encoded, batches
from workers.metrics import METRICS
from workers.tasks import TaskSpec, normalize_text
from workers.trial import EVAL_MODES


def target_tokens(task: TaskSpec, tokenizer) -> int:
    """Target tokens kept in training and generated at most: the task's length, raised so that every
    label word (with </s>) fits with this tokenizer."""
    longest = max((len(tokenizer(w)["input_ids"]) for w in task.label_words), default=0)
    return max(task.target_max_tokens, longest)


def parse_prediction(task: TaskSpec, text: str) -> float | int:
    """Label index (-1 if invalid) or, for regression, the number (NaN if invalid). Under a template
    set that normalises (the reference's), both sides are compared normalised."""
    text = text.strip()
    if task.is_regression:
        try:
            value = float(text)
        except ValueError:
            return math.nan
        return value if math.isfinite(value) else math.nan
    words = [normalize_text(w) for w in task.label_words] if task.normalize else list(task.label_words)
    text = normalize_text(text) if task.normalize else text
    return words.index(text) if text in words else -1


def score_predictions(task: TaskSpec, preds: list, golds: list, groups: list | None) -> dict[str, float]:
    """Every metric of the task, the task score (their mean) and the invalid share, all in 0..1.

    One rule for invalid outputs (-1), the same for every classification metric, as in the reference
    code (which scores the normalised strings): an invalid output is a label of its own. It never
    equals the gold label; it is a class of its own in the Matthews correlation (all invalid: 0, the
    paper's dagger); in F1 it predicts none of the task's classes (a miss for the gold class), and it
    is not one of the classes that macro F1 averages. Regression: an invalid output scores as 0.0."""
    invalid = [(math.isnan(p) if task.is_regression else p == -1) for p in preds]
    labels = list(range(len(task.label_words)))
    result = {name: METRICS[name](preds, golds, groups, labels=labels) for name in task.metrics}
    result["score"] = sum(result[name] for name in task.metrics) / len(task.metrics)
    result["invalid_rate"] = sum(invalid) / max(len(invalid), 1)
    return result


def _generate(model, tokenizer, task, batch, device) -> list[str]:
    out = model.generate(batch["input_ids"].to(device), batch["attention_mask"].to(device),
                         max_new_tokens=target_tokens(task, tokenizer))
    return tokenizer.batch_decode(out, skip_special_tokens=True)


def _rank(model, label_ids, batch, device) -> list[int]:
    scores = model.label_log_likelihoods(batch["input_ids"].to(device), batch["attention_mask"].to(device), label_ids)
    return scores.argmax(-1).tolist()


def is_ranked(task: TaskSpec, mode: str) -> bool:
    """`rank` scores label strings; a regression task (STS-B) is generated under both modes."""
    if mode not in EVAL_MODES:
        raise ValueError(f"eval_mode must be one of {', '.join(EVAL_MODES)}, got {mode!r}")
    return mode == "rank" and not task.is_regression


@torch.no_grad()
def outputs(model, tokenizer, task: TaskSpec, data: Encoded, batch_size: int, device: torch.device,
            mode: str = "generate") -> list:
    """The model's raw answer to each example, in data order: the decoded text (generate) or the
    best label's index (rank)."""
    ranked = is_ranked(task, mode)
    label_ids = [tokenizer(w)["input_ids"] for w in task.label_words] if ranked else []
    was_training = model.training
    model.eval()
    found: list = [None] * len(data)
    for idx, batch in batches(data, batch_size, tokenizer.pad_token_id):
        answers = _rank(model, label_ids, batch, device) if ranked else _generate(model, tokenizer, task, batch, device)
        for i, answer in zip(idx, answers):
            found[i] = answer
    model.train(was_training)
    return found


def score_outputs(task: TaskSpec, data: Encoded, answers: list, ranked: bool) -> dict:
    """The metrics of `outputs`' answers."""
    preds = answers if ranked else [parse_prediction(task, text) for text in answers]
    golds = [e.label for e in data.examples]
    groups = [e.group for e in data.examples] if task.group_field else None
    return score_predictions(task, preds, golds, groups)


def evaluate(model, tokenizer, task: TaskSpec, data: Encoded, batch_size: int, device: torch.device,
             mode: str = "generate") -> dict:
    answers = outputs(model, tokenizer, task, data, batch_size, device, mode)
    return score_outputs(task, data, answers, is_ranked(task, mode))
