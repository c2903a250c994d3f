"""A real Ray cluster started with `ray start --head` (token authentication on, free ports, its own
temp folder): submit a sweep with `superpos sweep submit`, follow it with `sweep status`, cancel a
second one, resume it, and check the store. Stops only the processes it started."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.ray_cluster import LocalCluster, wait

pytestmark = pytest.mark.slow  # a real `ray start` cluster

SPEC = """
name: {name}
methods: [prompt_tuning]
tasks: [rte]
dropout: [off]
seeds: [0, 1]
optuna: {{trials_per_cell: {trials}}}
training: {{epochs: {epochs}, batch_size: 16, max_train_samples: {train}, max_eval_samples: 16, eval_mode: rank}}
resources: {{cpus_per_trial: 1}}
ray: {{address: auto}}
"""


def _state(db: Path, sweep: int) -> str | None:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT state FROM sweeps WHERE id = ?", (sweep,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


@pytest.fixture(scope="module")
def cluster():
    import requests

    head = LocalCluster(head_cpus=2)
    try:
        wait(lambda: requests.get(f"{head.address}/api/version", timeout=2).status_code in (200, 401), 60,
             "the dashboard")
        yield {"env": head.env, "address": head.address, "temp": head.temp}
    finally:
        head.stop()


def _superpos(cluster, *args, timeout=120, env=None):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, env={**cluster["env"], **(env or {})}, timeout=timeout)


def _job_env(cluster, job_id: str) -> dict:
    """The environment variables a submitted job's runtime env carries, as Ray's Jobs API reports them."""
    ask = ("import json, sys; from ray.job_submission import JobSubmissionClient; print(json.dumps("
           "JobSubmissionClient(sys.argv[1]).get_job_info(sys.argv[2]).runtime_env['env_vars']))")
    out = subprocess.run([sys.executable, "-c", ask, cluster["address"], job_id], capture_output=True, text=True,
                         env=cluster["env"], timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _refused_token(cluster, tmp_path, spec: Path, db: Path) -> None:
    """A shell without the cluster's token (none, or another) is refused before anything is stored, in
    one line that says what to set: Ray's client retried for ~20 s, printing `Unauthenticated` each time."""
    mine = {k: v for k, v in cluster["env"].items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
    mine["HOME"] = str(tmp_path)  # no ~/.ray/auth_token either
    none = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", "run", spec, "--db", db],
                          capture_output=True, text=True, cwd=REPO, env=mine, timeout=120)
    assert none.returncode == 2 and not db.exists(), none.stderr[-3000:]
    assert "requires token authentication and this shell sends no token: set RAY_AUTH_MODE=token" in none.stderr
    assert "Unauthenticated" not in none.stdout + none.stderr
    other = tmp_path / "other-token"
    other.write_text("0" * 64)
    check = "from orchestrator.spec.ray_token import check_cluster_token; check_cluster_token('auto')"
    wrong = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=REPO, timeout=60,
                           env={**mine, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(other)})
    assert "refused this shell's Ray token (not the cluster's token)" in wrong.stderr, wrong.stderr[-3000:]
    right = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=REPO, timeout=60,
                           env=cluster["env"])
    assert right.returncode == 0, right.stderr[-3000:]


def test_submit_follow_cancel_resume_on_a_real_cluster(cluster, tmp_path):
    db = tmp_path / "my results & more" / "r.db"  # the job's shell once split --db at the space and ran `more/r.db`
    db.parent.mkdir()
    url = f"sqlite:///{db}"
    spec = tmp_path / "one.yaml"
    spec.write_text(SPEC.format(name="refused", trials=1, epochs=1, train=8))
    _refused_token(cluster, tmp_path, spec, db)
    spec.write_text(SPEC.format(name="submitted", trials=2, epochs=1, train=32))
    out = _superpos(cluster, "sweep", "submit", spec, "--address", cluster["address"], "--db", url,
                    env={"HF_ENDPOINT": "https://hub.example.org", "HF_TOKEN": "hf_not_sent"})  # a mirror: the job uses it too
    assert out.returncode == 0, out.stderr
    assert "submitted" in out.stdout and "ray job logs --follow superpos-" in out.stdout
    sent = _job_env(cluster, out.stdout.split("ray job logs --follow ")[1].split()[0])
    assert sent["SUPERPOS_DB"] == url and sent["HF_ENDPOINT"] == "https://hub.example.org"
    assert sent["HF_HUB_OFFLINE"] == "1" and "HF_TOKEN" not in sent
    assert "accepts requests without a token" not in out.stderr  # token authentication is on: no warning
    wait(lambda: _state(db, 1) not in (None, "running"), 180, "the submitted sweep")
    status = _superpos(cluster, "sweep", "status", 1, "--db", url)
    assert status.returncode == 0, status.stderr
    assert "complete" in status.stdout and "trials: 3/3 done" in status.stdout and "job superpos-" in status.stdout
    with sqlite3.connect(db) as conn:
        commit, hardware, job_id = conn.execute("SELECT git_commit, hardware, job_id FROM sweeps WHERE id = 1").fetchone()
    if (REPO / ".git").exists():
        assert commit and len(commit) == 40  # captured by the submitting checkout, though Ray uploads no .git
    assert "trials on" in hardware and job_id.startswith("superpos-")

    # a longer sweep: cancel it once it has finished a trial, then resume it from here (attach mode)
    spec.write_text(SPEC.format(name="cancelled", trials=4, epochs=12, train=96))
    out = _superpos(cluster, "sweep", "submit", spec, "--address", cluster["address"], "--db", url)
    assert out.returncode == 0, out.stderr

    def finished_one():
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
                return conn.execute("SELECT COUNT(*) FROM trials t JOIN cells c ON c.id = t.cell_id "
                                    "WHERE c.sweep_id = 2 AND t.state = 'complete'").fetchone()[0] >= 1
        except sqlite3.OperationalError:
            return False

    wait(finished_one, 180, "a finished trial of the second sweep")
    cancel = _superpos(cluster, "sweep", "cancel", 2, "--db", url, timeout=150)
    assert cancel.returncode == 0, (cancel.stdout, cancel.stderr)
    assert "sweep 2 is cancelled" in cancel.stdout
    resume = _superpos(cluster, "sweep", "resume", 2, "--db", url, timeout=300)
    assert resume.returncode == 0, resume.stderr[-3000:]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT state FROM sweeps WHERE id = 2").fetchone()[0] == "complete"
        rows = conn.execute("SELECT t.role, t.lr, t.state FROM trials t JOIN cells c ON c.id = t.cell_id "
                            "WHERE c.sweep_id = 2").fetchall()
    search = [lr for role, lr, _ in rows if role == "search"]
    assert len(rows) == 5 and len(search) == len(set(search)) == 4 and {s for *_, s in rows} == {"complete"}


def test_submit_warns_when_the_jobs_api_answers_without_a_token():
    """An HTTP server on 127.0.0.1 that answers like a Jobs API without authentication (200), and one
    that asks for a token (401)."""
    import http.server
    import threading

    from orchestrator.cli.jobs import auth_warning

    def serve(status: int):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server API
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"[]")

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.handle_request, daemon=True).start()
        return server

    open_server = serve(200)
    warning = auth_warning(f"http://127.0.0.1:{open_server.server_address[1]}")
    assert warning and "without a token" in warning and "RAY_AUTH_MODE=token" in warning
    closed = serve(401)
    assert auth_warning(f"http://127.0.0.1:{closed.server_address[1]}") is None
    for server in (open_server, closed):
        server.server_close()
