"""Packs in a real sweep (real Ray, real SQLite): each member is a trial of its own, early stopping
acts per member. Resume of packs after kill -9: tests/test_sweep_semantics.py."""

from __future__ import annotations

import re
import sqlite3

import pytest

from db import queries
from db.engine import open_store
from tests.sweep_cli import run_spec

pytestmark = pytest.mark.slow  # real Ray sweeps


def test_packed_trials_keep_their_own_rows_and_early_stopping_decisions(tmp_path):
    """Packs of 4 on the shared frozen model: each member is a trial of its own in the store (its
    epochs, state, objective); a member that its cell's ASHA stops leaves the pack after that rung and
    the others run on; full fine-tuning runs alone."""
    out, db = run_spec(tmp_path, """
        methods: [prompt_tuning, superpos_prompt, full_finetune]
        tasks: [sst2]
        m: [8]
        dropout: [off]
        seeds: [0, 1]
        optuna: {{trials_per_cell: 4}}
        scheduler: {{type: asha, grace_period: 1, reduction_factor: 2}}
        training: {{epochs: 3, batch_size: 8, max_train_samples: 32, max_eval_samples: 16, eval_mode: rank}}
        resources: {{pack_size: 4}}
        ray: {{num_cpus: 2, storage_path: {storage}}}
    """)
    assert re.search(r"\(pack of 4, \d+% padding\)", out.stdout), out.stdout[-2000:]
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT c.method, t.role, t.state, t.ray_trial_id, t.objective, (SELECT GROUP_CONCAT(step) FROM "
            "(SELECT step FROM metrics m WHERE m.trial_id = t.id AND m.key = 'val/score' ORDER BY step)) "
            "FROM trials t JOIN cells c ON c.id = t.cell_id").fetchall()
    assert len(rows) == 3 * 5
    tune_trials = {ray_id.split("/")[0] for *_, ray_id, _, _ in rows}
    assert len(tune_trials) < len(rows)
    for method, role, state, ray_id, objective, steps in rows:
        assert ("/" in ray_id) == (method != "full_finetune")  # FT: never packed; replicas join running packs
        if role == "replica" and method != "full_finetune":  # joined after the search (continuous packing)
            assert int(ray_id.split("/")[1]) >= 4
        assert objective is not None
        if state == "stopped":
            assert role == "search" and steps in ("1", "1,2")  # left the pack at a rung
        else:
            assert state == "complete" and steps == "1,2,3"
    stopped = [r for r in rows if r[2] == "stopped"]
    assert stopped, "ASHA stopped no member: the scores at the first rung tied"
    engine = open_store(f"sqlite:///{db}", readonly=True)
    chosen = queries.best_trials(engine, 1)
    assert len(chosen) == 3 and set(chosen["state"]) == {"complete"}  # a cell's best ran all its epochs
    assert planned_search_packs(tmp_path / "spec.yaml", slots=2) == stored_search_packs(db)


def stored_search_packs(db) -> set[frozenset]:
    """The search trials of each Tune trial, as (method, number) sets (a search pack forms at the start)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT c.method, t.number, t.ray_trial_id FROM trials t JOIN cells c ON c.id = t.cell_id "
                            "WHERE t.role = 'search'").fetchall()
    packs: dict[str, set] = {}
    for method, number, ray_id in rows:
        packs.setdefault(ray_id.split("/")[0], set()).add((method, number))
    return {frozenset(p) for p in packs.values()}


def planned_search_packs(path, slots: int) -> set[frozenset]:
    """What `superpos sweep plan` schedules for the same spec: the sweep's searcher forms its packs."""
    from orchestrator.spec import load_spec
    from orchestrator.tune.measured import Rates, load_throughput
    from orchestrator.tune.schedule import simulate

    spec = load_spec(path)
    rates = Rates(spec, load_throughput())
    plan = simulate(spec, rates.member, rates.speeds, slots, {m: spec.resources.pack_size for m in spec.models})
    return {frozenset((m["trial"]["method"], m["number"]) for m in p.members if m["role"] == "search")
            for p in plan.packs if any(m["role"] == "search" for m in p.members)}


def stored_packs(db) -> set[frozenset]:
    """Every Tune trial's members, as (task, role, number) sets."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT c.task, t.role, t.number, t.ray_trial_id FROM trials t "
                            "JOIN cells c ON c.id = t.cell_id").fetchall()
    packs: dict[str, set] = {}
    for task, role, number, ray_id in rows:
        packs.setdefault(ray_id.split("/")[0], set()).add((task, role, number))
    return {frozenset(p) for p in packs.values()}


def test_members_that_leave_are_replaced_in_the_running_pack(tmp_path):
    """Continuous packing: a cell's replica (which waits for the cell's search) joins the running pack
    when its search members leave, instead of waiting for a new Tune trial; it is a trial of its own
    that runs all its epochs, and `sweep plan`'s simulation forms the same pack."""
    out, db = run_spec(tmp_path, """
        methods: [prompt_tuning]
        tasks: [rte]
        dropout: [off]
        seeds: [0, 1]
        optuna: {{trials_per_cell: 2}}
        training: {{epochs: 2, batch_size: 8, max_train_samples: 16, max_eval_samples: 8, eval_mode: rank}}
        resources: {{pack_size: 2}}
        ray: {{num_cpus: 2, storage_path: {storage}}}
    """)
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT t.role, t.state, t.ray_trial_id, (SELECT GROUP_CONCAT(step) FROM (SELECT step FROM "
            "metrics m WHERE m.trial_id = t.id AND m.key = 'val/score' ORDER BY step)) FROM trials t "
            "ORDER BY t.number").fetchall()
    assert [(role, state, steps) for role, state, _, steps in rows] == [
        (role, "complete", "1,2") for role in ("search", "search", "replica")]
    ids = [ray_id for _, _, ray_id, _ in rows]  # the replica joined the search pack as member 2
    assert len({i.split("/")[0] for i in ids}) == 1 and ids[2].endswith("/2"), ids
    expected = {frozenset({("rte", "search", 0), ("rte", "search", 1), ("rte", "replica", 2)})}
    assert stored_packs(db) == expected
    assert re.search(r"rte\S* replica seed=1 .*\(pack of 2, 1 joined", out.stdout), out.stdout[-2000:]
    from orchestrator.spec import load_spec
    from orchestrator.tune.measured import Rates, load_throughput
    from orchestrator.tune.schedule import simulate

    spec = load_spec(tmp_path / "spec.yaml")
    rates = Rates(spec, load_throughput())
    plan = simulate(spec, rates.member, rates.speeds, 2, {m: 2 for m in spec.models})
    assert {frozenset((m["trial"]["task"], m["role"], m["number"]) for m in p.members) for p in plan.packs} == expected


def test_a_member_that_fails_alone_leaves_its_pack_and_the_others_finish(tmp_path, monkeypatch):
    from tests.sweep_cli import data_the_trials_cannot_load

    data = data_the_trials_cannot_load(tmp_path, monkeypatch, "sst2", others=["rte"])
    out, db = run_spec(tmp_path, f"""
        methods: [prompt_tuning]
        tasks: [rte, sst2]
        dropout: [off]
        optuna: {{{{trials_per_cell: 2}}}}
        training: {{{{epochs: 1, batch_size: 8, max_train_samples: 16, max_eval_samples: 8, data: {data}}}}}
        resources: {{{{pack_size: 4}}}}
        ray: {{{{num_cpus: 2, storage_path: {{storage}}}}}}
    """, returncode=1)  # a cell without any finished trial: the sweep failed
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT c.task, t.state, t.ray_trial_id, t.error, t.failures FROM trials t "
                            "JOIN cells c ON c.id = t.cell_id ORDER BY c.task, t.number").fetchall()
    assert [(task, state) for task, state, *_ in rows] == [("rte", "complete")] * 2 + [("sst2", "failed")] * 2
    assert len({ray_id.split("/")[0] for _, _, ray_id, _, _ in rows}) == 1  # all four in one pack
    for _, state, _, error, failures in rows:
        assert (state == "failed") == bool(error) and failures == (1 if error else 0)
        assert error is None or ("Traceback" in error and "sst2" in error)
    assert "sst2" in out.stdout and "FAILED" in out.stdout
