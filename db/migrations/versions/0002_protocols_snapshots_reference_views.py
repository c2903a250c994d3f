"""Evaluation protocol and mode on cells, batch size and epochs on trials, snapshots, reference results,
and the SQL views.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# One row per trial with its cell values and scores. `reported_score` is what tables show: the
# validation score under the paper's protocol, the held-out test score (at the epoch chosen on
# validation) under a holdout protocol; `reported_score_final` the same at the last epoch.
TRIAL_SUMMARY = """
CREATE VIEW trial_summary AS
SELECT t.id AS trial_id, c.sweep_id, s.name AS sweep_name, c.id AS cell_id, c.method, c.task, c.model, c.m,
       c.dropout, c.seed, c.eval_protocol, c.eval_mode, t.number, t.lr, t.weight_decay, t.batch_size, t.epochs,
       t.state, t.objective,
       vp.epoch AS peak_epoch, vp.value AS val_score_peak, vf.value AS val_score_final,
       tp.value AS test_score_peak, tf.value AS test_score_final,
       CASE WHEN c.eval_protocol = 'paper' THEN vp.value ELSE tp.value END AS reported_score,
       CASE WHEN c.eval_protocol = 'paper' THEN vf.value ELSE tf.value END AS reported_score_final,
       t.trainable_parameters, t.started_ms, t.finished_ms,
       (t.finished_ms - t.started_ms) / 1000.0 AS seconds, t.ray_trial_id
FROM trials t
JOIN cells c ON c.id = t.cell_id
JOIN sweeps s ON s.id = c.sweep_id
LEFT JOIN scores vp ON vp.trial_id = t.id AND vp.split = 'val' AND vp.metric = 'score' AND vp.selection = 'peak'
LEFT JOIN scores vf ON vf.trial_id = t.id AND vf.split = 'val' AND vf.metric = 'score' AND vf.selection = 'final'
LEFT JOIN scores tp ON tp.trial_id = t.id AND tp.split = 'test' AND tp.metric = 'score' AND tp.selection = 'peak'
LEFT JOIN scores tf ON tf.trial_id = t.id AND tf.split = 'test' AND tf.metric = 'score' AND tf.selection = 'final'
"""

# The best finished trial per cell by the Optuna objective (ties: the earlier trial). Trials that a
# scheduler stopped early count: their objective is their peak over the epochs they ran.
BEST_TRIALS = """
CREATE VIEW best_trials AS
SELECT * FROM (
  SELECT ts.*, ROW_NUMBER() OVER (PARTITION BY ts.cell_id ORDER BY ts.objective DESC, ts.number) AS rank_in_cell
  FROM trial_summary ts
  WHERE ts.state IN ('complete', 'stopped') AND ts.objective IS NOT NULL
) ranked
WHERE rank_in_cell = 1
"""


def upgrade() -> None:
    with op.batch_alter_table("cells") as batch:
        batch.add_column(sa.Column("eval_protocol", sa.String(30), nullable=False, server_default="paper"))
        batch.add_column(sa.Column("eval_mode", sa.String(20), nullable=False, server_default="generate"))
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("batch_size", sa.Integer))
        batch.add_column(sa.Column("epochs", sa.Integer))
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("shape", sa.String(100), nullable=False),
        sa.Column("dtype", sa.String(20), nullable=False),
        sa.Column("values", sa.Text, nullable=False),
        sa.UniqueConstraint("trial_id", "name", "step"),
    )
    op.create_table(
        "reference_results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("method", sa.String(50), nullable=False),
        sa.Column("dropout", sa.String(10), nullable=False),
        sa.Column("variant", sa.String(200), nullable=False, server_default=""),
        sa.Column("task", sa.String(50), nullable=False),
        sa.Column("metric", sa.String(50), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("source", "model", "method", "dropout", "variant", "task", "metric"),
    )
    op.execute(TRIAL_SUMMARY)
    op.execute(BEST_TRIALS)


def downgrade() -> None:
    op.execute("DROP VIEW best_trials")
    op.execute("DROP VIEW trial_summary")
    op.drop_table("reference_results")
    op.drop_table("snapshots")
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("epochs")
        batch.drop_column("batch_size")
    with op.batch_alter_table("cells") as batch:
        batch.drop_column("eval_mode")
        batch.drop_column("eval_protocol")
