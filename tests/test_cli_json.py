"""`--format json`: each command's shape, parsed back (README: Machine-readable output)."""

from __future__ import annotations

import json
import subprocess

import pytest

from db.engine import open_store
from db.writer import ResultsWriter
from tests.cli_here import superpos

SPEC = "name: s\nmethods: [prompt_tuning]\ntasks: [rte]\noptuna: {trials_per_cell: 2}\n"


def _superpos(*args: str) -> subprocess.CompletedProcess:
    return superpos(*args)


def _json(*args: str) -> dict:
    out = _superpos(*args, "--format", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _interrupted_store(tmp_path, driver: str = "host:1", state: str | None = "interrupted") -> str:
    """A sweep stopped with one trial finished and one cut off (as Ctrl-C leaves it); `state` None:
    left `running`, as a driver killed outright leaves it (tests/test_driver_gone.py)."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    writer = ResultsWriter(open_store(url))
    sweep = writer.create_sweep("s", SPEC, "h", {"versions": {}, "git_commit": "a" * 40, "hardware": "cpu; x" * 30})
    writer.set_run(sweep, planned_trials=2, driver=driver)
    key = "prompt_tuning|rte|tiny-t5|-|dropout=on"
    cell = writer.add_cells(sweep, [dict(key=key, method="prompt_tuning", task="rte", model="tiny-t5", m=None,
                                         options="{}", dropout=True, seed=0)])[key]
    done = writer.start_trial(cell, 0, "r0", {"seed": 0}, 0.1, 0.0)
    writer.log_metrics(done, 1, {"val/score": 0.5})
    writer.finish_trial(done, "complete")
    writer.start_trial(cell, 1, "r1", {"seed": 0}, 0.2, 0.0)
    if state is not None:
        writer.finish_sweep(sweep, state)
    return url


def test_list_and_status_of_an_interrupted_sweep(tmp_path):
    url = _interrupted_store(tmp_path)
    listing = _json("sweep", "list", "--db", url)
    assert listing["command"] == "sweep list" and listing["version"] == 1
    [sweep] = listing["sweeps"]
    assert (sweep["id"], sweep["state"], sweep["trials"], sweep["complete"]) == (1, "interrupted", 2, 1)
    assert sweep["created"].endswith("+00:00")  # ISO 8601, UTC
    status = _json("sweep", "status", "1", "--db", url, "--errors")
    assert status["sweep"]["state"] == "interrupted" and status["eta"] is None and status["errors"] == []
    assert status["trials"] == {"planned": 2, "done": 1, "finished": 1, "failed": 0, "running": 0, "interrupted": 1}
    assert [c["state"] for c in status["cells"]] == ["interrupted"] and status["cell_states"]["interrupted"] == 1
    text = _superpos("sweep", "status", "1", "--db", url).stdout
    assert "1 interrupted (resume continues them)" in text and "1 interrupted" in text.splitlines()[2]
    lines = _superpos("sweep", "list", "--db", url).stdout.splitlines()
    assert max(map(len, lines)) < 160 and "aaaaaaaaaa " in lines[1] and "aaaaaaaaaaa" not in lines[1]


def test_the_sweep_list_shows_the_driver_s_hardware_whole_or_marks_the_cut(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    writer = ResultsWriter(open_store(url))
    for hardware in ("driver vm: cpu: x86_64, 2 cores; trials on ...", "driver node-a: gpu: 8x NVIDIA H200 (140 GB)"):
        writer.create_sweep("s", SPEC, "h", {"versions": {}, "hardware": hardware})
    lines = _superpos("sweep", "list", "--db", url).stdout.splitlines()
    assert lines[2].endswith(" driver vm: cpu: x86_64, 2 cores")  # 31 characters: whole (newest sweep first)
    assert lines[1].endswith(" driver node-a: gpu: 8x NVIDIA H…")  # cut, and says so


def test_validate_and_plan(tmp_path, capsys):
    from orchestrator.cli import main  # in-process: the same commands without three more interpreters

    def run(*args: str) -> tuple[int, dict]:
        code = main(list(args))
        return code, json.loads(capsys.readouterr().out)

    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    code, valid = run("sweep", "validate", str(spec), "--format", "json")
    assert code == 0 and valid["valid"] and valid["counts"]["trials"] == 2 and valid["cells"] == [
        "prompt_tuning|rte|tiny-t5|-|dropout=on"]
    (tmp_path / "bad.yaml").write_text("methods: [nope]\ntasks: [rte]\ntraining: {epochs: 0}\n")
    code, shape = run("sweep", "validate", str(tmp_path / "bad.yaml"), "--format", "json")
    assert code == 2 and shape["valid"] is False and len(shape["problems"]) == 2
    code, plan = run("sweep", "plan", str(spec), "--format", "json")
    assert code == 0 and plan["trials"] == 2 and [t["task"] for t in plan["tasks"]] == ["rte"]
    assert plan["gpu_hours"][0]["method"] == "prompt_tuning" and "total_gpu_hours" in plan


@pytest.mark.slow
def test_table_of_a_real_sweep(rich_sweep):
    from db import tables

    url, sweep_id = rich_sweep
    shape = _json("table", "--db", url, "--source", str(sweep_id))
    assert (shape["kind"], shape["source"], shape["selection"]) == ("main", sweep_id, "peak")
    long = tables.sweep_scores(open_store(url, readonly=True), sweep_id)
    assert len(shape["cells"]) == len(long) and {c["task"] for c in shape["cells"]} == {"rte", "sst2"}
    assert all(c["n"] == 2 for c in shape["cells"]) and all(isinstance(c["best"], bool) for c in shape["cells"])
    assert len(shape["averages"]) == len(long) // 2
    versus = _json("table", "--db", url, "--source", str(sweep_id), "--kind", "versus", "--against", str(sweep_id))
    assert versus["rows"] and all(r["difference"] == 0 and r["within_noise"] for r in versus["rows"])


def test_status_table_columns_line_up_under_their_headers():
    """Keys and states read left-aligned under their headers, counts right-aligned under theirs."""
    from orchestrator.cli.status import format_status

    def row(key, state, search, replicas):
        return {"key": key, "state": state, "search_done": search, "replicas_done": replicas, "failed": 0,
                "unfinished": 0, "blocked": None}

    data = {"sweep": {"id": 1, "name": "s", "state": "complete", "where": "driver x"}, "eta": None,
            "trials": {"planned": 1, "done": 0, "finished": 0, "failed": 0, "running": 0, "interrupted": 0},
            "cell_states": {"complete": 1, "interrupted": 1},
            "cells": [row("prompt_tuning|sst2|tiny-t5|-|dropout=on", "complete", 3, 1),
                      row("superpos_prompt|sst2|tiny-t5|m=32|dropout=off", "interrupted", 12, 0)]}
    lines = format_status(data).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("key"))
    header, rows = lines[at], lines[at + 1:at + 3]
    for name, values in (("key", [r["key"] for r in data["cells"]]), ("state", ["complete", "interrupted"])):
        assert [r.index(v) for r, v in zip(rows, values)] == [header.index(name)] * 2, (header, rows)
    for name, values in (("search_done", ["3", "12"]), ("replicas_done", ["1", "0"])):
        end = header.index(name) + len(name)
        assert [r[:end].rstrip().endswith(v) and r[end:end + 1] in (" ", "") for r, v in zip(rows, values)] == [True] * 2, (
            header, rows)
