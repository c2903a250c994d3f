"""A local data folder that no trial could use is refused by `sweep run` before anything starts: a file
that does not parse, a row without a column the task reads, a label that is not one of the task's, no
labelled row. Before, the spec's checks found only the files; Ray started, every trial failed at load
(each retried), and the store kept a failed sweep."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.sweep_cli import cli, spec_file
from workers.data import DEMO_DATA_DIR, _read_jsonl, load_rows, local_split_problem, rows_problem
from workers.tasks import TASKS


def _copy(tmp_path, task: str):
    shutil.copytree(DEMO_DATA_DIR / task, tmp_path / task)
    return tmp_path / task


def _rows(task: str, split: str = "validation") -> list[dict]:
    return _read_jsonl(str(DEMO_DATA_DIR / task / f"{split}.jsonl"))


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_demo_split_passes_the_check(name):
    task = TASKS[name]
    for split in (task.train_split, task.validation_split):
        assert local_split_problem(task, split, DEMO_DATA_DIR) is None


@pytest.mark.parametrize("change, said", [
    (lambda r: r.pop("hypothesis"), "row 3: no hypothesis (task rte reads the hub's columns premise, hypothesis, label"),
    (lambda r: r.update(label="1"), "row 3: label '1' is not an integer from 0 to 1 (entailment, not_entailment)"),
    (lambda r: r.update(label=2), "row 3: label 2 is not an integer from 0 to 1"),
    (lambda r: r.update(label=True), "row 3: label True is not"),
])
def test_a_row_a_trial_would_misread_is_named_with_its_number(change, said):
    rows = _rows("rte")
    change(rows[2])
    assert said in rows_problem(TASKS["rte"], rows, "f.jsonl")


def test_labels_of_a_regression_task_are_finite_numbers_and_hidden_ones_are_not_enough():
    stsb, rows = TASKS["stsb"], _rows("stsb")
    assert rows_problem(stsb, rows, "f") is None
    rows[0]["label"] = float("nan")
    assert "row 1: label nan is not a finite number" in rows_problem(stsb, rows, "f")
    hidden = [{**r, "label": -1} for r in _rows("rte")]
    assert rows_problem(TASKS["rte"], hidden, "f") == f"f: no labelled rows ({len(hidden)} rows; -1 marks a hidden label)"
    assert rows_problem(TASKS["rte"], hidden[:1] + _rows("rte")[1:], "f") is None  # a hidden label is dropped
    assert rows_problem(TASKS["rte"], [[1, 2]], "f") == "f, row 1: list, not an object of named columns"


def test_files_that_do_not_parse_are_named(tmp_path):
    rte = TASKS["rte"]
    folder = _copy(tmp_path, "rte")
    lines = (folder / "validation.jsonl").read_text().splitlines()
    (folder / "validation.jsonl").write_text("\n".join(lines[:4] + ['{"premise": "a",'] + lines[4:]) + "\n")
    assert local_split_problem(rte, "validation", tmp_path).endswith("validation.jsonl, line 5: not valid JSON "
                                                                     "(Expecting property name enclosed in double quotes)")
    (folder / "validation.jsonl").unlink()
    (folder / "validation.parquet").write_bytes(b"PAR1 not really")
    said = local_split_problem(rte, "validation", tmp_path)
    assert "rte/validation.parquet: not a readable parquet file" in said and "magic bytes" in said
    (folder / "validation.parquet").unlink()
    (folder / "validation.json").write_text('[{"premise": "a"},\n  [1, 2]]')
    assert local_split_problem(rte, "validation", tmp_path).endswith("validation.json, row 1: no hypothesis, label "
                                                                     "(task rte reads the hub's columns premise, "
                                                                     "hypothesis, label)")
    (folder / "validation.json").write_text('[{"premise": "a"},\n  [1, 2],]')
    assert "validation.json, line 2: not valid JSON" in local_split_problem(rte, "validation", tmp_path)
    (folder / "validation.json").unlink()
    assert "no data for task 'rte' split 'validation'" in local_split_problem(rte, "validation", tmp_path)


def test_parquet_and_a_json_list_are_checked_as_trials_read_them(tmp_path):
    rte, rows = TASKS["rte"], _rows("rte")
    folder = tmp_path / "rte"
    folder.mkdir()
    (folder / "train.json").write_text(json.dumps(rows))
    pq.write_table(pa.Table.from_pylist([{k: v for k, v in r.items() if k != "premise"} for r in rows]),
                   folder / "validation.parquet")
    assert local_split_problem(rte, "train", tmp_path) is None
    assert len(load_rows(rte, "train", str(tmp_path))) == len(rows)
    assert "validation.parquet, row 1: no premise" in local_split_problem(rte, "validation", tmp_path)
    with pytest.raises(ValueError, match="row 1: no premise"):  # a trial that reads it says the same
        load_rows(rte, "validation", str(tmp_path))


def test_sweep_run_refuses_a_data_folder_no_trial_could_use_before_anything_starts(tmp_path):
    for task in ("rte", "cb"):
        _copy(tmp_path / "data", task)
    cb = tmp_path / "data" / "cb" / "train.jsonl"
    rows = _read_jsonl(str(cb))
    rows[7]["label"] = "neutral"
    cb.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "data" / "rte" / "validation.jsonl").write_text('{"premise": "a", \n')
    spec = spec_file(tmp_path, f"""
        methods: [prompt_tuning]
        tasks: [rte, cb]
        training: {{{{epochs: 1, data: {tmp_path / 'data'}}}}}
        ray: {{{{num_cpus: 1, storage_path: {{storage}}}}}}
    """)
    out = cli("sweep", "run", spec, "--db", tmp_path / "r.db")
    assert out.returncode == 2, out.stderr
    assert "rte/validation.jsonl, line 1: not valid JSON" in out.stderr
    assert "cb/train.jsonl, row 8: label 'neutral' is not an integer from 0 to 2" in out.stderr
    assert "Started a local Ray instance" not in out.stdout + out.stderr and not any((tmp_path / "ray").iterdir())
    assert not (tmp_path / "r.db").exists()  # refused before the store opened
