"""A node lost mid-sweep on a real Ray cluster (a head without CPUs for trials and a node joined with
`ray start --address`, token authentication on; the node's raylet and workers killed with SIGKILL,
then a replacement node joins): the lost trials fail in words a user acts on, live and in `sweep
status --errors`; the advice is a resume that will do something (`--retry-failed`), and it does;
every node is recorded."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.ray_cluster import LocalCluster
from tests.sweep_cli import count, wait_while_running

pytestmark = pytest.mark.slow

SPEC = """
name: lost-node
methods: [prompt_tuning]
tasks: [rte]
dropout: [off]
optuna: {trials_per_cell: 3}
training: {epochs: 12, batch_size: 8, max_train_samples: 192, max_eval_samples: 16, eval_mode: rank}
resources: {cpus_per_trial: 1, retries: 0}
ray: {address: auto, storage_path: STORAGE}
"""
RUNNING = ("SELECT COUNT(*) FROM trials t WHERE t.state = 'running' AND "
           "EXISTS (SELECT 1 FROM metrics m WHERE m.trial_id = t.id)")


def _cli(cluster, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, env=cluster.env, timeout=timeout)


def test_a_lost_node_is_named_and_its_trials_run_again_with_retry_failed(tmp_path):
    cluster = LocalCluster(head_cpus=0, fast_health_checks=True)  # trials run on the joined nodes only
    try:
        node = cluster.add_node(cpus=2)
        spec, db = tmp_path / "spec.yaml", tmp_path / "r.db"
        spec.write_text(SPEC.replace("STORAGE", str(tmp_path / "ray")))
        cluster.token.chmod(0o644)  # as `ray get-auth-token --generate` writes it
        proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "sweep", "run", spec, "--db", db],
                                cwd=REPO, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # two trials on the node; the third waits for a CPU
        wait_while_running(proc, lambda: count(str(db), RUNNING) >= 2, timeout=240)
        assert cluster.kill_node(node) > 0
        cluster.add_node(cpus=2)  # a replacement: the waiting trial runs there, and the re-runs later
        out, err = proc.communicate(timeout=240)
        cluster.token.chmod(0o600)
        assert proc.returncode == 0, (out[-3000:], err[-3000:])  # partial: the third trial finished

        assert f"chmod 600 {cluster.token}" in err  # the token file was readable by others
        lost = [line for line in out.splitlines() if "FAILED" in line]
        assert len(lost) == 2 and all("NodeLostError: the node that ran this trial was lost" in line for line in lost), out
        assert "rpc_code" not in out
        assert "Raylet is terminated" not in out + err and "state-dump" not in out + err, err[-3000:]
        raylet = [line for line in (out + err).splitlines() if "(raylet)" in line]
        assert len(raylet) <= 1 and all("node id" in line for line in raylet), raylet  # Ray's line naming the node
        advice = [line for line in out.splitlines() if "resume" in line]
        assert advice and all("--retry-failed" in line for line in advice), advice  # a plain resume would do nothing
        with sqlite3.connect(db) as conn:
            state, hardware = conn.execute("SELECT state, hardware FROM sweeps").fetchone()
            errors = [e for (e,) in conn.execute("SELECT error FROM trials WHERE state = 'failed'")]
        assert state == "partial" and len(errors) == 2
        assert all(e.strip().splitlines()[-1].startswith("NodeLostError: the node that ran this trial was lost")
                   for e in errors), errors
        assert hardware.count("Ray node ") == 2, hardware  # the lost node and its replacement: one host, two nodes

        status = _cli(cluster, "sweep", "status", 1, "--db", db, "--errors")
        assert status.returncode == 0 and status.stdout.count("NodeLostError") == 2, status.stdout[-3000:]

        plain = _cli(cluster, "sweep", "resume", 1, "--db", db)  # out of retries: nothing runs, and it says how
        assert "nothing to run" in plain.stdout and "--retry-failed" in plain.stdout, plain.stdout[-2000:]
        again = _cli(cluster, "sweep", "resume", 1, "--db", db, "--retry-failed")
        assert again.returncode == 0, (again.stdout[-3000:], again.stderr[-3000:])
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT state FROM sweeps").fetchone()[0] == "complete"
            rows = conn.execute("SELECT state, failures, error FROM trials ORDER BY id").fetchall()
        assert [r[0] for r in rows] == ["complete"] * 3
        recovered = [r for r in rows if r[1]]
        assert len(recovered) == 2 and all("NodeLostError" in r[2] for r in recovered)  # the cause is kept
    finally:
        cluster.stop()
