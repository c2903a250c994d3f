"""The pack board: how early stopping tells a running pack that one of its members leaves.

Tune's scheduler can only stop a whole Tune trial; a pack (workers/pack.py) is one Tune trial with
several members. When a member's cell's ASHA stops it, the scheduler writes the member's key here
and lets the trial continue; the worker asks after each of that member's reports (Tune's function
trainables report synchronously: the report returns after the scheduler has decided), and the
member leaves the pack. One small actor per run, named so the workers can find it.

Continuous packing goes through it the other way: when a member leaves, the searcher offers the
trials that take its place (`offer`, before the worker's report returns), and the worker takes them
(`take`) and trains them in the running pack.
"""

from __future__ import annotations

import ray


@ray.remote(num_cpus=0)
class PackBoard:
    def __init__(self):
        self.stopped: set[str] = set()
        self.offers: dict[str, list[dict]] = {}  # by Tune trial id: member configs to join it

    def offer(self, trial_id: str, members: list[dict]) -> None:
        self.offers.setdefault(trial_id, []).extend(members)

    def take(self, trial_id: str) -> list[dict]:
        return self.offers.pop(trial_id, [])

    def stop(self, key: str) -> None:
        self.stopped.add(key)

    def is_stopped(self, key: str) -> bool:
        return key in self.stopped


def start_board(run_name: str):
    """(handle, name) of a new board for this run."""
    name = f"{run_name}-board"
    return PackBoard.options(name=name).remote(), name


def offer(name: str, trial_id: str, members: list[dict]) -> None:
    """Offer `members` to the running pack `trial_id` through the board called `name`; returns once the
    board holds them (before the report that made room returns to the worker)."""
    ray.get(ray.get_actor(name).offer.remote(trial_id, members))
