"""The results schema (SQLAlchemy 2): sweeps -> cells -> trials -> metrics and scores.

Times are integer UTC milliseconds. Non-finite metric values are stored as NULL plus an explicit
`nonfinite` kind ('nan', 'inf', '-inf'), since SQL has no portable NaN. Unique constraints make
repeated logging (after a resume, say) harmless.
"""

from __future__ import annotations

import time

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from workers.members import FINISHED

# complete: every epoch ran; stopped: early stopping ended it; failed: it raised (after its retries);
# interrupted: the sweep stopped (Ctrl-C, a killed driver, cancel) before it finished: resume continues it
TRIAL_STATES = ("running", "complete", "stopped", "failed", "interrupted")
FINISHED_TRIAL_STATES = FINISHED  # the states whose scores a table may report (workers/members.py)
# complete: every cell has its search budget and replicas finished; partial: every cell has a chosen
# learning rate, some trials failed; failed: some cell has no finished trial
SWEEP_STATES = ("running", "complete", "partial", "failed", "interrupted", "cancelled")
TRIAL_ROLES = ("search", "replica")  # replica: the cell's chosen learning rate with another seed


def now_ms() -> int:
    return int(time.time() * 1000)


class Base(DeclarativeBase):
    pass


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL: `column` is one of `values`."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Sweep(Base):
    __tablename__ = "sweeps"
    __table_args__ = (CheckConstraint(one_of("state", SWEEP_STATES), name="ck_sweep_state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    spec_text: Mapped[str] = mapped_column(Text)  # the YAML exactly as submitted
    spec_hash: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(20), default="running")
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger)
    git_commit: Mapped[str | None] = mapped_column(String(40))
    git_dirty: Mapped[bool | None] = mapped_column(Boolean)
    versions: Mapped[str | None] = mapped_column(Text)  # JSON: python, torch, transformers, ray, ...
    hardware: Mapped[str | None] = mapped_column(Text)  # the driver's host, then every node that ran a trial
    inputs: Mapped[str | None] = mapped_column(Text)  # JSON: each model's and dataset's commit or content hash
    planned_trials: Mapped[int | None] = mapped_column(Integer)  # trials this run set out to run
    driver: Mapped[str | None] = mapped_column(String(200))  # host:pid of the process running it (cancel)
    job_id: Mapped[str | None] = mapped_column(String(100))  # Ray Jobs submission id, when submitted
    job_address: Mapped[str | None] = mapped_column(String(300))  # the Jobs API address it was submitted to
    cells: Mapped[list[Cell]] = relationship(back_populates="sweep", cascade="all, delete-orphan")


class Cell(Base):
    """One point of the grid: method x task x model x m x dropout x seed."""

    __tablename__ = "cells"
    __table_args__ = (UniqueConstraint("sweep_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(300))  # stable text id of the cell within its sweep
    method: Mapped[str] = mapped_column(String(50), index=True)
    task: Mapped[str] = mapped_column(String(50), index=True)
    model: Mapped[str] = mapped_column(String(200))
    m: Mapped[int | None] = mapped_column(Integer)  # NULL for methods without m
    options: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")  # JSON: the grid's method options
    dropout: Mapped[bool] = mapped_column(Boolean)
    seed: Mapped[int] = mapped_column(Integer)  # the search seed; each trial records its own
    eval_protocol: Mapped[str] = mapped_column(String(30), default="paper", server_default="paper")
    eval_mode: Mapped[str] = mapped_column(String(20), default="generate", server_default="generate")
    template: Mapped[str] = mapped_column(String(30), default="reference", server_default="reference")
    # a cell that consumes prompts its own sweep trains (ATTEMPT): the keys of the cells it waits for (JSON)
    sources: Mapped[str | None] = mapped_column(Text)
    blocked: Mapped[str | None] = mapped_column(Text)  # why it never ran: a source cell ended without a chosen trial
    sweep: Mapped[Sweep] = relationship(back_populates="cells")
    trials: Mapped[list[Trial]] = relationship(back_populates="cell", cascade="all, delete-orphan")


class Trial(Base):
    __tablename__ = "trials"
    __table_args__ = (UniqueConstraint("cell_id", "number"),
                      CheckConstraint(one_of("state", TRIAL_STATES), name="ck_trial_state"),
                      CheckConstraint(one_of("role", TRIAL_ROLES), name="ck_trial_role"))
    id: Mapped[int] = mapped_column(primary_key=True)
    cell_id: Mapped[int] = mapped_column(ForeignKey("cells.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 0, 1, ... within the cell (search trials, then replicas)
    role: Mapped[str] = mapped_column(String(10), default="search", server_default="search")
    seed: Mapped[int | None] = mapped_column(Integer)
    # a replica: the cell's chosen search trial whose learning rate it runs with another seed
    replica_of: Mapped[int | None] = mapped_column(ForeignKey("trials.id", name="fk_trial_replica_of", ondelete="SET NULL"))
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # times it raised, all runs
    checkpoint: Mapped[str | None] = mapped_column(Text)  # its last epoch's Tune checkpoint (resume continues it)
    ray_trial_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    lr: Mapped[float] = mapped_column(Float)
    weight_decay: Mapped[float | None] = mapped_column(Float)
    batch_size: Mapped[int | None] = mapped_column(Integer)
    epochs: Mapped[int | None] = mapped_column(Integer)
    config: Mapped[str] = mapped_column(Text)  # JSON: the full TrialConfig (every other hyperparameter)
    state: Mapped[str] = mapped_column(String(20), default="running")
    objective: Mapped[float | None] = mapped_column(Float)  # peak validation score (0..1)
    error: Mapped[str | None] = mapped_column(Text)
    trainable_parameters: Mapped[int | None] = mapped_column(BigInteger)
    started_ms: Mapped[int | None] = mapped_column(BigInteger)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger)
    cell: Mapped[Cell] = relationship(back_populates="trials")


class Metric(Base):
    """One value per trial, key (`<split>/<name>`) and step (the epoch)."""

    __tablename__ = "metrics"
    __table_args__ = (
        # the unique constraint's index serves lookups by (trial, key, step) too
        UniqueConstraint("trial_id", "key", "step", name="uq_metric_trial_key_step"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    step: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float)
    nonfinite: Mapped[str | None] = mapped_column(String(4))


class Score(Base):
    """A trial's result on one split and metric, chosen by a selection rule (peak or final epoch)."""

    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("trial_id", "split", "metric", "selection"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    split: Mapped[str] = mapped_column(String(50))
    metric: Mapped[str] = mapped_column(String(50))
    selection: Mapped[str] = mapped_column(String(20))  # 'peak' (by validation score) or 'final'
    epoch: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float)


class Snapshot(Base):
    """A small learned tensor of a trial (e.g. SuperPos weights p'), values as a JSON list."""

    __tablename__ = "snapshots"
    __table_args__ = (UniqueConstraint("trial_id", "name", "step"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    step: Mapped[int] = mapped_column(Integer)
    shape: Mapped[str] = mapped_column(String(100))  # JSON list
    dtype: Mapped[str] = mapped_column(String(20))
    values: Mapped[str] = mapped_column(Text)  # JSON list, row-major


ARTEFACT_SELECTIONS = ("peak", "final")


class Artefact(Base):
    """One learned tensor of a prompt-method trial (workers/artefacts.py): the encoder `prompt` at the
    peak epoch and at the final epoch, and the method's state (`state/<name>`) at the peak. `data` is
    a safetensors file holding that one tensor; `sha256` is the hash of `data`."""

    __tablename__ = "artefacts"
    __table_args__ = (UniqueConstraint("trial_id", "selection", "name"),
                      CheckConstraint(one_of("selection", ARTEFACT_SELECTIONS), name="ck_artefact_selection"))
    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    selection: Mapped[str] = mapped_column(String(10))
    epoch: Mapped[int] = mapped_column(Integer)
    shape: Mapped[str] = mapped_column(String(100))  # JSON list
    dtype: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    bytes: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_ms: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class ReferenceResult(Base):
    """A number published elsewhere (the paper's tables and figures), tagged with its source."""

    __tablename__ = "reference_results"
    __table_args__ = (UniqueConstraint("source", "model", "method", "dropout", "variant", "task", "metric"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))  # e.g. paper_table1
    model: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(50))
    dropout: Mapped[str] = mapped_column(String(10))  # on / off / '' when not stated
    variant: Mapped[str] = mapped_column(String(200), default="", server_default="")  # e.g. m=64, softmax
    task: Mapped[str] = mapped_column(String(50))  # a task id, or 'average' / 'standardized_mean' ...
    metric: Mapped[str] = mapped_column(String(50))
    value: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)  # e.g. invalid_output=yes, or who reported it
