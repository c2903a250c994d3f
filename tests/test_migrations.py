"""Alembic migrations: an old database is refused with the command that upgrades it, and the upgrade
keeps every row."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, inspect, text

from db.engine import StoreError, open_store
from db.migrate import current_revision, head_revision, upgrade
from db.models import Base

FIRST = "0001"


def _first_revision_database(url: str) -> None:
    engine = create_engine(url)
    upgrade(engine, FIRST)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sweeps (id, name, spec_text, spec_hash, state, created_ms) "
                          "VALUES (1, 'old', 'name: old', 'h', 'complete', 1700000000000)"))
        conn.execute(text("INSERT INTO cells (id, sweep_id, key, method, task, model, m, dropout, seed) "
                          "VALUES (1, 1, 'k', 'superpos_prompt', 'rte', 'tiny-t5', 8, false, 3)"))
        conn.execute(text("INSERT INTO trials (id, cell_id, number, lr, config, state, objective) "
                          "VALUES (1, 1, 0, 0.01, '{}', 'complete', 0.5)"))
        conn.execute(text("INSERT INTO metrics (trial_id, key, step, value) VALUES (1, 'val/score', 1, 0.5)"))
        conn.execute(text("INSERT INTO scores (trial_id, split, metric, selection, epoch, value) "
                          "VALUES (1, 'val', 'score', 'peak', 1, 0.5)"))
    engine.dispose()


def test_head_schema_matches_the_models(store_url):
    engine = open_store(store_url)
    assert current_revision(engine) == head_revision()
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    views = set(inspect(engine).get_view_names())
    assert {"trial_summary", "best_trials", "cell_results"} <= views


def test_old_database_is_refused_with_the_upgrade_command_then_upgraded_with_its_rows(store_url):
    _first_revision_database(store_url)
    for readonly in (False, True):
        with pytest.raises(StoreError, match=r"revision 0001.*superpos db upgrade"):
            open_store(store_url, readonly=readonly)
    engine = open_store(store_url, upgrade=True)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM metrics")).scalar() == 1
        row = conn.execute(text("SELECT method, eval_protocol, eval_mode FROM cells")).one()
        assert tuple(row) == ("superpos_prompt", "paper", "generate")
        summary = conn.execute(text("SELECT trial_id, reported_score FROM best_trials")).one()
        assert tuple(summary) == (1, 0.5)
        # 0003: the cell's seed is the trial's, m became an option, the old trial is a search trial
        trial = conn.execute(text("SELECT seed, role, failures FROM trials")).one()
        assert tuple(trial) == (3, "search", 0)
        assert json.loads(conn.execute(text("SELECT options FROM cells")).scalar()) == {"m": 8}
        cell = conn.execute(text("SELECT n_seeds, score_mean, score_std FROM cell_results")).one()
        assert tuple(cell) == (1, 0.5, None)


def test_replicas_of_an_earlier_store_point_at_their_chosen_trial_and_pending_is_gone(store_url):
    """0004: a replica's chosen trial was found by an equal learning rate; the upgrade writes it down
    by id (trials.replica_of), and the tables then count only the replicas that point at it."""
    engine = create_engine(store_url)
    upgrade(engine, "0003")
    rows = [(1, 0, "search", 0.01, "complete", 0.5, 0), (2, 1, "search", 0.02, "complete", 0.7, 0),
            (3, 2, "replica", 0.02, "complete", None, 1), (4, 3, "replica", 0.01, "complete", None, 2),
            (5, 4, "search", 0.03, "pending", None, 0)]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sweeps (id, name, spec_text, spec_hash, state, created_ms) "
                          "VALUES (1, 'old', 'name: old', 'h', 'complete', 1700000000000)"))
        conn.execute(text("INSERT INTO cells (id, sweep_id, key, method, task, model, m, dropout, seed) "
                          "VALUES (1, 1, 'k', 'prompt_tuning', 'rte', 'tiny-t5', NULL, true, 0)"))
        for trial_id, number, role, lr, state, objective, seed in rows:
            conn.execute(text("INSERT INTO trials (id, cell_id, number, role, seed, lr, config, state, objective) "
                              "VALUES (:i, 1, :n, :r, :s, :lr, '{}', :st, :o)"),
                         {"i": trial_id, "n": number, "r": role, "s": seed, "lr": lr, "st": state, "o": objective})
            conn.execute(text("INSERT INTO scores (trial_id, split, metric, selection, epoch, value) "
                              "VALUES (:i, 'val', 'score', 'peak', 1, :v)"), {"i": trial_id, "v": 0.1 * trial_id})
    engine.dispose()
    engine = open_store(store_url, upgrade=True)
    with engine.connect() as conn:
        links = dict(conn.execute(text("SELECT id, replica_of FROM trials ORDER BY id")).all())
        assert links == {1: None, 2: None, 3: 2, 4: None, 5: None}  # trial 4 ran the rate of a trial not chosen
        assert conn.execute(text("SELECT state FROM trials WHERE id = 5")).scalar() == "interrupted"
        reported = sorted(r for (r,) in conn.execute(text("SELECT trial_id FROM reported_trials")))
        assert reported == [2, 3]
        n, mean = conn.execute(text("SELECT n_seeds, score_mean FROM cell_results")).one()
        assert (n, round(mean, 6)) == (2, 0.25)
        with pytest.raises(Exception, match="(?i)check|constraint"):
            conn.execute(text("UPDATE trials SET state = 'pending' WHERE id = 1"))


def test_the_upgrade_command_it_suggests_pastes_into_a_shell_as_it_is(tmp_path):
    """A store path with a space (or a URL's `?` and `&`) is quoted in the suggested command: unquoted,
    the shell split it into two arguments. A password stays hidden."""
    import shlex

    from db.engine import command_url
    from tests.cli_here import superpos

    url = f"sqlite:///{tmp_path / 'my results & more.db'}"
    _first_revision_database(url)
    with pytest.raises(StoreError) as refused:
        open_store(url, readonly=True)
    suggested = str(refused.value).split("`")[1]
    assert suggested == f"superpos db upgrade --db '{url}'"
    done = superpos(*shlex.split(suggested)[1:])  # as a shell reads the pasted line
    assert done.returncode == 0, done.stderr
    assert current_revision(open_store(url, readonly=True)) == head_revision()
    assert command_url("postgresql+psycopg://u:secret@h/db?sslmode=require&connect_timeout=5") == \
        "'postgresql+psycopg://u:***@h/db?connect_timeout=5&sslmode=require'"
    assert command_url("sqlite:////data/runs/r.db") == "sqlite:////data/runs/r.db"  # nothing to quote: as it is
