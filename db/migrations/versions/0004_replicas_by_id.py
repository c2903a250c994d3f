"""A replica points at its cell's chosen trial by id (trials.replica_of), no longer by an equal
learning rate; what a table reports is one view (reported_trials: each cell's chosen trial and its
finished replicas), and the reported split (validation under the paper's protocol, else the held-out
test) is one view (reported_scores). The `pending` trial state, which no version wrote, is gone. A
sweep records its inputs pinned (sweeps.inputs: each model's and dataset's commit or content hash).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_previous = import_module("db.migrations.versions.0003_grid_options_replicas_states")
TRIAL_STATES = ("running", "complete", "stopped", "failed", "interrupted")
FINISHED = "('complete', 'stopped')"

# Every score of a trial at the split its cell reports: the one place of that rule.
REPORTED_SCORES = """
CREATE VIEW reported_scores AS
SELECT sc.trial_id, sc.selection, sc.metric, sc.epoch, sc.value
FROM scores sc
JOIN trials t ON t.id = sc.trial_id
JOIN cells c ON c.id = t.cell_id
WHERE sc.split = CASE WHEN c.eval_protocol = 'paper' THEN 'val' ELSE 'test' END
"""

TRIAL_SUMMARY = """
CREATE VIEW trial_summary AS
SELECT t.id AS trial_id, c.sweep_id, s.name AS sweep_name, c.id AS cell_id, c.method, c.task, c.model, c.m,
       c.options, c.dropout, t.seed, t.role, t.replica_of, c.eval_protocol, c.eval_mode, c.template, t.number, t.lr,
       t.weight_decay, t.batch_size, t.epochs, t.state, t.objective, t.failures,
       vp.epoch AS peak_epoch, vp.value AS val_score_peak, vf.value AS val_score_final,
       tp.value AS test_score_peak, tf.value AS test_score_final,
       rp.value AS reported_score, rf.value AS reported_score_final,
       t.trainable_parameters, t.started_ms, t.finished_ms,
       (t.finished_ms - t.started_ms) / 1000.0 AS seconds, t.ray_trial_id
FROM trials t
JOIN cells c ON c.id = t.cell_id
JOIN sweeps s ON s.id = c.sweep_id
LEFT JOIN scores vp ON vp.trial_id = t.id AND vp.split = 'val' AND vp.metric = 'score' AND vp.selection = 'peak'
LEFT JOIN scores vf ON vf.trial_id = t.id AND vf.split = 'val' AND vf.metric = 'score' AND vf.selection = 'final'
LEFT JOIN scores tp ON tp.trial_id = t.id AND tp.split = 'test' AND tp.metric = 'score' AND tp.selection = 'peak'
LEFT JOIN scores tf ON tf.trial_id = t.id AND tf.split = 'test' AND tf.metric = 'score' AND tf.selection = 'final'
LEFT JOIN reported_scores rp ON rp.trial_id = t.id AND rp.metric = 'score' AND rp.selection = 'peak'
LEFT JOIN reported_scores rf ON rf.trial_id = t.id AND rf.metric = 'score' AND rf.selection = 'final'
"""

# What a table averages over seeds, per cell: its chosen trial (best_trials) and the finished replicas
# that point at it.
REPORTED_TRIALS = f"""
CREATE VIEW reported_trials AS
SELECT b.cell_id, b.trial_id AS chosen_trial_id, r.trial_id, r.role, r.seed
FROM best_trials b
JOIN trial_summary r ON r.cell_id = b.cell_id AND r.state IN {FINISHED}
     AND (r.trial_id = b.trial_id OR (r.role = 'replica' AND r.replica_of = b.trial_id))
"""

CELL_RESULTS = f"""
CREATE VIEW cell_results AS
SELECT b.sweep_id, b.sweep_name, b.cell_id, b.method, b.task, b.model, b.m, b.options, b.dropout,
       b.eval_protocol, b.eval_mode, b.template, b.trial_id AS chosen_trial_id, b.lr, b.objective,
       COUNT(r.reported_score) AS n_seeds,
       AVG(r.reported_score) AS score_mean, {_previous._std('r.reported_score')} AS score_std,
       AVG(r.reported_score_final) AS score_final_mean, {_previous._std('r.reported_score_final')} AS score_final_std
FROM best_trials b
JOIN reported_trials rt ON rt.chosen_trial_id = b.trial_id
JOIN trial_summary r ON r.trial_id = rt.trial_id
GROUP BY b.sweep_id, b.sweep_name, b.cell_id, b.method, b.task, b.model, b.m, b.options, b.dropout,
         b.eval_protocol, b.eval_mode, b.template, b.trial_id, b.lr, b.objective
"""

VIEWS = ("cell_results", "reported_trials", "best_trials", "trial_summary", "reported_scores")


def _drop_views() -> None:
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")


def upgrade() -> None:
    _drop_views()  # SQLite cannot recreate a table that a view reads
    op.execute("UPDATE trials SET state = 'interrupted' WHERE state = 'pending'")
    with op.batch_alter_table("sweeps") as batch:
        batch.add_column(sa.Column("inputs", sa.Text))
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("replica_of", sa.Integer, sa.ForeignKey("trials.id", name="fk_trial_replica_of", ondelete="SET NULL")))
        batch.drop_constraint("ck_trial_state", type_="check")
        batch.create_check_constraint("ck_trial_state", _previous._one_of("state", TRIAL_STATES))
    # replicas of earlier versions: the cell's chosen trial, found by the old rule (its learning rate)
    op.execute(_previous.TRIAL_SUMMARY)
    op.execute(_previous.BEST_TRIALS)
    op.execute("UPDATE trials SET replica_of = (SELECT b.trial_id FROM best_trials b WHERE b.cell_id = trials.cell_id "
               "AND b.lr = trials.lr) WHERE role = 'replica'")
    op.execute("DROP VIEW best_trials")
    op.execute("DROP VIEW trial_summary")
    op.execute(REPORTED_SCORES)
    op.execute(TRIAL_SUMMARY)
    op.execute(_previous.BEST_TRIALS)
    op.execute(REPORTED_TRIALS)
    op.execute(CELL_RESULTS)


def downgrade() -> None:
    _drop_views()
    with op.batch_alter_table("trials") as batch:
        batch.drop_constraint("ck_trial_state", type_="check")
        batch.create_check_constraint("ck_trial_state", _previous._one_of("state", ("pending", *TRIAL_STATES)))
        batch.drop_constraint("fk_trial_replica_of", type_="foreignkey")
        batch.drop_column("replica_of")
    with op.batch_alter_table("sweeps") as batch:
        batch.drop_column("inputs")
    op.execute(_previous.TRIAL_SUMMARY)
    op.execute(_previous.BEST_TRIALS)
    op.execute(_previous.CELL_RESULTS)
