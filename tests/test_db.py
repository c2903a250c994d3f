"""The results store on SQLite and PostgreSQL: idempotent writes, explicit non-finite values,
derived scores, read-only readers, concurrent reading while writing, refusal of foreign files."""

from __future__ import annotations

import math
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from db import queries, tables
from db.engine import StoreError, open_store
from db.models import Metric, Score, Snapshot, Trial
from db.writer import ResultsWriter
from tests.conftest import make_trial


def test_sqlite_runs_in_wal_mode(tmp_path):
    writer = ResultsWriter(open_store(f"sqlite:///{tmp_path / 'r.db'}"))
    with writer.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000


def test_repeated_metric_reports_store_one_row(store):
    url, writer, trial = store
    writer.log_metrics(trial, 1, {"val/score": 0.5, "train/loss": 2.0})
    writer.log_metrics(trial, 1, {"val/score": 0.6, "train/loss": 2.0})
    with Session(writer.engine) as s:
        rows = s.scalars(select(Metric).where(Metric.key == "val/score")).all()
    assert [(r.step, r.value) for r in rows] == [(1, 0.6)]


def test_only_metric_keys_are_stored_and_nonfinite_is_explicit(store):
    url, writer, trial = store
    stored = writer.log_metrics(trial, 1, {"train/loss": math.nan, "val/x": math.inf, "val/y": -math.inf,
                                           "epoch": 1, "peak/score": 1.0, "snapshot": {}})
    assert stored == 3
    with Session(writer.engine) as s:
        rows = {r.key: (r.value, r.nonfinite) for r in s.scalars(select(Metric))}
    assert rows == {"train/loss": (None, "nan"), "val/x": (None, "inf"), "val/y": (None, "-inf")}


def test_finish_trial_derives_peak_and_final_scores(store):
    url, writer, trial = store
    for step, score in [(1, 0.2), (2, 0.7), (3, 0.5)]:
        writer.log_metrics(trial, step, {"val/score": score, "test/score": score / 2, "train/loss": 1.0 / step})
    writer.finish_trial(trial, "complete", trainable_parameters=640)
    writer.finish_trial(trial, "complete", trainable_parameters=640)  # idempotent
    with Session(writer.engine) as s:
        t = s.get(Trial, trial)
        scores = {(r.split, r.selection): (r.epoch, r.value) for r in s.scalars(select(Score))}
    assert (t.state, t.objective, t.trainable_parameters) == ("complete", 0.7, 640)
    assert scores == {("val", "peak"): (2, 0.7), ("test", "peak"): (2, 0.35),
                      ("val", "final"): (3, 0.5), ("test", "final"): (3, 0.25)}
    summary = queries.trials_frame(open_store(url, readonly=True))
    row = summary.iloc[0]
    assert (row.val_score_peak, row.test_score_peak, row.peak_epoch, row.reported_score) == (0.7, 0.35, 2, 0.7)


def test_snapshots_keep_shape_and_dtype(store):
    url, writer, trial = store
    snap = {"pprime": {"shape": [2, 3], "dtype": "float32", "values": [0.5, 1, 2, 3, 4, 5]}}
    writer.store_snapshots(trial, 4, {"pprime": {**snap["pprime"], "values": [0.0] * 6}})
    writer.store_snapshots(trial, 4, snap)  # a repeat replaces the row
    with Session(writer.engine) as s:
        rows = s.scalars(select(Snapshot)).all()
    assert [(r.name, r.step, r.shape, r.dtype) for r in rows] == [("pprime", 4, "[2, 3]", "float32")]
    assert rows[0].values == "[0.5, 1, 2, 3, 4, 5]"


def test_readers_cannot_write(store):
    url, writer, trial = store
    reader = open_store(url, readonly=True)
    with reader.connect() as conn, pytest.raises(DBAPIError):
        conn.execute(text("DELETE FROM metrics"))
    with Session(writer.engine) as s:  # and nothing changed
        assert s.get(Trial, trial) is not None


@pytest.mark.slow  # 10,000 rows with a reader beside
def test_reader_queries_continuously_while_writer_stores_10000_rows(store):
    url, writer, trial = store
    reader = open_store(url, readonly=True)
    errors: list[BaseException] = []
    done = threading.Event()
    reads = 0

    def write() -> None:
        try:
            for step in range(2500):
                writer.log_metrics(trial, step, {"train/loss": 1.0, "val/score": step / 2500, "val/a": 0.1,
                                                 "time/s": 0.2})
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)
        finally:
            done.set()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while not done.is_set():
            with reader.connect() as conn:
                conn.execute(select(func.count()).select_from(Metric)).scalar()
            queries.trials_frame(reader)
            reads += 1
    except BaseException as err:  # noqa: BLE001
        errors.append(err)
    thread.join()
    assert not errors, errors
    assert reads > 1
    with reader.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Metric)).scalar() == 10_000


def test_foreign_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("my precious notes")
    with pytest.raises(StoreError, match="not a SQLite database"):
        open_store(f"sqlite:///{path}")
    assert path.read_text() == "my precious notes"


def test_foreign_sqlite_database_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "other.db"
    sqlite3.connect(path).executescript("CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup');")
    for kwargs in ({}, {"upgrade": True}, {"readonly": True}):
        with pytest.raises(StoreError, match="holds other tables"):
            open_store(f"sqlite:///{path}", **kwargs)
    assert sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() == [("recipes",)]


def test_reader_on_missing_file_says_what_to_run(tmp_path):
    with pytest.raises(StoreError, match="superpos sweep run"):
        open_store(f"sqlite:///{tmp_path / 'none.db'}", readonly=True)
    assert not (tmp_path / "none.db").exists()


def test_finishing_a_sweep_closes_trials_it_left_running(store):
    """Trials a stopped sweep left running did not fail: they are interrupted, and a resume continues them."""
    url, writer, trial = store
    writer.log_metrics(trial, 1, {"val/score": 0.5})
    with Session(writer.engine) as s:
        sweep_id = s.get(Trial, trial).cell.sweep_id
    writer.finish_sweep(sweep_id, "interrupted")
    with Session(writer.engine) as s:
        t = s.get(Trial, trial)
        assert (t.state, t.error, t.failures) == ("interrupted", None, 0)


def test_state_check_constraints_hold_in_the_database(store):
    """Not only the writer: the schema itself refuses a state outside the lists."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    url, writer, trial = store
    with pytest.raises(IntegrityError):
        with writer.engine.begin() as conn:
            conn.execute(text("UPDATE trials SET state = 'done' WHERE id = :id"), {"id": trial})
    with pytest.raises(IntegrityError):
        with writer.engine.begin() as conn:
            conn.execute(text("UPDATE sweeps SET state = 'finished'"))


def test_states_outside_the_schema_are_refused(store):
    url, writer, trial = store
    with pytest.raises(ValueError, match="trial state must be one of running, complete, stopped, failed, interrupted"):
        writer.finish_trial(trial, "done")
    with pytest.raises(ValueError, match="sweep state must be one of"):
        writer.finish_sweep(1, "finished")


def test_comparison_table_reports_test_scores_under_a_holdout_protocol(store_url):
    writer = ResultsWriter(open_store(store_url))
    sweep = writer.create_sweep("h", "name: h", "h", {})
    cells = writer.add_cells(sweep, [dict(key=p, method="prompt_tuning", task="rte", model="tiny-t5", m=None,
                                          dropout=p == "paper", seed=0, eval_protocol=p)
                                     for p in ("paper", "holdout_validation")])
    for key, cell_id in cells.items():
        trial = writer.start_trial(cell_id, 0, f"r-{key}", {}, 0.1, 0.0)
        writer.log_history(trial, {1: {"val/score": 0.6, "test/score": 0.4}, 2: {"val/score": 0.5, "test/score": 0.3}})
        writer.finish_trial(trial, "complete")
    engine = open_store(store_url, readonly=True)
    for selection, expected in (("peak", {True: 60.0, False: 40.0}), ("final", {True: 50.0, False: 30.0})):
        table = tables.scores(engine, sweep, selection=selection)
        assert dict(zip(table["dropout"], table["rte"].round(6))) == expected  # paper cell: val; holdout: test


def _digest(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_another_applications_sqlite_file_is_refused_unchanged(tmp_path):
    """Nothing is written (header, journal mode, WAL files) before the file is known to be ours."""
    import sqlite3

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('keep me')")
    conn.close()
    before = _digest(path)
    for readonly in (False, True):
        with pytest.raises(StoreError, match=r"holds other tables \(notes\).*left untouched"):
            open_store(f"sqlite:///{path}", readonly=readonly)
    assert _digest(path) == before
    assert not (tmp_path / "other.db-wal").exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_an_optuna_storage_is_refused_as_another_applications_database_unchanged(tmp_path):
    """`superpos export optuna --out studies.db` writes one; as --db it was taken for a results store
    made by a newer superpos (it has a `trials` table and an alembic_version of its own)."""
    import optuna

    path = tmp_path / "studies.db"
    optuna.create_study(storage=f"sqlite:///{path}", study_name="s").optimize(lambda t: t.suggest_float("x", 0, 1), 1)
    before = _digest(path)
    for readonly in (False, True):
        with pytest.raises(StoreError, match=r"holds other tables \(.*studies.*\) and no results store; it was left"):
            open_store(f"sqlite:///{path}", readonly=readonly)
    assert _digest(path) == before


def test_a_store_that_cannot_be_reached_is_named_without_its_password():
    """The error printed the URL whole, password included."""
    with pytest.raises(StoreError, match=r"cannot use postgresql\+psycopg://u:\*\*\*@127\.0\.0\.1:1/db as a results") as err:
        open_store("postgresql+psycopg://u:secret@127.0.0.1:1/db", readonly=True)
    assert "secret" not in str(err.value) and "\n" not in str(err.value)  # the driver's words, one line
    assert "Connection refused" in str(err.value) and "sqlalche.me" not in str(err.value)  # not SQLAlchemy's link


@pytest.mark.slow  # waits out two connection timeouts
def test_a_postgresql_server_that_never_answers_is_given_up_in_seconds(monkeypatch):
    """libpq waited as long as TCP does: `superpos sweep list` took 132 s to say "connection timeout expired"."""
    import socket
    import time

    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    with socket.socket() as silent:  # accepts connections (the kernel does) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"postgresql+psycopg://u@127.0.0.1:{silent.getsockname()[1]}/db"
        for given, waits in ((url, (9, 60)), (url + "?connect_timeout=2", (1.5, 9))):  # the URL's own setting wins
            started = time.monotonic()
            with pytest.raises(StoreError, match=r"as a results store: connection timeout expired \(no answer within"):
                open_store(given, readonly=True)
            assert waits[0] < time.monotonic() - started < waits[1], given


def test_a_folder_given_as_the_store_is_named_as_a_folder(tmp_path):
    """`--db /some/folder` said "[Errno 21] Is a directory" (reading), or failed inside SQLAlchemy (writing)."""
    for readonly in (False, True):
        with pytest.raises(StoreError, match=r"is a folder, not a results database; give a file path inside it"):
            open_store(str(tmp_path), readonly=readonly)
    assert list(tmp_path.iterdir()) == []


def test_a_store_made_by_a_newer_version_says_so(store_url):
    engine = open_store(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"made by a newer superpos \(schema revision 0099; this version knows up to"):
        open_store(store_url)
    with pytest.raises(StoreError, match="made by a newer superpos"):
        open_store(store_url, upgrade=True)


def test_a_truncated_store_is_named_as_damaged(tmp_path):
    path = tmp_path / "r.db"
    writer = ResultsWriter(open_store(f"sqlite:///{path}"))
    make_trial(writer)
    writer.engine.dispose()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"r.db{suffix}").unlink(missing_ok=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(StoreError) as info:
        open_store(f"sqlite:///{path}", readonly=True)
    message = str(info.value)
    assert "damaged SQLite database" in message and "SELECT" not in message and "sqlalche.me" not in message


def test_an_unsupported_url_scheme_names_the_supported_ones():
    with pytest.raises(StoreError, match=r"unsupported database URL 'mysql://x/y'.*sqlite:///.*postgresql\+psycopg"):
        open_store("mysql://x/y")
