"""Shared fixtures. Everything runs offline on the embedded tiny T5 and the bundled demo data."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:  # pytest -n N: torch's threads in N processes
    # share the cores: idle OpenMP threads sleep instead of spinning (spinning, two processes of 2 threads on
    # 2 cores made a 10 s training test take 74 s; the fast subset took 207 s, 85 s with this)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import contextlib  # noqa: E402
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

TINY_SWEEP = """
name: tiny-e2e
methods: [prompt_tuning, superpos_prompt]
tasks: [rte]
models: [tiny-t5]
m: [8]
dropout: [on, off]
seeds: [0]
optuna:
  trials_per_cell: 2
training:
  epochs: 2
  batch_size: 16
  max_train_samples: 48
  max_eval_samples: 24
resources:
  cpus_per_trial: 1
ray:
  num_cpus: 2
  storage_path: {storage}
tracking:
  mlflow: {{tracking_uri: "sqlite:///{mlflow}"}}
"""


def _built_once(tmp_path_factory, name: str, build) -> dict:
    """`build(folder)` once per test run, its JSON-able result shared by every pytest process (make test
    runs two: each would otherwise run the same sweep for its own session fixtures, a minute of the two
    cores). The first process to ask builds under a file lock; the others wait for it and read the
    result. A build that fails leaves no result, so the next process to ask builds again (and fails
    in its own test)."""
    import json
    import shutil

    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the folder the processes' own base folders share
    folder, done = root / name, root / f"{name}.json"
    with FileLock(str(root / f"{name}.lock")):
        if done.exists():
            return json.loads(done.read_text())
        shutil.rmtree(folder, ignore_errors=True)  # what a failed build left
        folder.mkdir()
        result = build(folder)
        done.write_text(json.dumps(result))
        return result


def _run_tiny_sweep(folder: Path) -> dict:
    from db.engine import open_store
    from db.reference import import_reference
    from orchestrator.spec import parse_spec
    from orchestrator.tune.run import run_sweep

    text = textwrap.dedent(TINY_SWEEP.format(storage=folder / "ray", mlflow=folder / "mlflow.db"))
    url = f"sqlite:///{folder / 'results.db'}"
    lines: list[str] = []
    with another_program_reading(folder / "results.db"):  # as a user's `sqlite3 results.db` while it runs
        sweep_id = run_sweep(parse_spec(text, "tiny.yaml"), url, echo=lines.append)
    import_reference(open_store(url))
    return {"url": url, "sweep_id": sweep_id, "spec": text, "lines": lines}


READER = """
import sqlite3, sys, time
while True:
    try:
        conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=rw", uri=True, timeout=30)  # never creates it
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        conn.close()
    except sqlite3.Error:
        pass
    time.sleep(0.05)
"""


@contextlib.contextmanager
def another_program_reading(path: Path):
    """A second process that opens, reads and closes the file every 50 ms: each close checks whether
    it was the last connection (which checkpoints and deletes the WAL), so a driver that dropped its
    own locks on the file loses its log under it (tests/test_store_locks.py)."""
    import subprocess
    import sys

    reader = subprocess.Popen([sys.executable, "-c", READER, str(path)])
    try:
        yield
        assert reader.poll() is None, "the other program stopped reading early: the sweep ran without it"
    finally:
        reader.kill()
        reader.wait()


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory):
    """One real sweep through Ray into a fresh SQLite file, run once for all pytest processes:
    (db_url, sweep_id, spec, output lines). Tests read it; a test that writes works on a copy."""
    from orchestrator.spec import parse_spec

    built = _built_once(tmp_path_factory, "tiny-sweep", _run_tiny_sweep)
    return built["url"], built["sweep_id"], parse_spec(built["spec"], "tiny.yaml"), built["lines"]


RICH_SWEEP = """
name: rich
methods: [prompt_tuning, superpos_prompt]
tasks: [rte, sst2]
m: [4, 8]
dropout: [off]
seeds: [0, 1]
optuna: {{trials_per_cell: 2}}
training: {{epochs: 2, batch_size: 16, max_train_samples: 32, max_eval_samples: 16, eval_mode: rank}}
ray: {{num_cpus: 1, storage_path: {storage}}}
"""


def _run_rich_sweep(folder: Path) -> dict:
    from db.engine import open_store
    from db.reference import import_reference
    from orchestrator.spec import parse_spec
    from orchestrator.tune.run import run_sweep

    url = f"sqlite:///{folder / 'results.db'}"
    sweep_id = run_sweep(parse_spec(textwrap.dedent(RICH_SWEEP.format(storage=folder / "ray")), "rich.yaml"), url,
                         echo=lambda line: None)
    import_reference(open_store(url))
    return {"url": url, "sweep_id": sweep_id}


@pytest.fixture(scope="session")
def rich_sweep(tmp_path_factory):
    """A real sweep with two seeds and two values of m over two tasks, plus the paper's numbers:
    every dashboard page has something to show. Run once for all pytest processes; (db_url, sweep_id)."""
    built = _built_once(tmp_path_factory, "rich-sweep", _run_rich_sweep)
    return built["url"], built["sweep_id"]


@pytest.fixture(scope="session")
def tiny_model():
    from workers.models import load_model

    return load_model("tiny-t5")


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server, or a skip where none is installed (CI sets SUPERPOS_REQUIRE_POSTGRES=1,
    which turns the skip into a failure)."""
    from tests.pg_server import PostgresServer, bindir

    if bindir() is None:
        if os.environ.get("SUPERPOS_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (SUPERPOS_REQUIRE_POSTGRES=1) but not installed")
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


_DB_COUNTER = iter(range(10_000))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def store_url(request, tmp_path):
    """A fresh, empty results-store URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    server = request.getfixturevalue("pg_server")
    return server.new_database(f"t{next(_DB_COUNTER)}")


def make_trial(writer, number: int = 0) -> int:
    """One trial row in a fresh sweep and cell (the writer tests' unit)."""
    sweep = writer.create_sweep("t", "name: t", "h", {"versions": {"python": "3"}})
    cells = writer.add_cells(sweep, [dict(key="k", method="prompt_tuning", task="rte", model="tiny-t5", m=None,
                                          dropout=True, seed=0)])
    return writer.start_trial(cells["k"], number, f"ray-{sweep}-{number}", {"lr": 0.1}, 0.1, 0.01)


@pytest.fixture
def store(store_url):
    """(url, writer, trial id): a store on each backend with one running trial."""
    from db.engine import open_store
    from db.writer import ResultsWriter

    writer = ResultsWriter(open_store(store_url))
    return store_url, writer, make_trial(writer)


def pytest_collection_modifyitems(config, items):
    """The slow tests (real Ray sweeps, clusters) first, each group in its own order: with two processes
    (make test) the long ones start early and the short ones fill the end, so neither process finishes
    minutes before the other."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
