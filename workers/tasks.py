"""The task table: one place for every fact about a task (data, not code).

Each GLUE/SuperGLUE task is text-to-text: the input is "key: value" pairs of the example's fields
(the format of Residual Prompt Tuning's code), the target is a label word (or, for STS-B, the score
rounded to one decimal). The task score is the mean of the task's metrics, as the paper averages
two-metric tasks. Imports nothing heavy, so the orchestrator can validate a spec with it.
"""

from __future__ import annotations

from dataclasses import dataclass

GLUE = "nyu-mll/glue"
SUPER_GLUE = "aps/super_glue"
ENTAIL2 = ("entailment", "not_entailment")
BOOL = ("false", "true")


@dataclass(frozen=True)
class TaskSpec:
    """How to load, format and score one task."""

    name: str
    dataset: str  # Hugging Face dataset id
    config: str  # dataset config name
    input_fields: tuple[str, ...]  # rendered as "field: value" in this order
    label_words: tuple[str, ...]  # label index -> target text; empty for regression
    metrics: tuple[str, ...]  # ids in workers.metrics.METRICS; task score = their mean
    train_split: str = "train"
    validation_split: str = "validation"
    target_max_tokens: int = 4
    group_field: str | None = None  # MultiRC: exact match is per question (idx less its answer)

    @property
    def is_regression(self) -> bool:
        return not self.label_words


def _t(*args, **kwargs) -> TaskSpec:
    return TaskSpec(*args, **kwargs)


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        _t("qqp", GLUE, "qqp", ("question1", "question2"), ("not_duplicate", "duplicate"), ("f1", "accuracy")),
        _t("qnli", GLUE, "qnli", ("question", "sentence"), ENTAIL2, ("accuracy",)),
        _t("mnli", GLUE, "mnli", ("premise", "hypothesis"), ("entailment", "neutral", "contradiction"),
           ("accuracy",), validation_split="validation_matched"),
        _t("sst2", GLUE, "sst2", ("sentence",), ("negative", "positive"), ("accuracy",)),
        _t("stsb", GLUE, "stsb", ("sentence1", "sentence2"), (), ("pearson", "spearman"), target_max_tokens=5),
        _t("mrpc", GLUE, "mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"), ("f1", "accuracy")),
        _t("cola", GLUE, "cola", ("sentence",), ("not_acceptable", "acceptable"), ("matthews",)),
        _t("multirc", SUPER_GLUE, "multirc", ("question", "answer", "paragraph"), BOOL, ("f1a", "em"),
           group_field="idx"),
        _t("rte", SUPER_GLUE, "rte", ("premise", "hypothesis"), ENTAIL2, ("accuracy",)),
        _t("cb", SUPER_GLUE, "cb", ("premise", "hypothesis"), ("entailment", "contradiction", "neutral"),
           ("macro_f1", "accuracy")),
        _t("copa", SUPER_GLUE, "copa", ("choice1", "choice2", "premise", "question"), ("0", "1"), ("accuracy",)),
        _t("wic", SUPER_GLUE, "wic", ("word", "sentence1", "sentence2"), BOOL, ("accuracy",)),
        _t("boolq", SUPER_GLUE, "boolq", ("passage", "question"), BOOL, ("accuracy",)),
    )
}


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(sorted(TASKS))}") from None
