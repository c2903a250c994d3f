"""A Ray Tune Searcher that owns one Optuna study (over the learning rate) per grid cell.

OptunaSearch cannot hold a grid (Tune refuses grid_search beside it), so this searcher walks the
cells itself, through Optuna's ask/tell API:

- Order: cells are served in plan order, each until all its work is handed out, so cells finish
  early while every worker stays busy (a sweep stopped half-way has half of its table).
- Search, then replicas: the first seed searches `budget` learning rates; once they have finished,
  the cell's chosen rate (best objective) runs again with every other seed, as replica trials.
- Resume: the studies are rebuilt from the store (the single source of truth for what ran). Finished
  trials are told to their study; interrupted ones, and failed ones with retries left, run again
  under the same number and rate, from their last checkpoint. Trial numbers are ours (0, 1, ... per
  cell), not Optuna's, so a gap in the stored numbers cannot make two trials share a row: a new trial
  takes the cell's smallest number that no trial of this run or the store holds (one handed to a pack
  that never started before a kill left no row, so the numbers stay 0..n-1).
- Packs: with `resources.pack_size` > 1, one Tune trial gets up to that many trials (members) of cells
  that share a frozen model (orchestrator/tune/packing.py); each is a trial of its own here. With
  continuous packing, members that leave are replaced in the running pack (orchestrator/tune/pack_fill.py).
- Stages: a cell whose sources this sweep trains waits for them, then runs (orchestrator/tune/sources.py).
- Sampling: the sampler is re-seeded before each ask from (sampler_seed, cell, the new trial's number),
  so a resumed study continues its sequence instead of replaying the rates it already tried, and a rate
  asked for a trial that never got a row is asked for that number again (counting the study's trials
  instead repeated a stored trial's rate whenever such a trial had been lost).

Optuna's RDB storage was not used: its tables (`trials`, `alembic_version`) collide with the results
schema, it keeps no sampler state, and the store already holds every trial's rate, state and objective.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import optuna
from ray.tune.search import Searcher

from db.run_state import retries_left
from orchestrator.spec import SweepSpec
from orchestrator.spec.plan import Cell, readable_key, trial_config
from orchestrator.tune.cell_work import CellWork, HandedOut, TrialRecord
from orchestrator.tune.pack_fill import confirm, fill, refill, withdraw
from orchestrator.tune.packing import compile_enabled, group
from orchestrator.tune.sources import ready, sources_dead
from workers.members import FINISHED, LEFT, PEAK, MemberBook, member_key, peak_of
from workers.tune_adapter import checkpoint_problem

OBJECTIVE = PEAK  # the best validation task score so far, reported every epoch


def _seed(*parts: Any) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


class CellSearcher(Searcher):
    def __init__(self, spec: SweepSpec, cells: list[Cell], cell_ids: dict[str, int],
                 history: dict[str, list[dict]] | None = None, pack_sizes: dict[str, int] | None = None,
                 board: str | None = None, retry_failed: bool = False, staged=None,
                 train_sizes: dict[str, int] | None = None):
        """`history` (a resume): each cell's stored trials (number, role, seed, lr, state, objective,
        failures, checkpoint). `pack_sizes`: members per Tune trial, per model (default 1). `board`:
        the name of the actor through which early stopping tells a pack that a member leaves.
        `retry_failed`: failed trials out of retries run again too, each with a fresh retry budget.
        `staged`: the binder of a staged sweep's waiting cells (orchestrator/tune/sources.py StagedSources).
        `train_sizes`: training examples per epoch by task: a pack that cannot fill up with its first
        member's task takes the tasks of the nearest size next."""
        super().__init__(metric=OBJECTIVE, mode="max")
        self.spec = spec
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.retry_failed = retry_failed
        self.notes: list[str] = []  # what a resume must tell the user (e.g. a checkpoint that is gone)
        self.work = [CellWork(cell, cell_ids[cell.key], spec.optuna.budget(cell.method),
                              optuna.create_study(direction="maximize", study_name=cell.key)) for cell in cells]
        by_key = {work.cell.key: work for work in self.work}
        for work in self.work:
            work.sources = [(task, by_key[key]) for task, key in work.cell.sources]
            for past in (history or {}).get(work.cell.key, []):
                self._restore(work, past)
        self.staged = staged
        self.pack_sizes, self.board, self.train_sizes = pack_sizes or {}, board, train_sizes or {}
        self.book = MemberBook()  # the members of each running Tune trial: open, last result, ending
        self.handed: dict[str, HandedOut] = {}  # by member key
        self.joinable: set[str] = set()  # running packs that take new members as members leave
        self.unconfirmed: dict[str, set[str]] = {}  # offered to a running pack, not yet said joined

    def _distribution(self, cell: Cell) -> optuna.distributions.FloatDistribution:
        if self.spec.optuna.sampler == "fixed":
            rates = self.spec.optuna.fixed_rates(cell.method)
            return optuna.distributions.FloatDistribution(min(rates), max(rates), log=True)
        low, high = self.spec.optuna.lr_range(cell.method)
        return optuna.distributions.FloatDistribution(low, high, log=True)

    def _restore(self, work: CellWork, past: dict) -> None:
        """A stored trial: finished or out of retries, it is told to the study; else it runs again."""
        rec = TrialRecord(past["number"], past["role"], past["seed"], past["lr"], past["state"], past["objective"],
                          past["failures"] or 0, past["checkpoint"])
        retry = rec.state == "interrupted" or (rec.state == "failed" and (
            self.retry_failed or retries_left(rec.failures, self.spec.resources.retries)))
        if retry:
            if rec.state == "failed" and self.retry_failed:
                rec.budget_from = rec.failures  # its retries count from here
            rec.state, rec.rerun = "todo", True
            key = member_key({"cell_id": work.cell_id, "number": rec.number})
            why = checkpoint_problem(rec.checkpoint, key) if rec.checkpoint else None
            if why is not None:
                self.notes.append(f"{readable_key(work.cell.key)} #{rec.number}: its checkpoint {rec.checkpoint} {why}; "
                                  "it starts again from epoch 1")
                rec.checkpoint = None
        elif rec.role == "search":
            done = rec.state in FINISHED and rec.objective is not None
            work.study.add_trial(optuna.trial.create_trial(
                params={"lr": rec.lr}, distributions={"lr": self._distribution(work.cell)},
                value=rec.objective if done else None,
                state=optuna.trial.TrialState.COMPLETE if done else optuna.trial.TrialState.FAIL))
        work.records.append(rec)

    def set_search_properties(self, metric, mode, config, **spec) -> bool:  # the space lives in the studies
        return True

    def _sampler(self, work: CellWork, number: int, salt: int = 0) -> optuna.samplers.BaseSampler:
        seed = _seed(self.spec.optuna.sampler_seed, work.cell.key, number, *([salt] if salt else []))
        startup = self.spec.optuna.n_startup(work.budget)
        return {
            "tpe": lambda: optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup),
            "gp": lambda: optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup),
            "random": lambda: optuna.samplers.RandomSampler(seed=seed),
            "fixed": lambda: optuna.samplers.RandomSampler(seed=seed),  # never samples: rates are enqueued
        }[self.spec.optuna.sampler]()

    def _ask(self, work: CellWork, lr: float | None, number: int) -> optuna.trial.Trial:
        """The Optuna trial of search trial `number`: at rate `lr` (a re-run, or a fixed rate), else sampled."""
        distribution = {"lr": self._distribution(work.cell)}
        if lr is not None:
            work.study.enqueue_trial({"lr": lr}, skip_if_exists=False)
            return work.study.ask(distribution)
        held = {r.lr for r in work.role("search")}
        for salt in range(100):  # a store written before seeding by number can hold this number's rate
            work.study.sampler = self._sampler(work, number, salt)  # under another number: ask again
            otrial = work.study.ask(distribution)
            if otrial.params["lr"] not in held:
                return otrial
            work.study.tell(otrial, state=optuna.trial.TrialState.FAIL)
        raise RuntimeError(f"{readable_key(work.cell.key)}: the sampler gave only rates already tried")

    def _next(self, work: CellWork) -> tuple[TrialRecord, optuna.trial.Trial | None] | None:
        """The cell's next piece of work: a re-run, a new search trial, or a replica; None if none now
        (also while it waits for its sources)."""
        if not ready(work, self.staged, self.notes):
            return None
        todo = next((r for r in work.records if r.state == "todo"), None)
        if todo is not None:
            return todo, self._ask(work, todo.lr, todo.number) if todo.role == "search" else None
        search = work.role("search")
        if len(search) < work.budget:
            fixed = self.spec.optuna.sampler == "fixed"
            number = work.next_number()
            otrial = self._ask(work, self._next_fixed(work) if fixed else None, number)
            rec = TrialRecord(number, "search", work.cell.seed, otrial.params["lr"])
            work.records.append(rec)
            return rec, otrial
        chosen = work.chosen() if work.search_done() else None
        if chosen is not None:
            issued = {r.seed for r in work.role("replica")}
            for seed in self.spec.seeds[1:]:
                if seed not in issued:
                    rec = TrialRecord(work.next_number(), "replica", seed, chosen.lr, replica_of=chosen.number)
                    work.records.append(rec)
                    return rec, None
        return None

    def _next_fixed(self, work: CellWork) -> float:
        """The first listed rate that no search trial of the cell has run (or runs) yet."""
        held = [r.lr for r in work.role("search")]
        for rate in self.spec.optuna.fixed_rates(work.cell.method):
            if rate in held:
                held.remove(rate)
            else:
                return rate
        raise AssertionError("more search trials than listed rates")  # the budget is the list's length

    @staticmethod
    def _take(work: CellWork, nxt: tuple) -> HandedOut:
        nxt[0].state = "live"  # taken: the cell's next call moves on
        return HandedOut(work, *nxt)

    def _gather(self) -> list[HandedOut]:
        """The next Tune trial's members: the first piece of work in plan order, then, up to the model's
        pack size, more from the cells that share its frozen model, nearest first (pack_fill.fill)."""
        for work in self.work:
            nxt = self._next(work)
            if nxt is not None:
                key, first = group(self.spec, work.cell), self._take(work, nxt)
                room = self.pack_sizes.get(work.cell.model, 1) - 1 if key is not None else 0
                return [first, *fill(self, key, work.cell.task, room)]
        return []

    def _member_config(self, member: HandedOut) -> dict[str, Any]:
        work, rec = member.work, member.record
        return {"cell_key": work.cell.key, "cell_id": work.cell_id, "number": rec.number, "role": rec.role,
                "continuing": rec.rerun, "resume_from": rec.checkpoint, "failures": rec.failures - rec.budget_from,
                "replica_of": rec.replica_of,
                "trial": trial_config(self.spec, work.cell, rec.lr, rec.seed, work.pins)}

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        """A Tune trial's config: its members (one, or a pack), threads, caching, compiling."""
        members = self._gather()
        if not members:
            return None if self.book.running() else Searcher.FINISHED  # None: replicas wait for a search to finish
        configs = [self._member_config(m) for m in members]
        for config, member in zip(configs, members):
            self.handed[member_key(config)] = member
        self.book.add(trial_id, configs)
        if len(members) > 1 and self.spec.resources.continuous_packing:
            self.joinable.add(trial_id)  # members that leave are replaced (pack_fill.refill)
        return {"members": configs,
                "threads": max(1, int(self.spec.resources.cpus_per_trial)),
                "cache": self.spec.resources.cache_models,
                "compile": compile_enabled(self.spec),  # a pack's shared T5, or full fine-tuning's own
                "board": self.board if len(members) > 1 else None}

    def _close(self, key: str, how: str, last: dict | None) -> None:
        """A member ended (workers/members.py `ending`): its record's state and objective; its study
        learns the result."""
        member = self.handed.pop(key)
        work, rec, otrial = member.work, member.record, member.otrial
        value = None if how == "failed" else peak_of(last)
        rec.state, rec.objective = ("failed", None) if value is None else (how, value)
        if otrial is not None:
            if value is None:
                work.study.tell(otrial, state=optuna.trial.TrialState.FAIL)
            else:
                work.study.tell(otrial, value)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """A member's epoch (`result["member"]` indexes the trial's members); `left` closes it."""
        confirm(self, trial_id, result)
        entry = self.book.report(trial_id, result)
        if entry is not None and LEFT in result and self.book.close(entry, result[LEFT]):
            self._close(entry.key, entry.ended, entry.last)
            refill(self, trial_id, entry)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """The Tune trial ended: every member still in it closes (failed if the trial failed)."""
        self.joinable.discard(trial_id)
        withdraw(self, trial_id)  # offers its worker never took
        for entry in self.book.end_trial(trial_id, error, result):
            self._close(entry.key, entry.ended, entry.last)

    def _left(self, work: CellWork) -> int:
        """Trials of a cell still to hand out: re-runs, missing search trials, and replicas (none once a
        finished search has no chosen rate: every search trial failed; none for a blocked cell)."""
        if work.blocked or sources_dead(work):
            return 0
        left = sum(r.state == "todo" for r in work.records) + max(0, work.budget - len(work.role("search")))
        if not (work.search_done() and work.chosen() is None):
            left += len(set(self.spec.seeds[1:]) - {r.seed for r in work.role("replica")})
        return left

    def is_done(self) -> bool:
        """Nothing running and nothing left to hand out."""
        return not self.book.running() and self.total_trials() == 0

    def save(self, checkpoint_path: str) -> None:  # Tune checkpoints the searcher with the experiment state
        with open(checkpoint_path, "wb") as fh:
            pickle.dump(self.__dict__, fh)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as fh:
            self.__dict__.update(pickle.load(fh))

    def total_trials(self) -> int:
        """Trials still to hand out (replicas counted while a cell's search may still find a rate)."""
        return sum(self._left(work) for work in self.work)
