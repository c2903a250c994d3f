"""Task data through one loader: the bundled demo copy, local JSONL/Parquet laid out like the hub's, the hub."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from workers.data import DEMO_DATA_DIR, format_input, format_target, load_examples, load_rows
from workers.tasks import TASKS, get_task


@pytest.mark.parametrize("name", sorted(TASKS))
def test_demo_copy_has_the_hub_schema_and_renders(name):
    task = get_task(name)
    for split in (task.train_split, task.validation_split):
        rows = load_rows(task, split)
        assert rows, (name, split)
        for field in (*task.input_fields, "label", "idx"):
            assert field in rows[0], (name, field)
    example = load_examples(task, task.validation_split)[0]
    raw = len(task.input_fields) == 1  # the reference passes a one-field input as raw text
    assert example.source.startswith("" if raw else f"{task.input_name(0)}: ") and example.source
    assert example.target in task.label_words or task.is_regression
    legacy = load_examples(get_task(name, "keyvalue"), task.validation_split)[0]
    assert legacy.source.startswith(f"{get_task(name, 'keyvalue').input_fields[0]}: ")


def test_local_parquet_and_jsonl_load_through_the_same_path(tmp_path):
    task = get_task("rte")
    rows = [json.loads(line) for line in (DEMO_DATA_DIR / "rte" / "train.jsonl").read_text().splitlines()]
    (tmp_path / "rte").mkdir()
    pd.DataFrame(rows).to_parquet(tmp_path / "rte" / "train.parquet")
    loaded = load_rows(task, "train", str(tmp_path))
    assert loaded == rows


@pytest.mark.parametrize("layout", ["hub repository", "parquet-converter branch"])
def test_a_download_of_the_hubs_parquet_files_loads_as_the_hub_would(tmp_path, layout):
    """A download of nyu-mll/glue and aps/super_glue keeps the hub's file names
    (`<config>/<split>-00000-of-00001.parquet`, or `<config>/<split>/0000.parquet` on the converter
    branch): before, only `<task>/<split>.parquet` was found, and the same files were refused."""
    for name in ("multirc", "mnli", "sst2"):
        task = get_task(name)
        for split in (task.train_split, task.validation_split):
            rows = load_rows(task, split)
            halves = [rows[: len(rows) // 2], rows[len(rows) // 2:]]  # two shards, to be read in order
            for i, half in enumerate(halves):
                path = (tmp_path / name / f"{split}-{i:05d}-of-00002.parquet" if layout == "hub repository"
                        else tmp_path / name / split / f"{i:04d}.parquet")
                path.parent.mkdir(parents=True, exist_ok=True)
                pd.DataFrame(half).to_parquet(path)
            assert load_rows(task, split, str(tmp_path)) == rows, (name, split)
            assert load_examples(task, split, str(tmp_path)) == load_examples(task, split)
    with pytest.raises(FileNotFoundError, match="no data for task 'rte' split 'train'.*hub's parquet files"):
        load_rows(get_task("rte"), "train", str(tmp_path))


def test_hidden_test_labels_are_dropped(tmp_path):
    (tmp_path / "sst2").mkdir()
    (tmp_path / "sst2" / "test.jsonl").write_text(
        '{"sentence": "a", "label": -1, "idx": 0}\n{"sentence": "b", "label": 1, "idx": 1}\n')
    assert [r["sentence"] for r in load_rows(get_task("sst2"), "test", str(tmp_path))] == ["b"]


def test_hub_load_offline_is_a_clear_error():
    with pytest.raises(OSError, match=r"(?s)could not load nyu-mll/glue.*use data 'demo' or a local directory"):
        load_rows(get_task("sst2"), "validation", "hub")


def test_formats_follow_the_task_table():
    stsb, copa = get_task("stsb"), get_task("copa")
    assert format_target(stsb, 3.76) == "3.7"  # the reference cuts the printed score to three characters
    assert format_target(copa, 1) == "true"
    row = {"premise": "p", "hypothesis": "h", "label": 0}
    assert format_input(get_task("rte"), row) == "premise: p hypothesis: h"


def test_the_demo_path_does_not_need_the_datasets_library():
    import subprocess
    import sys

    code = ("import sys; from workers.data import load_examples; from workers.tasks import get_task; "
            "rows = load_examples(get_task('rte'), 'train'); assert rows; print('datasets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
