"""Load a task's split (bundled demo copy, local files, or the Hugging Face hub) and render it as text.

All three sources go through `datasets.load_dataset` (the bundled JSON Lines through a reader of its
own), so a local copy laid out like the hub's behaves exactly like the hub. Local layouts
(`local_files`): `<dir>/<task>/<split>.jsonl` (or `.parquet`), or a download of the hub repositories'
parquet files into one folder.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from workers.tasks import TaskSpec

DEMO_DATA_DIR = Path(__file__).resolve().parent / "demo_data"
SOURCES_HELP = "'demo' (bundled, offline), 'hub' (Hugging Face hub), or a local directory"


@dataclass(frozen=True)
class TextExample:
    source: str
    target: str
    label: float | int  # the gold label (index, or the STS-B score)
    group: str | None = None  # examples scored together (MultiRC question)


def format_input(task: TaskSpec, row: dict) -> str:
    """The template set's input: "field: value" pairs, or the raw text of a one-field task."""
    if task.raw_single_field and len(task.input_fields) == 1:
        return str(row[task.input_fields[0]])
    return " ".join(f"{task.input_name(i)}: {row[field]}" for i, field in enumerate(task.input_fields))


def format_target(task: TaskSpec, label: float | int) -> str:
    """A label word, or the STS-B score: cut to three characters (the reference, 3.75 -> "3.7") or
    rounded to one decimal (3.75 -> "3.8")."""
    if task.is_regression:
        if task.score_format == "truncate":
            return str(float(label))[:3]
        return f"{round(float(label), 1):.1f}"
    return task.label_words[int(label)]


def _group(task: TaskSpec, row: dict) -> str | None:
    if task.group_field is None:
        return None
    value = row[task.group_field]
    if isinstance(value, dict):  # MultiRC idx: {paragraph, question, answer}; a group is one question
        value = {k: v for k, v in value.items() if k != "answer"}
    return json.dumps(value, sort_keys=True)


def local_files(root: Path, task: TaskSpec, split: str) -> tuple[str, list[str]]:
    """(the `datasets` builder, the files) of one split under a local folder, in any of the layouts:
    `<task>/<split>.jsonl` (or `.json`, `.parquet`); the hub repository's own files, as a download of
    it holds them (`<config>/<split>-00000-of-00001.parquet`, shards in order); or the hub's
    parquet-converter branch (`<config>/<split>/0000.parquet`). A task's config is its name."""
    folder = root / task.name
    for kind, ext in (("json", "jsonl"), ("json", "json"), ("parquet", "parquet")):
        if (folder / f"{split}.{ext}").is_file():
            return kind, [str(folder / f"{split}.{ext}")]
    for shards in (folder.glob(f"{split}-*.parquet"), (folder / split).glob("*.parquet")):
        found = sorted(str(p) for p in shards if p.is_file())
        if found:
            return "parquet", found
    raise FileNotFoundError(
        f"no data for task {task.name!r} split {split!r} under {root}: expected "
        f"{folder / (split + '.jsonl')} (or .json / .parquet), or the hub's parquet files "
        f"({folder / (split + '-00000-of-00001.parquet')}, or {folder / split / '0000.parquet'})"
    )


def _read_jsonl(path: str) -> list[dict]:
    """JSON Lines without the `datasets` library (the demo path needs nothing else; it also skips
    a second or so of importing per worker process)."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}, line {number}: not valid JSON ({err.msg})") from None
    return rows


def load_rows(task: TaskSpec, split: str, source: str = "demo", revision: str | None = None) -> list[dict]:
    """Rows of one split, in the hub's schema (`revision`: of the hub dataset). Hidden labels (-1, as
    in test splits) are dropped."""
    if source == "hub":
        from datasets import load_dataset

        try:
            ds = load_dataset(task.dataset, task.config, split=split, revision=revision)
        except Exception as err:  # datasets raises many kinds (ConnectionError, OSError, DatasetNotFoundError)
            raise OSError(f"could not load {task.dataset} ({task.config}, split {split!r}) from the Hugging Face "
                          f"hub: {err}\nWith no network, use data 'demo' or a local directory laid out like the "
                          "hub's (unset HF_DATASETS_OFFLINE where the network is there).") from err
    else:
        root = DEMO_DATA_DIR if source == "demo" else Path(source).expanduser().resolve()
        if source != "demo" and not root.is_dir():
            raise FileNotFoundError(f"data source {source!r} is not a directory; use {SOURCES_HELP}")
        kind, paths = local_files(root, task, split)
        if paths[0].endswith(".jsonl"):
            ds = _read_jsonl(paths[0])
        else:
            from datasets import load_dataset

            ds = load_dataset(kind, data_files=paths, split="train")
    return [row for row in ds if row["label"] != -1]


def subsample(items: list, max_samples: int | None, seed: int) -> list:
    """A seeded sample of `max_samples` items (all of them when None or not fewer)."""
    if max_samples is None or max_samples >= len(items):
        return items
    return random.Random(seed).sample(items, max_samples)


def load_examples(
    task: TaskSpec, split: str, source: str = "demo", max_samples: int | None = None, seed: int = 0,
    revision: str | None = None,
) -> list[TextExample]:
    """Text examples of one split; `max_samples` subsamples (seeded) for data-limited runs."""
    rows = subsample(load_rows(task, split, source, revision), max_samples, seed)
    return [
        TextExample(format_input(task, r), format_target(task, r["label"]), r["label"], _group(task, r))
        for r in rows
    ]
