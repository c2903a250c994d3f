"""What the searcher (orchestrator/tune/searcher.py) knows of each grid cell: its trials (stored,
handed out, or still to run), its Optuna study and, in a staged sweep, the cells it waits for."""

from __future__ import annotations

from dataclasses import dataclass, field

import optuna

from orchestrator.spec.plan import Cell
from workers.members import FINISHED


@dataclass
class TrialRecord:
    number: int
    role: str  # search | replica
    seed: int
    lr: float
    state: str = "todo"  # todo (to run) | live | complete | stopped | failed
    objective: float | None = None
    failures: int = 0
    checkpoint: str | None = None
    rerun: bool = False  # continues a stored trial (its row, rate and seed)
    budget_from: int = 0  # failures before this run that do not count against its retries (--retry-failed)
    replica_of: int | None = None  # a replica's chosen search trial (its number)


@dataclass
class CellWork:
    cell: Cell
    cell_id: int
    budget: int
    study: optuna.Study
    records: list[TrialRecord] = field(default_factory=list)
    sources: list[tuple[str, CellWork]] = field(default_factory=list)  # staged: the cells it waits for, by task
    pins: tuple[tuple[str, str], ...] = ()  # staged: its sources' (task, sha256), once bound
    blocked: str | None = None  # why it never runs (a source cell ended without a chosen trial)

    def role(self, role: str) -> list[TrialRecord]:
        return [r for r in self.records if r.role == role]

    def next_number(self) -> int:
        """The smallest number no trial of the cell holds (stored, or handed out in this run)."""
        taken = {r.number for r in self.records}
        return next(n for n in range(len(taken) + 1) if n not in taken)

    def search_done(self) -> bool:
        search = self.role("search")
        return len(search) >= self.budget and all(r.state in (*FINISHED, "failed") for r in search)

    def chosen(self) -> TrialRecord | None:
        """The best finished search trial (ties: the earlier), as the best_trials view picks it."""
        done = [r for r in self.role("search") if r.state in FINISHED and r.objective is not None]
        return max(done, key=lambda r: (r.objective, -r.number)) if done else None


@dataclass
class HandedOut:
    """A trial handed to a Tune trial (as one of its members): its cell, record and Optuna trial."""

    work: CellWork
    record: TrialRecord
    otrial: optuna.trial.Trial | None
