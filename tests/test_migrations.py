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
