"""Packing in the driver: which trials share a Tune trial, how many, and how `auto` sizes a pack."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ray.tune.search import Searcher

from orchestrator.spec import parse_spec
from orchestrator.spec.plan import expand
from orchestrator.tune.packing import AUTO_MAX, compile_enabled, estimate_bytes, fit, pack_sizes
from orchestrator.tune.searcher import CellSearcher
from workers.members import joined_event

SPEC = """
methods: [prompt_tuning, superpos_prompt, full_finetune]
tasks: [rte, sst2]
m: [8]
dropout: [off, on]
optuna: {{trials_per_cell: 3}}
resources: {{pack_size: {pack}{extra}}}
"""


def _searcher(pack=4, extra="", board="board"):
    """`board`: a name (its packs say it; nothing is posted to it with continuous packing off), or None:
    continuous packing books the members that join without a Ray actor to offer them through."""
    spec = parse_spec(SPEC.format(pack=pack, extra=extra))
    cells = expand(spec)
    return spec, cells, CellSearcher(spec, cells, {c.key: i for i, c in enumerate(cells)}, None,
                                     pack_sizes(spec), board)


def test_a_pack_takes_trials_in_plan_order_from_cells_that_share_the_frozen_model():
    spec, cells, searcher = _searcher(pack=4, extra=", continuous_packing: false")
    by_key = {c.key: c for c in cells}
    packs = []
    while True:
        config = searcher.suggest(f"t{len(packs)}")
        if config in (None, Searcher.FINISHED):
            break
        packs.append(config)
        for i in range(len(config["members"])):  # every member finishes at once
            searcher.on_trial_result(f"t{len(packs) - 1}", {"member": i, "epoch": 10, "peak/score": 0.5,
                                                            "left": "complete"})
        searcher.on_trial_complete(f"t{len(packs) - 1}")
    members = [m for p in packs for m in p["members"]]
    assert len(members) == len(cells) * 3 and searcher.is_done()
    assert len({(m["cell_id"], m["number"]) for m in members}) == len(members)  # no trial twice
    for pack in packs:
        cells_in = [by_key[m["cell_key"]] for m in pack["members"]]
        assert len({(c.model, c.dropout) for c in cells_in}) == 1  # one frozen model, one dropout setting
        if any(c.method == "full_finetune" for c in cells_in):
            assert len(cells_in) == 1 and pack["board"] is None  # never packed
        assert len(cells_in) <= 4
    assert max(len(p["members"]) for p in packs) == 4
    # a pack spans cells: the first cell's 3 trials and the next compatible cell's first
    assert len({m["cell_key"] for m in packs[0]["members"]}) == 2
    # every member's study learned its result
    assert all(len(w.study.trials) == 3 for w in searcher.work)


def test_a_member_that_leaves_is_told_to_its_study_while_the_pack_runs_on():
    spec, cells, searcher = _searcher(pack=3, board=None)
    config = searcher.suggest("t0")
    assert [m["number"] for m in config["members"]] == [0, 1, 2]
    searcher.on_trial_result("t0", {"member": 1, "epoch": 2, "peak/score": 0.3})
    searcher.on_trial_result("t0", {"member": 1, "epoch": 2, "peak/score": 0.3, "left": "stopped",
                                    "event_only": True})
    study = searcher.work[0].study
    assert [t.value for t in study.trials if t.value is not None] == [0.3]
    assert searcher.work[0].records[1].state == "stopped"
    # continuous packing: its place goes to the next trial that shares the frozen model (the cell's own
    # search is all handed out), booked as member 3 of the running pack
    joined = searcher.book.entries("t0")[3]
    assert joined.config["cell_key"] != config["members"][0]["cell_key"]
    assert searcher.handed[joined.key].work.cell.dropout == cells[0].dropout  # the same frozen model
    offered = searcher.handed[joined.key]
    searcher.on_trial_complete("t0", error=True)  # the others fail with the Tune trial
    assert [r.state for r in searcher.work[0].records] == ["failed", "stopped", "failed"]
    # its worker never said it joined (it went away first): the offered trial is handed out again
    assert searcher.handed == {} and offered.record.state == "todo"
    assert searcher._next(offered.work)[0] is offered.record  # its cell's next piece of work


def test_a_member_that_joined_closes_with_its_pack():
    spec, cells, searcher = _searcher(pack=3, board=None)
    searcher.suggest("t0")
    searcher.on_trial_result("t0", {"member": 0, "epoch": 2, "peak/score": 0.3, "left": "complete"})
    joined = searcher.book.entries("t0")[3]
    searcher.on_trial_result("t0", joined_event(3, joined.config))  # the worker took it
    record = searcher.handed[joined.key].record
    searcher.on_trial_result("t0", {"member": 3, "epoch": 1, "peak/score": 0.4})
    searcher.on_trial_complete("t0")  # its last result is epoch 1 of 10: stopped, with its objective
    assert record.state == "stopped" and record.objective == 0.4


def test_compile_follows_the_gpus_unless_the_spec_says():
    spec, _, searcher = _searcher(pack=2)
    assert not compile_enabled(spec) and searcher.suggest("t0")["compile"] is False
    spec = parse_spec(SPEC.format(pack=2, extra=", compile: true"))
    cells = expand(spec)
    searcher = CellSearcher(spec, cells, {c.key: i for i, c in enumerate(cells)}, None, pack_sizes(spec))
    flags = {}
    while (config := searcher.suggest(f"t{len(flags)}")) not in (None, Searcher.FINISHED):
        flags[config["members"][0]["cell_key"].split("|")[0]] = config["compile"]
        searcher.on_trial_complete(f"t{len(flags) - 1}", {"epoch": 10, "peak/score": 0.5})
    assert flags == {"prompt_tuning": True, "superpos_prompt": True, "full_finetune": True}  # FT compiles its own T5


def test_auto_is_one_without_gpus_and_a_number_is_taken_as_given():
    assert pack_sizes(parse_spec(SPEC.format(pack="auto", extra=""))) == {"tiny-t5": 1}
    assert pack_sizes(parse_spec(SPEC.format(pack=6, extra=""))) == {"tiny-t5": 6}
    assert parse_spec(SPEC.format(pack=4, extra="")).resources.compile == "auto"


def test_the_memory_estimate_reproduces_the_measured_t5_base_packs():
    """t5-base, bf16, batch 32 x 268 tokens on an H200: 5.75 GiB per trial, 0.5 GiB of weights."""
    config = SimpleNamespace(num_layers=12, d_model=768)
    weights, per_trial = estimate_bytes(config, 247_577_856, 268, 32, "bf16")
    assert per_trial / 2**30 == pytest.approx(5.75, rel=0.05)
    assert weights / 2**30 == pytest.approx(0.46, rel=0.05)
    assert fit(141 * 2**30, weights, per_trial) == AUTO_MAX  # an H200: capped
    assert fit(80 * 2**30, weights, per_trial, largest=64) == 11  # an H100's 80 GB
    assert fit(8 * 2**30, weights, per_trial) == 1  # never less than one


def test_pack_size_out_of_range_is_refused_with_its_path():
    from orchestrator.spec import SpecError

    with pytest.raises(SpecError, match=r"spec.resources.pack_size.*1..64 or 'auto'"):
        parse_spec(SPEC.format(pack=0, extra=""))
