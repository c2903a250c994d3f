"""Learned prompts kept in the store: the `artefacts` table (one tensor per row, a safetensors file
in `data`: each prompt-method trial's encoder prompt at its peak and final epochs, and the method's
state at the peak). Earlier stores gain the empty table; their trials have no artefacts. Cells that
consume prompts their own sweep trains name the cells they wait for (cells.sources) and, when one of
those ended without a chosen trial, why they never ran (cells.blocked).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artefacts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("selection", sa.String(10), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("shape", sa.String(100), nullable=False),
        sa.Column("dtype", sa.String(20), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("trial_id", "selection", "name"),
        sa.CheckConstraint("selection IN ('peak', 'final')", name="ck_artefact_selection"),
    )
    op.create_index("ix_artefacts_trial_id", "artefacts", ["trial_id"])
    op.create_index("ix_artefacts_sha256", "artefacts", ["sha256"])
    op.add_column("cells", sa.Column("sources", sa.Text))  # plain ADD COLUMN: no view needs recreating
    op.add_column("cells", sa.Column("blocked", sa.Text))


def downgrade() -> None:
    previous = import_module("db.migrations.versions.0004_replicas_by_id")
    op.drop_table("artefacts")
    previous._drop_views()  # SQLite cannot recreate a table that a view reads
    with op.batch_alter_table("cells") as batch:
        batch.drop_column("blocked")
        batch.drop_column("sources")
    for view in (previous.REPORTED_SCORES, previous.TRIAL_SUMMARY, previous._previous.BEST_TRIALS,
                 previous.REPORTED_TRIALS, previous.CELL_RESULTS):
        op.execute(view)
