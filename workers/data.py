"""Load a task's split (bundled demo copy, local files, or the Hugging Face hub) and render it as text.

All three sources go through `datasets.load_dataset` (the bundled JSON Lines through a reader of its
own), so a local copy laid out like the hub's behaves exactly like the hub. Local layouts
(`local_files`): `<dir>/<task>/<split>.jsonl` (or `.parquet`), or a download of the hub repositories'
parquet files into one folder.
"""

from __future__ import annotations

import json
import math
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


def required_columns(task: TaskSpec) -> tuple[str, ...]:
    """The columns a trial reads from every row of the task (the hub's schema)."""
    return (*task.input_fields, "label", *((task.group_field,) if task.group_field else ()))


def _label_ok(task: TaskSpec, label) -> bool:
    if isinstance(label, bool) or not isinstance(label, (int, float)):
        return False
    if task.is_regression:
        return math.isfinite(label)
    return isinstance(label, int) and 0 <= label < len(task.label_words)


def rows_problem(task: TaskSpec, rows: list[dict], where: str) -> str | None:
    """What would stop a trial from using these rows, or turn its scores into nonsense: a missing
    column, a label that is not one of the task's (a string "1" would never equal a prediction), or
    no labelled row at all (-1 is a hidden label, as in test splits, and is dropped)."""
    needed, labelled = required_columns(task), 0
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            return f"{where}, row {number}: {type(row).__name__}, not an object of named columns"
        missing = [c for c in needed if c not in row]
        if missing:
            return (f"{where}, row {number}: no {', '.join(missing)} (task {task.name} reads the hub's columns "
                    f"{', '.join(needed)})")
        label = row["label"]
        if isinstance(label, (int, float)) and not isinstance(label, bool) and label == -1:
            continue  # hidden: dropped, as load_rows does
        if not _label_ok(task, label):
            allowed = "a finite number" if task.is_regression else \
                f"an integer from 0 to {len(task.label_words) - 1} ({', '.join(task.label_words)}), or -1 (hidden)"
            return f"{where}, row {number}: label {label!r} is not {allowed}"
        labelled += 1
    return None if labelled else f"{where}: no labelled rows ({len(rows)} rows; -1 marks a hidden label)"


def _read_local(kind: str, paths: list[str], columns: tuple[str, ...]) -> list[dict]:
    """Every row of local files without `datasets` (no copy into its cache): JSON Lines, a JSON list,
    or parquet (pyarrow, only `columns`: the rows then lack just the columns the file lacks)."""
    if kind == "parquet":
        import pyarrow.parquet as pq

        rows = []
        for path in paths:
            try:
                names = pq.read_schema(path).names
                rows += pq.read_table(path, columns=[c for c in columns if c in names]).to_pylist()
            except Exception as err:  # noqa: BLE001 - pyarrow's kinds; its words do not name the file
                raise ValueError(f"{path}: not a readable parquet file ({err})") from None
        return rows
    if paths[0].endswith(".json"):
        with open(paths[0], encoding="utf-8") as fh:
            head = fh.read(1024).lstrip()
        if head.startswith("["):
            with open(paths[0], encoding="utf-8") as fh:
                try:
                    return json.load(fh)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{paths[0]}, line {err.lineno}: not valid JSON ({err.msg})") from None
    return _read_jsonl(paths[0])


def local_split_problem(task: TaskSpec, split: str, root: Path) -> str | None:
    """What would make a trial fail on (or misread) one split of a local data folder, found before a
    sweep starts: no file, a file that does not parse, or rows that `rows_problem` rejects."""
    try:
        kind, paths = local_files(root, task, split)
        rows = _read_local(kind, paths, required_columns(task))
    except (OSError, ValueError) as err:  # no file, bad JSON (with its line), bad parquet: each names its file
        return str(err)
    return rows_problem(task, rows, paths[0] if len(paths) == 1 else str(Path(paths[0]).parent))


def load_rows(task: TaskSpec, split: str, source: str = "demo", revision: str | None = None) -> list[dict]:
    """Rows of one split, in the hub's schema (`revision`: of the hub dataset), checked by
    `rows_problem`. Hidden labels (-1, as in test splits) are dropped."""
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

            try:
                ds = load_dataset(kind, data_files=paths, split="train")
            except Exception as err:  # noqa: BLE001 - datasets raises many kinds; say which files and why
                more = f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""
                raise OSError(f"could not load {paths[0]}{more} through the datasets library, which copies it "
                              f"into its cache (HF_DATASETS_CACHE) first: {type(err).__name__}: {err}") from err
    rows = list(ds)
    where = f"{task.dataset} ({task.config}) split {split}" if source == "hub" else paths[0]
    problem = rows_problem(task, rows, where)
    if problem:
        raise ValueError(problem)
    return [row for row in rows if row["label"] != -1]


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
