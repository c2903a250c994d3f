"""Which trials fill a pack: its members when its Tune trial starts, and, with continuous packing
(`resources.continuous_packing`), the trials that take a leaving member's place in the running pack.

A pack takes work from the cells that share its frozen model (packing.group), nearest first
(packing.nearness: the same task, then the nearest training size), so that its members end
together. With continuous packing, whenever a member leaves (complete, stopped or failed) the
searcher fills the pack up to its size again: it books the new members, offers them through the
pack board (orchestrator/tune/pack_board.py) before the leaver's report returns, and the worker
trains them in the running pack (workers/pack.py `admit`), so a slot never idles while a pack's
last members finish and work is left that could share its model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna

from orchestrator.tune.packing import group, nearness
from workers.members import Entry, joined_member, member_key

if TYPE_CHECKING:
    from orchestrator.tune.searcher import CellSearcher, HandedOut


def fill(searcher: CellSearcher, key: tuple, task: str, room: int) -> list[HandedOut]:
    """Up to `room` pieces of work from the cells in group `key`, nearest to `task` first (ties: plan order)."""
    members: list[HandedOut] = []
    peers = [(i, w) for i, w in enumerate(searcher.work) if group(searcher.spec, w.cell) == key]
    for _, work in sorted(peers, key=lambda p: (*nearness(searcher.train_sizes, task, p[1].cell.task), p[0])):
        while len(members) < room:
            nxt = searcher._next(work)
            if nxt is None:
                break
            members.append(searcher._take(work, nxt))
    return members


def refill(searcher: CellSearcher, trial_id: str, left: Entry) -> list[dict]:
    """The member configs that join the running pack `trial_id` now that `left` has left it (booked
    as its next members); [] when the pack is full, the trial is not a pack, or nothing can join."""
    if trial_id not in searcher.joinable:
        return []
    work = next(w for w in searcher.work if w.cell.key == left.config["cell_key"])
    room = searcher.pack_sizes.get(work.cell.model, 1) - len(searcher.book.open(trial_id))
    joined = fill(searcher, group(searcher.spec, work.cell), work.cell.task, room) if room > 0 else []
    configs = []
    for member in joined:
        config = searcher._member_config(member)
        searcher.handed[member_key(config)] = member
        searcher.book.join(trial_id, len(searcher.book.entries(trial_id)), config)
        searcher.unconfirmed.setdefault(trial_id, set()).add(member_key(config))
        configs.append(config)
    if configs and searcher.board is not None:  # the planner's simulation (no board) reads the book
        from orchestrator.tune.pack_board import offer

        offer(searcher.board, trial_id, configs)
    return configs


def confirm(searcher: CellSearcher, trial_id: str, result: dict) -> None:
    """A `joined` report: the worker took that member (it is the Tune trial's from now on)."""
    member = joined_member(result)
    if member is not None:
        searcher.unconfirmed.get(trial_id, set()).discard(member_key(member))


def withdraw(searcher: CellSearcher, trial_id: str) -> None:
    """The Tune trial ended with offers its worker never took (it went away first): those trials go back
    to be handed out again (a search trial under a new Optuna trial, its old one told failed), as if
    never offered; no row was written for them."""
    keys = searcher.unconfirmed.pop(trial_id, set())
    if not keys:
        return
    entries = searcher.book.trials.get(trial_id, [])
    entries[:] = [e for e in entries if e.key not in keys]
    for key in keys:
        member = searcher.handed.pop(key)
        member.record.state = "todo"
        if member.otrial is not None:
            member.work.study.tell(member.otrial, state=optuna.trial.TrialState.FAIL)
