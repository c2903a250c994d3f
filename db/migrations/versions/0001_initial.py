"""The first schema: sweeps, cells, trials, metrics, scores.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec_text", sa.Text, nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False, index=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("finished_ms", sa.BigInteger),
        sa.Column("git_commit", sa.String(40)),
        sa.Column("git_dirty", sa.Boolean),
        sa.Column("versions", sa.Text),
        sa.Column("hardware", sa.String(200)),
    )
    op.create_table(
        "cells",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sweep_id", sa.Integer, sa.ForeignKey("sweeps.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("method", sa.String(50), nullable=False, index=True),
        sa.Column("task", sa.String(50), nullable=False, index=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("m", sa.Integer),
        sa.Column("dropout", sa.Boolean, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.UniqueConstraint("sweep_id", "key"),
    )
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("cell_id", sa.Integer, sa.ForeignKey("cells.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("ray_trial_id", sa.String(100), unique=True),
        sa.Column("lr", sa.Float, nullable=False),
        sa.Column("weight_decay", sa.Float),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("objective", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("trainable_parameters", sa.BigInteger),
        sa.Column("started_ms", sa.BigInteger),
        sa.Column("finished_ms", sa.BigInteger),
        sa.UniqueConstraint("cell_id", "number"),
    )
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("nonfinite", sa.String(4)),
        sa.UniqueConstraint("trial_id", "key", "step", name="uq_metric_trial_key_step"),
    )
    op.create_index("ix_metric_trial_key_step", "metrics", ["trial_id", "key", "step"])
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("split", sa.String(50), nullable=False),
        sa.Column("metric", sa.String(50), nullable=False),
        sa.Column("selection", sa.String(20), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("value", sa.Float),
        sa.UniqueConstraint("trial_id", "split", "metric", "selection"),
    )


def downgrade() -> None:
    for table in ("scores", "metrics", "trials", "cells", "sweeps"):
        op.drop_table(table)
