"""A process that opens the store again (the sweep driver does: its callback's writer, the sources'
reader, the end-of-run table) must not drop the SQLite locks its first engine holds. The file check
once read the header with Python's open(): closing that descriptor released every POSIX lock the
process held on the file, so another program's connection (a user's `sqlite3 superpos.db`) closing
next believed itself the last one, checkpointed and deleted the WAL under the driver, and the two went
on writing to different logs: rows lost, and the driver's next check said "damaged SQLite database
(disk I/O error)" of a healthy file."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import text

from db.engine import StoreError, open_store

OTHER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=30)
if sys.argv[2] == "write":
    conn.execute("INSERT INTO probe VALUES (2)")
    conn.commit()
print(sorted(v for (v,) in conn.execute("SELECT v FROM probe")))
conn.close()
"""


def _other_program(path, action: str) -> str:
    """Another process's own connection, opened and closed, as a user's sqlite3 shell would."""
    done = subprocess.run([sys.executable, "-c", OTHER, str(path), action], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("second", ["writer", "reader"])
def test_opening_the_store_again_keeps_the_first_engines_locks(tmp_path, second):
    path = tmp_path / "r.db"
    first = open_store(f"sqlite:///{path}")
    with first.begin() as conn:
        conn.execute(text("CREATE TABLE probe (v INTEGER)"))
        conn.execute(text("INSERT INTO probe VALUES (1)"))
    again = open_store(f"sqlite:///{path}", readonly=second == "reader")  # the file is checked again
    with again.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM probe")).scalar() == 1

    assert _other_program(path, "write") == "[1, 2]"
    assert (tmp_path / "r.db-wal").exists()  # the other program did not take itself for the last connection
    with first.begin() as conn:
        conn.execute(text("INSERT INTO probe VALUES (3)"))
    assert _other_program(path, "read") == "[1, 2, 3]"  # one log: what the first engine wrote is seen
    again.dispose()
    first.dispose()


@pytest.mark.parametrize("content, message", [
    (b"my precious notes", "not a SQLite database"),
    (b"SQLite format 3\x00" + bytes(range(256)) * 20, "not a SQLite database, or its first page is damaged"),
])
def test_a_file_sqlite_cannot_read_as_a_database_is_named_and_left_untouched(tmp_path, content, message):
    path = tmp_path / "x.db"
    path.write_bytes(content)
    for readonly in (False, True):
        with pytest.raises(StoreError, match=message):
            open_store(f"sqlite:///{path}", readonly=readonly)
    assert path.read_bytes() == content and sorted(p.name for p in tmp_path.iterdir()) == ["x.db"]


def test_a_store_another_program_holds_locked_is_said_to_be_locked_not_damaged(tmp_path, monkeypatch):
    """It was "a damaged SQLite database (SQLite says: database is locked)"."""
    monkeypatch.setattr("db.engine.CHECK_WAIT_S", 0.5)  # not the 5 s a user's command waits
    path = tmp_path / "r.db"
    open_store(f"sqlite:///{path}").dispose()
    holder = subprocess.Popen([sys.executable, "-c", f"""
import sqlite3, time
conn = sqlite3.connect({str(path)!r}, isolation_level=None)
conn.execute("PRAGMA locking_mode=EXCLUSIVE")
conn.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match="is locked by another program.*try again once that program has closed it"):
            open_store(f"sqlite:///{path}", readonly=True)
    finally:
        holder.kill()
        holder.wait()
    open_store(f"sqlite:///{path}", readonly=True).dispose()  # and it reads once the lock is gone
