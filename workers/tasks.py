"""The task table: one place for every fact about a task (data, not code), and the template sets.

Each GLUE/SuperGLUE task is text-to-text. The default template set, `reference`, follows the code of
Residual Prompt Tuning (github.com/arazd/ResidualPrompts, t5_dataset.py and prompt_tuner2.py), whose
setup the paper follows:
- input: "field: value" pairs in the reference's field order; single-field tasks (CoLA, SST-2) pass
  the raw sentence (t5_dataset.py `preprocess_function`);
- targets: the reference's label words (COPA: false/true); STS-B's score printed and cut to three
  characters, 3.75 -> "3.7" (`str(score)[:3]`);
- target length per task (`task_to_target_len`), raised where a label word needs more tokens with
  the model's tokenizer (workers/evaluation.py `target_tokens`);
- matching: generated text and label words both normalised (lower case, no punctuation or articles,
  single spaces: `normalize_text`) before comparing.
Where the hub's schema differs from the reference's data source, the input reads as the reference's
does: QNLI's hub columns `question`/`sentence` are written `text1: ... text2: ...` (SetFit's columns,
which the reference loads); the template set `reference_hub_fields` writes the hub's names instead.
(STS-B's `label` for `similarity_score` never shows in an input.)

The template set `keyvalue` keeps this project's first formats (every input "field: value", COPA
"0"/"1", WiC as word, sentence1, sentence2, STS-B rounded to one decimal, 4 target tokens (STS-B 5),
exact string match). The set is a training option (`template`) recorded with every cell. The task
score is the mean of the task's metrics, as the paper averages two-metric tasks. Imports nothing
heavy, so the orchestrator can validate a spec with it.
"""

from __future__ import annotations

import dataclasses
import re
import string
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
    input_fields: tuple[str, ...]  # the hub's columns, rendered as "name: value" in this order
    label_words: tuple[str, ...]  # label index -> target text; empty for regression
    metrics: tuple[str, ...]  # ids in workers.metrics.METRICS; task score = their mean
    train_split: str = "train"
    validation_split: str = "validation"
    target_max_tokens: int = 5  # target tokens (with </s>) kept in training and generated at most
    group_field: str | None = None  # MultiRC: exact match is per question (idx less its answer)
    template: str = "reference"  # the template set these formats come from (TEMPLATES)
    raw_single_field: bool = True  # a one-field input is the raw text, without "field: "
    score_format: str = "truncate"  # STS-B target: "truncate" (str(x)[:3]) or "round" (one decimal)
    normalize: bool = True  # compare normalised text (see `normalize_text`), else exact strings
    hub_sizes: tuple[int, int] = (0, 0)  # examples in the hub's train and validation splits (for plans)
    input_names: tuple[str, ...] = ()  # the names written before each field's value; () = the column names

    def input_name(self, i: int) -> str:
        return self.input_names[i] if self.input_names else self.input_fields[i]

    @property
    def is_regression(self) -> bool:
        return not self.label_words


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_text(text: str) -> str:
    """The reference's normalisation: lower case, no punctuation, no articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def _t(*args, **kwargs) -> TaskSpec:
    return TaskSpec(*args, **kwargs)


# examples in the hub's train and validation splits (validation_matched for MNLI)
HUB_SIZES = {"qqp": (363_846, 40_430), "qnli": (104_743, 5_463), "mnli": (392_702, 9_815), "sst2": (67_349, 872),
             "stsb": (5_749, 1_500), "mrpc": (3_668, 408), "cola": (8_551, 1_043), "multirc": (27_243, 4_848),
             "rte": (2_490, 277), "cb": (250, 56), "copa": (400, 100), "wic": (5_428, 638), "boolq": (9_427, 3_270)}

TASKS: dict[str, TaskSpec] = {
    t.name: dataclasses.replace(t, hub_sizes=HUB_SIZES[t.name])
    for t in (
        # target_max_tokens: the reference's task_to_target_len (prompt_tuner2.py)
        _t("qqp", GLUE, "qqp", ("question1", "question2"), ("not_duplicate", "duplicate"), ("f1", "accuracy"),
           target_max_tokens=5),
        _t("qnli", GLUE, "qnli", ("question", "sentence"), ENTAIL2, ("accuracy",), target_max_tokens=5,
           input_names=("text1", "text2")),  # the reference reads SetFit/qnli, whose columns are text1, text2
        _t("mnli", GLUE, "mnli", ("premise", "hypothesis"), ("entailment", "neutral", "contradiction"),
           ("accuracy",), validation_split="validation_matched", target_max_tokens=5),
        _t("sst2", GLUE, "sst2", ("sentence",), ("negative", "positive"), ("accuracy",), target_max_tokens=2),
        _t("stsb", GLUE, "stsb", ("sentence1", "sentence2"), (), ("pearson", "spearman"), target_max_tokens=3),
        _t("mrpc", GLUE, "mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"), ("f1", "accuracy"),
           target_max_tokens=5),
        _t("cola", GLUE, "cola", ("sentence",), ("not_acceptable", "acceptable"), ("matthews",), target_max_tokens=5),
        _t("multirc", SUPER_GLUE, "multirc", ("question", "answer", "paragraph"), BOOL, ("f1a", "em"),
           group_field="idx", target_max_tokens=5),
        _t("rte", SUPER_GLUE, "rte", ("premise", "hypothesis"), ENTAIL2, ("accuracy",), target_max_tokens=5),
        _t("cb", SUPER_GLUE, "cb", ("premise", "hypothesis"), ("entailment", "contradiction", "neutral"),
           ("macro_f1", "accuracy"), target_max_tokens=5),
        _t("copa", SUPER_GLUE, "copa", ("choice1", "choice2", "premise", "question"), BOOL, ("accuracy",),
           target_max_tokens=2),
        _t("wic", SUPER_GLUE, "wic", ("start1", "end1", "sentence1", "start2", "end2", "sentence2", "word"), BOOL,
           ("accuracy",), target_max_tokens=2),
        _t("boolq", SUPER_GLUE, "boolq", ("passage", "question"), BOOL, ("accuracy",), target_max_tokens=2),
    )
}

# Template sets other than `reference` (the table above): what they change, for every task or per task.
TEMPLATES: dict[str, dict] = {
    "reference": {"all": {}, "tasks": {}},
    "reference_hub_fields": {"all": {}, "tasks": {"qnli": {"input_names": ()}}},  # the hub's column names
    "keyvalue": {
        "all": {"raw_single_field": False, "score_format": "round", "normalize": False, "target_max_tokens": 4,
                "input_names": ()},
        "tasks": {"copa": {"label_words": ("0", "1")}, "wic": {"input_fields": ("word", "sentence1", "sentence2")},
                  "stsb": {"target_max_tokens": 5}},
    },
}


def get_task(name: str, template: str = "reference") -> TaskSpec:
    """The task's spec under a template set."""
    try:
        task = TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(sorted(TASKS))}") from None
    if template not in TEMPLATES:
        raise ValueError(f"unknown template set {template!r}; choose one of: {', '.join(TEMPLATES)}")
    changes = {**TEMPLATES[template]["all"], **TEMPLATES[template]["tasks"].get(name, {})}
    return dataclasses.replace(task, template=template, **changes)
