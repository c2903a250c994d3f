"""Running `superpos sweep ...` as a user does, for the sweep tests: a spec file from a template, the
CLI in a subprocess, SQL counts on the store while it runs, and a kill -9 at a chosen point.

A test's spec runs one trial at a time (`ray: {num_cpus: 1}`) unless two at once is part of what it
checks (Ctrl-C during two trials, packs formed over two slots, the staged wait) or failures dominate it:
a tiny trial trains in about a second, but each Ray worker costs about 10 CPU-seconds to start
(torch and transformers' imports), so one worker made a sweep test 15-19 CPU-s cheaper, measured
test by test; failed trials cost a worker each either way (Tune ends an actor that raised)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.conftest import REPO

CLI = [sys.executable, "-m", "orchestrator.cli"]


def spec_file(tmp_path, body: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(body).format(storage=tmp_path / "ray"))
    return str(path)


def cli(*args, timeout=300):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def count(db: str, sql: str) -> int:
    if not os.path.exists(db):
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # the schema is being created
        return 0


class Killed:
    """What run_and_kill did: true if it killed the process; else how the process ended by itself."""

    def __init__(self, killed: bool, returncode: int | None = None, log: Path | None = None):
        self.killed, self.returncode = killed, returncode
        self.tail = log.read_text(errors="replace")[-3000:] if log and not killed and log.exists() else ""

    def __bool__(self) -> bool:
        return self.killed

    def __repr__(self) -> str:
        return "killed" if self.killed else f"ended by itself first (exit {self.returncode}); its output ends:\n{self.tail}"


def run_and_kill(args: list, db: str, condition: str, at_least: int, timeout: float = 240) -> Killed:
    """Start `superpos ...` in its own process group; SIGKILL the group (driver and its local Ray) once
    `condition` (SQL count) reaches `at_least`. False if it ended by itself first (its exit code and
    output's tail are then in the result's repr, which a failed assert prints)."""
    log = Path(db).with_name(f"run_and_kill-{time.monotonic_ns()}.log")
    with open(log, "w") as out:
        proc = subprocess.Popen([*CLI, *map(str, args)], cwd=REPO, start_new_session=True,
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if count(db, condition) >= at_least:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
                return Killed(True)
            time.sleep(0.05)
        return Killed(False, proc.poll(), log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def wait_while_running(proc: subprocess.Popen, ready, timeout: float = 180, poll: float = 0.05) -> None:
    """Poll `ready()` (SQL counts on the store) while `proc`, a sweep's driver started by the test,
    runs; fail with how it ended and its output's tail if it ends first, or when the time runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate(timeout=30)
            raise AssertionError(f"the sweep ended (exit {proc.returncode}) before the point the test waits for:\n"
                                 f"{(out or '')[-3000:]}\n{(err or '')[-3000:]}")
        assert time.monotonic() < deadline, f"the sweep did not reach the point the test waits for in {timeout} s"
        time.sleep(poll)


RUNNING_WITH_AN_EPOCH = ("SELECT COUNT(*) FROM trials t WHERE t.state = 'running' AND "
                         "EXISTS (SELECT 1 FROM metrics m WHERE m.trial_id = t.id)")
FINISHED = "SELECT COUNT(*) FROM trials WHERE state IN ('complete', 'stopped')"


def run_spec(tmp_path, body: str, returncode: int = 0):
    """`superpos sweep run` on the spec `body` into tmp_path/r.db: (the finished process, the db path)."""
    db = tmp_path / "r.db"
    out = cli("sweep", "run", spec_file(tmp_path, body), "--db", db)
    assert out.returncode == returncode, (out.stdout[-2000:], out.stderr[-3000:])
    return out, db


def data_the_trials_cannot_load(tmp_path, monkeypatch, broken: str, others=()) -> Path:
    """A local data folder that the driver reads but no trial can load: `broken`'s splits as parquet,
    which trials load through `datasets`, whose cache (HF_DATASETS_CACHE, inherited by the local Ray
    workers) is a file: a worker's cache disk gone bad, a fault that `sweep run`'s check of the data
    (which reads parquet with pyarrow) cannot see. `others`: demo tasks copied as they are (JSON Lines,
    read without `datasets`)."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from workers.data import DEMO_DATA_DIR, _read_jsonl

    data = tmp_path / "data"
    for task in others:
        shutil.copytree(DEMO_DATA_DIR / task, data / task)
    (data / broken).mkdir(parents=True)
    for split in DEMO_DATA_DIR.joinpath(broken).glob("*.jsonl"):
        pq.write_table(pa.Table.from_pylist(_read_jsonl(str(split))), data / broken / f"{split.stem}.parquet")
    cache = tmp_path / "datasets-cache"
    cache.write_text("a file where the cache folder should be")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    return data


def first_reported(storage: Path, run: str) -> dict[tuple[int, int], int]:
    """(cell id, number) -> the first epoch each member reported in the Tune run `run` (its folder's
    result.json files: what the trials did, not what the store kept), members that joined a running
    pack included."""
    first: dict[tuple[int, int], int] = {}
    for params in (storage / run).glob("*/params.json"):
        try:
            members = json.loads(params.read_text())["members"]
        except json.JSONDecodeError:  # kill -9 while Tune wrote a new trial's params: it reported nothing
            continue
        lines = (params.parent / "result.json").read_text().splitlines() if (params.parent / "result.json").exists() else []
        for line in lines:
            try:
                result = json.loads(line)
            except json.JSONDecodeError:  # the line kill -9 cut short
                continue
            if "joined" in result:  # continuous packing: a member joined the running pack, numbered on
                members.append(json.loads(result["joined"]))
            if result.get("event_only"):
                continue
            member = members[int(result.get("member", 0))]
            first.setdefault((member["cell_id"], member["number"]), int(result["epoch"]))
    return first


def interrupted_with_checkpoint(db: str) -> dict[tuple[int, int], int]:
    """(cell id, number) -> epochs stored, for every interrupted trial that has a checkpoint (after a kill -9
    its row still says running)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT t.cell_id, t.number, (SELECT COUNT(*) FROM metrics m WHERE m.trial_id = t.id "
                            "AND m.key = 'val/score') FROM trials t WHERE t.state IN ('interrupted', 'running') "
                            "AND t.checkpoint IS NOT NULL").fetchall()
        for (path,) in conn.execute("SELECT checkpoint FROM trials WHERE checkpoint IS NOT NULL"):
            assert Path(path, "trial_state.pt").is_file(), f"the store names a checkpoint that is gone: {path}"
    return {(c, n): k for c, n, k in rows}


def tune_runs(storage: Path) -> list[str]:
    return sorted(p.name for p in storage.iterdir() if p.is_dir() and p.name.startswith("superpos-"))
