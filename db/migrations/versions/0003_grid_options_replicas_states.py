"""Method options as grid dimensions (cells.options), the task formats (cells.template), what a run
set out to do and where it runs (sweeps.planned_trials, driver, job_id, job_address), seeds as replicas (trials.role, trials.seed),
failure budget and checkpoints (trials.failures, trials.checkpoint), CHECK constraints on the states,
the duplicate metrics index dropped, and the views: trial_summary and best_trials carry the new
columns, cell_results gives each cell's mean, std and n over seeds.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TRIAL_STATES = ("pending", "running", "complete", "stopped", "failed", "interrupted")
SWEEP_STATES = ("running", "complete", "partial", "failed", "interrupted", "cancelled")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


TRIAL_SUMMARY = """
CREATE VIEW trial_summary AS
SELECT t.id AS trial_id, c.sweep_id, s.name AS sweep_name, c.id AS cell_id, c.method, c.task, c.model, c.m,
       c.options, c.dropout, t.seed, t.role, c.eval_protocol, c.eval_mode, c.template, t.number, t.lr, t.weight_decay,
       t.batch_size, t.epochs, t.state, t.objective, t.failures,
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

# The chosen trial per cell: its best finished search trial by the Optuna objective (ties: the earlier).
# Trials that early stopping ended count: their objective is their peak over the epochs they ran.
BEST_TRIALS = """
CREATE VIEW best_trials AS
SELECT * FROM (
  SELECT ts.*, ROW_NUMBER() OVER (PARTITION BY ts.cell_id ORDER BY ts.objective DESC, ts.number) AS rank_in_cell
  FROM trial_summary ts
  WHERE ts.role = 'search' AND ts.state IN ('complete', 'stopped') AND ts.objective IS NOT NULL
) ranked
WHERE rank_in_cell = 1
"""


def _std(column: str) -> str:
    """Sample standard deviation (n - 1) in plain SQL that SQLite and PostgreSQL both run."""
    n, total, squares = f"COUNT({column})", f"SUM({column})", f"SUM({column} * {column})"
    var = f"({squares} - {total} * {total} / {n}) / ({n} - 1)"
    return f"CASE WHEN {n} > 1 THEN sqrt(CASE WHEN {var} < 0 THEN 0 ELSE {var} END) END"


# What a table reports per cell: the chosen trial and the finished replicas of its learning rate
# (other seeds), as mean, sample standard deviation and n.
CELL_RESULTS = f"""
CREATE VIEW cell_results AS
SELECT b.sweep_id, b.sweep_name, b.cell_id, b.method, b.task, b.model, b.m, b.options, b.dropout,
       b.eval_protocol, b.eval_mode, b.template, b.trial_id AS chosen_trial_id, b.lr, b.objective,
       COUNT(r.reported_score) AS n_seeds,
       AVG(r.reported_score) AS score_mean, {_std('r.reported_score')} AS score_std,
       AVG(r.reported_score_final) AS score_final_mean, {_std('r.reported_score_final')} AS score_final_std
FROM best_trials b
JOIN trial_summary r ON r.cell_id = b.cell_id AND r.state IN ('complete', 'stopped')
     AND (r.trial_id = b.trial_id OR (r.role = 'replica' AND r.lr = b.lr))
GROUP BY b.sweep_id, b.sweep_name, b.cell_id, b.method, b.task, b.model, b.m, b.options, b.dropout,
         b.eval_protocol, b.eval_mode, b.template, b.trial_id, b.lr, b.objective
"""


def _drop_views() -> None:
    for view in ("cell_results", "best_trials", "trial_summary"):
        op.execute(f"DROP VIEW IF EXISTS {view}")


def upgrade() -> None:
    _drop_views()  # SQLite cannot recreate a table that a view reads
    op.drop_index("ix_metric_trial_key_step", table_name="metrics")
    with op.batch_alter_table("cells") as batch:
        batch.add_column(sa.Column("options", sa.Text, nullable=False, server_default="{}"))
        # cells of earlier versions used what is now the `keyvalue` template set
        batch.add_column(sa.Column("template", sa.String(30), nullable=False, server_default="keyvalue"))
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("role", sa.String(10), nullable=False, server_default="search"))
        batch.add_column(sa.Column("seed", sa.Integer))
        batch.add_column(sa.Column("failures", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("checkpoint", sa.Text))
        batch.create_check_constraint("ck_trial_state", _one_of("state", TRIAL_STATES))
        batch.create_check_constraint("ck_trial_role", "role IN ('search', 'replica')")
    with op.batch_alter_table("sweeps") as batch:
        batch.create_check_constraint("ck_sweep_state", _one_of("state", SWEEP_STATES))
        batch.alter_column("hardware", type_=sa.Text, existing_type=sa.String(200))
        batch.add_column(sa.Column("planned_trials", sa.Integer))
        batch.add_column(sa.Column("driver", sa.String(200)))
        batch.add_column(sa.Column("job_id", sa.String(100)))
        batch.add_column(sa.Column("job_address", sa.String(300)))
    # rows of earlier versions: the cell's seed was the trial's, m was the only option
    op.execute("UPDATE trials SET seed = (SELECT seed FROM cells WHERE cells.id = trials.cell_id)")
    op.execute("UPDATE cells SET options = '{\"m\": ' || CAST(m AS VARCHAR(20)) || '}' WHERE m IS NOT NULL")
    with op.batch_alter_table("cells") as batch:  # new cells: the reference's formats
        batch.alter_column("template", server_default="reference")
    op.execute(TRIAL_SUMMARY)
    op.execute(BEST_TRIALS)
    op.execute(CELL_RESULTS)


def downgrade() -> None:
    _drop_views()
    with op.batch_alter_table("sweeps") as batch:
        batch.drop_constraint("ck_sweep_state", type_="check")
        for column in ("job_address", "job_id", "driver", "planned_trials"):
            batch.drop_column(column)
        batch.alter_column("hardware", type_=sa.String(200), existing_type=sa.Text)
    with op.batch_alter_table("trials") as batch:
        batch.drop_constraint("ck_trial_role", type_="check")
        batch.drop_constraint("ck_trial_state", type_="check")
        for column in ("checkpoint", "failures", "seed", "role"):
            batch.drop_column(column)
    with op.batch_alter_table("cells") as batch:
        batch.drop_column("template")
        batch.drop_column("options")
    op.create_index("ix_metric_trial_key_step", "metrics", ["trial_id", "key", "step"])
    from importlib import import_module

    previous = import_module("db.migrations.versions.0002_protocols_snapshots_reference_views")
    op.execute(previous.TRIAL_SUMMARY)
    op.execute(previous.BEST_TRIALS)
