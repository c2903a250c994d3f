"""The member protocol (workers/members.py) and the rungs that early stopping owns
(orchestrator/tune/early_stopping.py `Rungs`)."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from orchestrator.tune.early_stopping import Rungs
from workers.members import MemberBook, ending, member_key, running_peaks, tune_row_id


def _members(n: int, epochs: int = 3) -> list[dict]:
    return [{"cell_key": "c", "cell_id": 7, "number": i, "role": "search", "trial": {"epochs": epochs}}
            for i in range(n)]


def test_ending_is_one_rule_for_complete_stopped_and_failed():
    assert ending({"epoch": 3, "peak/score": 0.5}, planned=3) == "complete"
    assert ending({"epoch": 2, "peak/score": 0.5}, planned=3) == "stopped"
    assert ending({"epoch": 3, "peak/score": 0.5}, planned=3, failed=True) == "failed"
    assert ending({"epoch": 1, "peak/score": float("nan")}, planned=3) == "failed"  # no epoch finished
    assert ending(None, planned=3) == "failed"


def test_the_peak_keeps_the_earlier_epoch_on_a_tie():
    assert running_peaks({1: 0.5, 2: 0.7, 3: 0.7, 4: 0.6}) == {1: (1, 0.5), 2: (2, 0.7), 3: (2, 0.7), 4: (2, 0.7)}


def test_ids_of_a_member():
    assert member_key({"cell_id": 7, "number": 3}) == "7:3"
    assert tune_row_id("abc", 0, 1) == "abc" and tune_row_id("abc", 2, 4) == "abc/2"


def test_the_book_tracks_open_members_their_last_result_and_how_each_ended():
    book = MemberBook()
    entries = book.add("t", _members(3))
    assert book.add("t", _members(3)) is entries  # a trial Tune restarts keeps its entries
    book.report("t", {"member": 0, "epoch": 1, "peak/score": 0.4})
    book.report("t", {"member": 0, "epoch": 1, "left": "stopped", "event_only": True, "peak/score": 0.4})
    assert entries[0].last == {"member": 0, "epoch": 1, "peak/score": 0.4}  # an event does not replace it
    assert book.close(entries[0], "stopped") and not book.close(entries[0], "failed")  # the first ending stays
    book.report("t", {"member": 1, "epoch": 3, "peak/score": 0.6, "artefacts/final": [{"data": b"x" * 9}]})
    assert entries[1].last == {"member": 1, "epoch": 3, "peak/score": 0.6}  # no prompt bytes in saved state
    assert book.report("t", {"member": 9, "epoch": 1}) is None
    assert [e.index for e in book.open("t")] == [1, 2]
    closed = book.end_trial("t", failed=False)
    assert [(e.index, e.ended) for e in closed] == [(1, "complete"), (2, "failed")]  # 2 never reported
    assert not book.running() and book.open("t") == []


def test_a_lone_member_without_results_takes_tunes_last_result():
    book = MemberBook()
    book.add("t", _members(1, epochs=2))
    (entry,) = book.end_trial("t", failed=False, result={"epoch": 2, "peak/score": 0.3})
    assert entry.ended == "complete"


@pytest.mark.parametrize("max_t, grace, rf", [(4, 1, 2), (9, 1, 3), (10, 2, 2), (5, 5, 3)])
def test_rungs_decide_as_rays_asha(max_t, grace, rf):
    """Ours against Ray's ASHAScheduler (one bracket) on random trials reporting at random times."""
    rng = random.Random(max_t * 100 + grace * 10 + rf)
    ours, ray = Rungs(max_t, grace, rf), ASHAScheduler(time_attr="epoch", metric="s", mode="max", max_t=max_t,
                                                      grace_period=grace, reduction_factor=rf)
    trials = [SimpleNamespace(trial_id=f"t{i}") for i in range(12)]
    for trial in trials:
        ray.on_trial_add(None, trial)
    epoch = {t.trial_id: 0 for t in trials}
    decisions = 0
    for _ in range(200):
        alive = [t for t in trials if epoch[t.trial_id] < max_t - 1]
        if not alive:
            break
        trial = rng.choice(alive)
        epoch[trial.trial_id] += 1
        score = round(rng.random(), 2)
        theirs = ray.on_trial_result(None, trial, {"epoch": epoch[trial.trial_id], "s": score})
        mine = ours.judge(trial.trial_id, epoch[trial.trial_id], score)
        assert mine == (theirs == TrialScheduler.STOP), (trial.trial_id, epoch[trial.trial_id], score)
        decisions += 1
        if mine:
            epoch[trial.trial_id] = max_t  # stopped: it reports no more
    assert decisions > 10


def test_a_checkpoint_of_the_earlier_one_trial_format_is_that_trials_state():
    """Interrupted trials of a store made before packs continue from their checkpoints."""
    from workers.tune_adapter import member_state

    old = {"epoch": 2, "trainable": {}, "optimizer": {}}
    assert member_state(old, "1:0") is old
    packed = {"members": {"1:0": {"epoch": 3}}, "left": []}
    assert member_state(packed, "1:0") == {"epoch": 3} and member_state(packed, "1:1") is None


def test_a_packs_checkpoint_keeps_the_members_that_joined_it_so_a_retry_runs_them():
    import shutil

    from workers.members import joined_event, joined_member
    from workers.tune_adapter import _Checkpoints, load_state

    joined = {"cell_id": 2, "number": 5, "trial": {"method_params": {}}}
    book = _Checkpoints(["1:0"], None)
    book.joined.append(joined)
    book.keys.append("2:5")
    book.save(1, {"epoch": 1})
    book.left.add("1:0")
    folder = book.folder()
    try:
        again = _Checkpoints([], load_state(folder))
    finally:
        shutil.rmtree(folder)
    assert again.joined == [joined] and again.left == {"1:0"} and again.states == {"2:5": {"epoch": 1}}
    event = joined_event(1, joined)
    assert isinstance(event["joined"], str) and joined_member(event) == joined  # survives Tune's flattening
    assert joined_member({"member": 0, "epoch": 1}) is None


def test_the_books_take_a_joined_member_once_and_in_turn():
    from workers.members import MemberBook

    book = MemberBook()
    book.add("t", [{"cell_id": 1, "number": 0}, {"cell_id": 1, "number": 1}])
    new = {"cell_id": 1, "number": 2}
    entry = book.join("t", 2, new)
    assert entry is not None and entry.index == 2 and book.join("t", 2, new) is entry  # said again: the same
    assert book.join("t", 4, {"cell_id": 1, "number": 3}) is None  # out of turn
    assert [e.key for e in book.open("t")] == ["1:0", "1:1", "1:2"]
    from workers.members import joined_event

    reported = book.report("t", joined_event(3, {"cell_id": 2, "number": 0}))  # what Tune tells every book
    assert reported is not None and reported.key == "2:0" and reported.last is None
