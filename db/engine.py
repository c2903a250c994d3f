"""Engines for the results store: SQLite (WAL, foreign keys, busy timeout) or PostgreSQL by URL.

Writers call `open_store(url)`; readers call `open_store(url, readonly=True)`, which opens SQLite
with `mode=ro` and `query_only`, so a reader cannot write even by mistake. A file that is not a
results database is refused, never overwritten.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url

DEFAULT_URL = "sqlite:///superpos.db"
SQLITE_MAGIC = b"SQLite format 3\x00"
STORE_TABLE = "sweeps"  # every results store has it; sharing another name (an Optuna storage's `trials`) is not enough
CHECK_WAIT_S = 5.0  # how long the file check waits for another program's lock before it says the file is locked
# how long a write waits for another program's lock before it fails (and a running sweep stops: StoreWriteError)
BUSY_WAIT_S = float(os.environ.get("SUPERPOS_SQLITE_BUSY_S", 30))
# libpq waits for a server that never answers as long as TCP does (minutes); the URL's connect_timeout
# or PGCONNECT_TIMEOUT, where given, win
PG_CONNECT_TIMEOUT_S = 10
BACKENDS = ("sqlite", "postgresql")  # URL schemes: sqlite:///path.db, postgresql+psycopg://user@host/db


def _foreign(tables: set[str]) -> bool:
    """Tables (other than migrations' bookkeeping) that are not a results store's."""
    return bool(tables - {"alembic_version", "sqlite_sequence"}) and STORE_TABLE not in tables


class StoreError(RuntimeError):
    """The database cannot be used as a results store; the message says why and what to do."""

    exit_code = 2  # `superpos` exits with it: refused before anything ran


class StoreWriteError(StoreError):
    """The store stopped taking writes while a sweep ran (its disk full, another program's lock held
    past BUSY_WAIT_S, any other error of the database driver): the sweep stopped with it, resumable."""

    exit_code = 1


def resolve_url(url: str | None = None) -> str:
    """`--db` value, else $SUPERPOS_DB, else ./superpos.db. A bare path means a SQLite file."""
    url = url or os.environ.get("SUPERPOS_DB") or DEFAULT_URL
    url = url if "://" in url else f"sqlite:///{url}"
    path = sqlite_path(url)
    return f"sqlite:///{path}" if path is not None else url  # absolute, so every process finds the same file


def display_url(url: str) -> str:
    """A store's URL as printed or shown: its password, if the URL holds one, as ***."""
    return make_url(url).render_as_string(hide_password=True)


def command_url(url: str) -> str:
    """A store's URL as a suggested command line (`superpos ... --db URL`) takes it: display_url, quoted
    for a POSIX shell where it must be (a path with a space; a URL's `?`, `&` or `***`), so that it pastes;
    a SQLite file by its path as it is (display_url writes a `&` in it as %26)."""
    path = sqlite_path(url)
    return shlex.quote(f"sqlite:///{path}" if path is not None else display_url(url))


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser().resolve()


def _check_sqlite_file(path: Path, readonly: bool) -> None:
    """Everything about an existing file is learnt read-only, before the engine's first connection
    (which switches the file to WAL): a file that is not a results store is never written."""
    if not path.exists():
        if readonly:
            raise StoreError(f"no results database at {path}; run a sweep first (superpos sweep run SPEC) "
                             "or point --db / SUPERPOS_DB at an existing one")
        if not path.parent.is_dir():
            raise StoreError(f"cannot create {path}: folder {path.parent} does not exist")
        return
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a results database; give a file path inside it "
                         f"(e.g. {path / 'superpos.db'}) or a database URL")
    # Only SQLite reads the file: closing a descriptor of our own (open() to read its header) would
    # release every POSIX lock this process holds on it, those of an engine already open here included
    # (the driver opens the store several times), and the next program to close its connection would
    # take itself for the last one and delete the WAL under that engine. SQLite's own descriptors are
    # shared between its connections and closed only once no lock is held.
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=CHECK_WAIT_S)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            conn.execute("PRAGMA quick_check(1)").fetchone()  # an empty file reads as an empty database
    except sqlite3.DatabaseError as err:
        raise StoreError(_unreadable(path, err)) from None
    if _foreign(tables):
        tables -= {"alembic_version", "sqlite_sequence"}
        raise StoreError(f"{path} holds other tables ({', '.join(sorted(tables)[:5])}) and no results store; "
                         "it was left untouched: choose another --db")


def _unreadable(path: Path, err: sqlite3.DatabaseError) -> str:
    """What SQLite's error says of the file: not a database, damaged, or unreadable for now (locked,
    an I/O error), which is not a claim about its contents."""
    name = getattr(err, "sqlite_errorname", "")
    if name == "SQLITE_NOTADB":
        what = "is not a SQLite database, or its first page is damaged" if _has_magic(path) else "is not a SQLite database"
        return f"{path} {what} (it was left untouched); choose another --db path"
    if name == "SQLITE_CORRUPT":
        return (f"{path} is a damaged SQLite database (SQLite says: {err}); it was left untouched: "
                "restore it from a backup, or choose another --db")
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return (f"{path} is locked by another program (SQLite says: {err}); it was left untouched: try again once "
                "that program has closed it")
    return (f"could not read {path} (SQLite says: {err}); it was left untouched: check the file, its folder and "
            "their permissions, then try again")


def _has_magic(path: Path) -> bool:
    """The file starts as a SQLite database does. Only after SQLite failed to open it: no engine of this
    process holds locks on a file SQLite cannot read, so reading it here releases nothing."""
    with path.open("rb") as fh:
        return fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def _sqlite_pragmas(readonly: bool):
    def on_connect(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_WAIT_S * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        if readonly:
            cur.execute("PRAGMA query_only=ON")
        else:
            mode = cur.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":  # fails silently when another process holds the file
                raise StoreError(f"could not switch the database to WAL mode (it stays {mode!r}); "
                                 "is it on a network file system or locked by another program?")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return on_connect


def _check_backend(url: str) -> None:
    try:
        backend = make_url(url).get_backend_name()
    except Exception:  # noqa: BLE001 - SQLAlchemy's parse errors vary
        backend = None
    if backend not in BACKENDS:
        raise StoreError(f"unsupported database URL {url!r}: use sqlite:///path/to/file.db (or a plain path) or "
                         "postgresql+psycopg://user@host/dbname")


def make_engine(url: str | None = None, readonly: bool = False) -> Engine:
    url = resolve_url(url)
    _check_backend(url)
    path = sqlite_path(url)
    if path is not None:
        _check_sqlite_file(path, readonly)
        target = f"sqlite:///file:{path}?mode=ro&uri=true" if readonly else f"sqlite:///{path}"
        engine = create_engine(target)
        event.listen(engine, "connect", _sqlite_pragmas(readonly))
        return engine
    args = {} if "connect_timeout" in make_url(url).query or os.environ.get("PGCONNECT_TIMEOUT") else \
        {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    if readonly:
        args["options"] = "-c default_transaction_read_only=on"
    return create_engine(url, pool_pre_ping=True, connect_args=args)


def _is_empty_store(engine: Engine, readonly: bool, shown: str) -> bool:
    """True if the database has none of our tables yet; a database with other tables is refused."""
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    if _foreign(tables):
        raise StoreError(f"{shown} holds other tables ({', '.join(sorted(tables)[:5])}) and no results "
                         "store; it was left untouched: choose another --db")
    if not tables and readonly:
        raise StoreError(f"{shown} holds no results yet; run a sweep into it first "
                         "(superpos sweep run SPEC --db ...)")
    return not tables


def _check_not_newer(current: str | None, head: str, shown: str) -> None:
    from db.migrate import known_revision

    if current is not None and current != head and not known_revision(current):
        raise StoreError(f"{shown} was made by a newer superpos (schema revision {current}; this version knows up "
                         f"to {head}); it was left untouched: upgrade superpos, or choose another --db")


def _check_revision(engine: Engine, url: str) -> None:
    """An old (or newer) schema gets the command that fixes it, never a silent change."""
    from db.migrate import current_revision, head_revision

    shown = display_url(url)
    current, head = current_revision(engine), head_revision()
    _check_not_newer(current, head, shown)
    if current is None:
        raise StoreError(f"{shown} has results tables but no schema revision (made by a pre-release superpos); "
                         "it was left untouched: start a new database (--db) and re-run the sweep")
    if current != head:
        raise StoreError(f"{shown} is at schema revision {current}, this superpos needs {head}: "
                         f"run `superpos db upgrade --db {command_url(url)}` (back the file up first if it matters)")


def open_store(url: str | None = None, readonly: bool = False, upgrade: bool = False) -> Engine:
    """An engine on a checked results store at the code's schema revision. A writer creates the
    schema in an empty database; `upgrade=True` (superpos db upgrade) migrates an old one."""
    from db.migrate import upgrade as run_upgrade

    engine = make_engine(url, readonly)
    shown = display_url(resolve_url(url))
    try:
        empty = _is_empty_store(engine, readonly, shown)
        if not readonly and (empty or upgrade):
            from db.migrate import current_revision, head_revision

            _check_not_newer(current_revision(engine), head_revision(), shown)
            run_upgrade(engine)
        _check_revision(engine, resolve_url(url))
    except Exception as err:
        engine.dispose()
        if isinstance(err, StoreError):
            raise
        why = " ".join(str(getattr(err, "orig", None) or err).split())  # the driver's words, on one line
        if "timeout expired" in why:
            why += " (no answer within its connect_timeout: is the host and port right? For a slow server, add " \
                   "?connect_timeout=SECONDS to the URL)"
        raise StoreError(f"cannot use {shown} as a results store: {why}") from err
    return engine
