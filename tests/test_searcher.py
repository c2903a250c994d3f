"""The searcher's semantics without a Tune loop: the order of work, replicas of the chosen rate,
resume that continues (no repeated rate, no reused number), samplers, and per-cell early stopping."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher

from orchestrator.spec import parse_spec
from orchestrator.spec.plan import expand
from orchestrator.tune.early_stopping import PerCellASHA
from orchestrator.tune.searcher import CellSearcher

SPEC = """
methods: [prompt_tuning]
tasks: [rte, sst2, cola]
dropout: [off]
seeds: [0, 1, 2]
optuna: {{trials_per_cell: {budget}{extra}}}
resources: {{retries: 1}}
training: {{epochs: 3}}
"""


def _searcher(budget=3, extra="", history=None, retry_failed=False):
    spec = parse_spec(SPEC.format(budget=budget, extra=extra))
    cells = expand(spec)
    return spec, cells, CellSearcher(spec, cells, {c.key: i for i, c in enumerate(cells)}, history,
                                     retry_failed=retry_failed)


def _suggest(searcher, trial_id):
    """A one-trial Tune trial's member (pack_size 1), or None / FINISHED."""
    config = searcher.suggest(trial_id)
    if isinstance(config, dict):
        assert len(config["members"]) == 1
        return config["members"][0]
    return config


def _finish(searcher, trial_id, score):
    searcher.on_trial_complete(trial_id, {"peak/score": score, "epoch": 3})


def test_cells_are_served_in_order_and_finish_early():
    """Two workers: the first cell's trials go out first; its replicas follow as soon as its search is
    done, before the next cells' work, so half the work done means about half the cells complete."""
    spec, cells, searcher = _searcher()
    per_cell = 3 + 2  # budget + replica seeds
    done, keys, n = [], [], 0
    live = []
    while True:
        while len(live) < 2:
            config = _suggest(searcher, f"t{n}")
            if config in (None, Searcher.FINISHED):
                break
            live.append((f"t{n}", config))
            keys.append(config["cell_key"])
            n += 1
        if not live:
            break
        trial_id, config = live.pop(0)
        _finish(searcher, trial_id, 0.1 * config["number"])
        done.append(config["cell_key"])
    assert len(done) == per_cell * len(cells) and searcher.is_done()
    assert _suggest(searcher, "last") == Searcher.FINISHED
    # when the first cell's last trial finishes, at most one trial of another cell has finished
    first_complete = max(i for i, k in enumerate(done) if k == cells[0].key)
    assert first_complete < per_cell + 2
    assert keys[:3] == [cells[0].key] * 3


def test_replicas_run_the_chosen_rate_with_the_other_seeds():
    spec, cells, searcher = _searcher()
    configs = [_suggest(searcher, f"s{i}") for i in range(3)]
    assert {c["cell_key"] for c in configs} == {cells[0].key} and {c["role"] for c in configs} == {"search"}
    for i, (score, config) in enumerate(zip((0.2, 0.9, 0.5), configs)):
        _finish(searcher, f"s{i}", score)
        assert config["trial"]["seed"] == 0
    replicas = [_suggest(searcher, f"r{i}") for i in range(2)]
    assert [r["role"] for r in replicas] == ["replica", "replica"]
    assert sorted(r["trial"]["seed"] for r in replicas) == [1, 2]
    assert {r["trial"]["lr"] for r in replicas} == {configs[1]["trial"]["lr"]}  # the best search trial's rate
    assert sorted(r["number"] for r in replicas) == [3, 4]
    assert {r["replica_of"] for r in replicas} == {configs[1]["number"]}  # by number, not by an equal rate


def test_a_cell_whose_search_all_failed_gets_no_replicas():
    spec, cells, searcher = _searcher(budget=2)
    for i in range(2):
        _suggest(searcher, f"s{i}")
        searcher.on_trial_complete(f"s{i}", error=True)
    nxt = _suggest(searcher, "x")
    assert nxt["cell_key"] == cells[1].key and nxt["role"] == "search"


def _history(rows):
    keys = ("number", "role", "seed", "lr", "state", "objective", "failures", "checkpoint")
    return [dict(zip(keys, row)) for row in rows]


def test_resume_continues_studies_and_numbers_without_repeating_rates(tmp_path):
    """A stored cell with a gap in its numbers, an interrupted trial and failed ones: the interrupted
    trial and the failed one with retries left continue under their number and rate (from their
    checkpoint, or, when it is gone, from epoch 1 with a note that says so); new rates are new; no
    stored number is reused, and the gap (a number that never got a row) is the new trial's."""
    spec, cells, fresh = _searcher(budget=5)
    first = [_suggest(fresh, f"f{i}")["trial"]["lr"] for i in range(2)]
    key = cells[0].key
    torch.save({"members": {"0:2": {"epoch": 1}}, "left": [], "joined": []}, tmp_path / "trial_state.pt")
    stored = _history([
        (0, "search", 0, first[0], "complete", 0.5, 0, None),
        (2, "search", 0, first[1], "interrupted", None, 0, str(tmp_path)),
        (3, "search", 0, 0.0123, "failed", None, 1, "/gone/checkpoint_000002"),  # retries: 1 -> one attempt left
        (4, "search", 0, 0.0456, "failed", None, 2, None),  # out of retries: counts against the budget
    ])
    _, _, searcher = _searcher(budget=5, history={key: stored})
    reruns = [_suggest(searcher, f"r{i}") for i in range(2)]
    assert [(r["number"], r["trial"]["lr"], r["continuing"]) for r in reruns] == [
        (2, first[1], True), (3, 0.0123, True)]
    assert reruns[0]["resume_from"] == str(tmp_path) and reruns[1]["resume_from"] is None
    assert len(searcher.notes) == 1 and "#3" in searcher.notes[0] and "/gone/checkpoint_000002" in searcher.notes[0]
    new = _suggest(searcher, "n0")
    assert new["cell_key"] == key and new["number"] == 1 and not new["continuing"]
    assert new["trial"]["lr"] not in {first[0], first[1], 0.0123, 0.0456}
    assert _suggest(searcher, "n1")["cell_key"] == cells[1].key  # budget of 5 search trials is used up


def test_a_checkpoint_that_cannot_continue_a_trial_is_named_and_the_trial_starts_from_epoch_1(tmp_path):
    """A stored checkpoint that holds no state for the resumed trial (a pack checkpoint written before
    every member's state was kept in it) or cannot be read: the resume says so by trial and path, and
    the trial starts from epoch 1 instead of silently (no state) or failing at every retry (a corrupt
    file). Checkpoints that hold it, in the pack format or an earlier one-trial one, are continued."""
    def folder(name, saved):
        (tmp_path / name).mkdir()
        if saved is None:
            (tmp_path / name / "trial_state.pt").write_bytes(b"not a torch file")
        else:
            torch.save(saved, tmp_path / name / "trial_state.pt")
        return str(tmp_path / name)

    others = folder("others", {"members": {"0:9": {"epoch": 2}}, "left": [], "joined": []})
    corrupt = folder("corrupt", None)
    pack = folder("pack", {"members": {"0:2": {"epoch": 2}, "0:3": {"epoch": 2}}, "left": [], "joined": []})
    alone = folder("alone", {"epoch": 1, "prompt": torch.zeros(2)})  # a one-trial checkpoint is its state
    spec, cells, _ = _searcher(budget=5)
    stored = _history([(n, "search", 0, 0.01 * (n + 1), "interrupted", None, 0, path)
                       for n, path in enumerate([others, corrupt, pack, alone])])
    _, _, searcher = _searcher(budget=5, history={cells[0].key: stored})
    reruns = {m["number"]: m["resume_from"] for m in (_suggest(searcher, f"r{i}") for i in range(4))}
    assert reruns == {0: None, 1: None, 2: pack, 3: alone}
    assert len(searcher.notes) == 2
    assert "#0" in searcher.notes[0] and others in searcher.notes[0] and "holds no state for it" in searcher.notes[0]
    assert "#1" in searcher.notes[1] and corrupt in searcher.notes[1] and "cannot be read" in searcher.notes[1]
    assert all(note.endswith("it starts again from epoch 1") for note in searcher.notes)


def test_resumed_study_does_not_replay_the_seeded_sequence():
    """The old behaviour: a study rebuilt with the same sampler seed asked for the rates it had tried."""
    spec, cells, fresh = _searcher()
    original = [_suggest(fresh, f"f{i}")["trial"]["lr"] for i in range(3)]
    stored = _history([(i, "search", 0, lr, "complete", 0.1 * i, 0, None) for i, lr in enumerate(original[:2])])
    _, _, resumed = _searcher(history={cells[0].key: stored})
    third = _suggest(resumed, "x")
    assert third["number"] == 2 and third["trial"]["lr"] not in original[:2]


def test_a_trial_lost_before_its_row_was_written_is_asked_again_and_no_stored_rate_repeats():
    """kill -9 while trial 0 sat in a pack that had not started (no row) and trial 1 ran (interrupted):
    the resume gives number 0 out again with the rate the first run asked for it, and the next new
    trial is number 2 with its own rate. Seeding by the count of the study's trials asked trial 2 with
    trial 1's seed, so it ran trial 1's rate again."""
    spec, cells, fresh = _searcher()
    original = [_suggest(fresh, f"f{i}")["trial"]["lr"] for i in range(3)]
    stored = _history([(1, "search", 0, original[1], "interrupted", None, 0, None)])
    _, _, resumed = _searcher(history={cells[0].key: stored})
    asked = [_suggest(resumed, f"r{i}") for i in range(3)]
    assert [(a["number"], a["trial"]["lr"], a["continuing"]) for a in asked] == [
        (1, original[1], True), (0, original[0], False), (2, original[2], False)]
    assert len(set(original)) == 3


def test_a_fixed_rate_lost_before_its_row_was_written_is_the_one_that_runs_again():
    spec = parse_spec("methods: [prompt_tuning]\ntasks: [rte]\noptuna: {sampler: fixed, rates: "
                      "{prompt_tuning: [0.3, 0.03, 0.003]}}\n")
    cells = expand(spec)
    stored = _history([(1, "search", 0, 0.03, "complete", 0.5, 0, None)])
    searcher = CellSearcher(spec, cells, {cells[0].key: 1}, {cells[0].key: stored})
    asked = [_suggest(searcher, f"t{i}") for i in range(2)]
    assert [(a["number"], a["trial"]["lr"]) for a in asked] == [(0, 0.3), (2, 0.003)]


def test_fixed_sampler_runs_the_listed_rates():
    spec = parse_spec("methods: [prompt_tuning]\ntasks: [rte]\noptuna: {sampler: fixed, rates: "
                      "{prompt_tuning: [0.3, 0.03]}}\n")
    cells = expand(spec)
    searcher = CellSearcher(spec, cells, {cells[0].key: 1})
    assert [_suggest(searcher, f"t{i}")["trial"]["lr"] for i in range(2)] == [0.3, 0.03]
    assert _suggest(searcher, "t2") is None  # both running: nothing to hand out yet


@pytest.mark.parametrize("sampler", ["tpe", "random", "gp"])
def test_samplers_stay_in_range_and_do_not_repeat(sampler):
    spec, cells, searcher = _searcher(budget=6, extra=f", sampler: {sampler}")
    lrs = []
    for i in range(6):
        config = _suggest(searcher, f"t{i}")
        lrs.append(config["trial"]["lr"])
        _finish(searcher, f"t{i}", (i % 3) / 3)
    low, high = spec.optuna.lr_range("prompt_tuning")
    assert all(low <= lr <= high for lr in lrs) and len(set(lrs)) == 6


def _members(cell: str, role: str, name: str) -> dict:
    return {"members": [{"cell_key": cell, "cell_id": cell, "number": name, "role": role}]}


@dataclass
class FakeTrial:
    """What a scheduler reads of a Tune trial: its id and config."""

    trial_id: str
    config: dict = field(default_factory=dict)


def test_early_stopping_compares_only_trials_of_the_same_cell():
    """Cell A scores ~0.9, cell B ~0.1: B's trials are judged among themselves, so B's best goes on."""
    scheduler = PerCellASHA(max_t=4, grace_period=1, reduction_factor=2)
    a = [FakeTrial(f"a{i}", _members("A", "search", f"a{i}")) for i in range(3)]
    b = [FakeTrial(f"b{i}", _members("B", "search", f"b{i}")) for i in range(3)]
    for trial in a + b:
        scheduler.on_trial_add(None, trial)
    for trial, score in zip(a, (0.9, 0.95, 0.92)):
        scheduler.on_trial_result(None, trial, {"epoch": 1, "peak/score": score})
    decisions = {t.trial_id: scheduler.on_trial_result(None, t, {"epoch": 1, "peak/score": s})
                 for t, s in zip(b, (0.1, 0.2, 0.05))}
    assert decisions["b1"] == TrialScheduler.CONTINUE  # the best of B, though far below every A trial
    assert decisions["b2"] == TrialScheduler.STOP


def test_replicas_are_never_stopped_and_resume_prefills_the_rungs():
    scheduler = PerCellASHA(max_t=4, grace_period=1, reduction_factor=2)
    scheduler.prefill("A", "stored-1", {1: 0.9, 2: 0.9})
    weak = FakeTrial("w", _members("A", "search", "w"))
    replica = FakeTrial("r", _members("A", "replica", "r"))
    scheduler.on_trial_add(None, weak)
    scheduler.on_trial_add(None, replica)
    assert scheduler.on_trial_result(None, weak, {"epoch": 1, "peak/score": 0.1}) == TrialScheduler.STOP
    assert scheduler.on_trial_result(None, replica, {"epoch": 1, "peak/score": 0.0}) == TrialScheduler.CONTINUE


def test_grace_period_beyond_the_epochs_is_refused():
    with pytest.raises(ValueError, match="grace_period"):
        PerCellASHA(max_t=2, grace_period=3, reduction_factor=2)


def test_retry_failed_runs_failed_trials_out_of_retries_with_a_fresh_budget():
    spec, cells, _ = _searcher(budget=2)
    key = cells[0].key
    stored = _history([(0, "search", 0, 0.01, "complete", 0.5, 0, None),
                       (1, "search", 0, 0.02, "failed", None, 2, None)])  # retries: 1, both attempts used
    _, _, plain = _searcher(budget=2, history={key: stored})
    nxt = _suggest(plain, "p")  # out of retries: a plain resume leaves it (and moves on to other work)
    assert not (isinstance(nxt, dict) and nxt["number"] == 1)
    _, _, again = _searcher(budget=2, history={key: stored}, retry_failed=True)
    rerun = _suggest(again, "r")
    assert (rerun["cell_key"], rerun["number"], rerun["continuing"]) == (key, 1, True)
    assert rerun["failures"] == 0  # its retries count from this run


def test_a_pack_takes_the_same_task_first_so_its_members_end_together():
    """Plan order is method, then task: without the task rule a pack of 4 would be rte x3 + sst2 x1 of
    prompt_tuning; with it, it is prompt_tuning's and superpos_prompt's rte trials."""
    spec = parse_spec("methods: [prompt_tuning, superpos_prompt]\ntasks: [rte, sst2]\nm: [8]\ndropout: [off]\n"
                      "optuna: {trials_per_cell: 2}\nresources: {pack_size: 4}\n")
    cells = expand(spec)
    searcher = CellSearcher(spec, cells, {c.key: i for i, c in enumerate(cells)}, pack_sizes={"tiny-t5": 4})
    first = searcher.suggest("t0")["members"]
    assert [m["cell_key"].split("|")[:2] for m in first] == [["prompt_tuning", "rte"]] * 2 + [
        ["superpos_prompt", "rte"]] * 2
    second = searcher.suggest("t1")["members"]
    assert {m["cell_key"].split("|")[1] for m in second} == {"sst2"} and len(second) == 4
