"""Evaluation protocols: which examples train, which select the epoch, which are reported.

- `paper`: train on train, select and report on the validation split (what the paper does: GLUE and
  SuperGLUE test labels are hidden). Scores are optimistic, since selection sees the reported data.
- `holdout_validation`: the validation split is cut in two (seeded, whole MultiRC questions kept
  together): one half selects the epoch ("val"), the other is reported ("test").
- `holdout_train`: `holdout_size` examples of train (default 10%) select the epoch ("val"); the
  validation split is reported ("test"). For large tasks where validation is precious.
The protocol is recorded with every trial and cell; reported scores carry their split.
"""

from __future__ import annotations

import random

from workers.data import TextExample, load_examples, subsample
from workers.tasks import TaskSpec
from workers.trial import PROTOCOLS

SPLIT_SEED = 0  # fixed, so every trial of a task sees the same split


def _cut(examples: list[TextExample], first: int) -> tuple[list[TextExample], list[TextExample]]:
    """Seeded split by group (an example without a group is its own group)."""
    groups: dict[str, list[TextExample]] = {}
    for i, e in enumerate(examples):
        groups.setdefault(e.group if e.group is not None else f"#{i}", []).append(e)
    keys = sorted(groups)
    random.Random(SPLIT_SEED).shuffle(keys)
    a, b = [], []
    for key in keys:
        (a if len(a) < first else b).extend(groups[key])
    return a, b


Splits = dict[str, list[TextExample]]


def _paper(train: list, validation: list, holdout_size: int | None) -> Splits:
    return {"train": train, "val": validation}


def _holdout_validation(train: list, validation: list, holdout_size: int | None) -> Splits:
    selection, report = _cut(validation, holdout_size or len(validation) // 2)
    return {"train": train, "val": selection, "test": report}


def _holdout_train(train: list, validation: list, holdout_size: int | None) -> Splits:
    selection, rest = _cut(train, holdout_size or max(1, len(train) // 10))
    return {"train": rest, "val": selection, "test": validation}


SPLITTERS = {"paper": _paper, "holdout_validation": _holdout_validation, "holdout_train": _holdout_train}


def protocol_splits(task: TaskSpec, protocol: str, source: str, seed: int, max_train: int | None = None,
                    max_eval: int | None = None, holdout_size: int | None = None,
                    revision: str | None = None) -> Splits:
    """{"train": ..., "val": ..., and "test" for the holdout protocols}; `revision`: of a hub dataset."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"eval_protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    train = load_examples(task, task.train_split, source, None, seed, revision)
    validation = load_examples(task, task.validation_split, source, max_eval, seed, revision)
    splits = SPLITTERS[protocol](train, validation, holdout_size)
    splits["train"] = subsample(splits["train"], max_train, seed)
    for name, examples in splits.items():
        if not examples:
            raise ValueError(f"task {task.name}: protocol {protocol!r} leaves no examples for {name!r}")
    return splits
