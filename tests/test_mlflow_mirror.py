"""An MLflow tracking server that fails during a sweep (here one that answers every request with 503,
as a proxy does whose MLflow behind it is down): the mirror stops with one warning, said again at the
end, and the sweep goes on into the store. MLflow's client retried each request for about 4 minutes
while the sweep's loop waited, then the error stopped the sweep."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.sweep_cli import count, run_spec

pytestmark = pytest.mark.slow  # a real Ray sweep


class Unavailable(BaseHTTPRequestHandler):
    seen: list[str]  # the requests it answered; a fresh list per server (the test sets it)

    def _answer(self):
        self.seen.append(f"{self.command} {self.path}")
        body = b"<html><body><h1>503 Service Unavailable</h1>No server is available.</body></html>"
        self.send_response(503)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, *args):
        pass


def test_a_failing_mlflow_server_stops_the_mirror_not_the_sweep(tmp_path):
    Unavailable.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_port}"
    try:
        out, db = run_spec(tmp_path, f"""
            methods: [prompt_tuning]
            tasks: [rte]
            dropout: [off]
            optuna: {{{{trials_per_cell: 2}}}}
            training: {{{{epochs: 2, batch_size: 8, max_train_samples: 16, max_eval_samples: 16, eval_mode: rank}}}}
            tracking: {{{{mlflow: {{{{tracking_uri: '{uri}'}}}}}}}}
            ray: {{{{num_cpus: 1, storage_path: {{storage}}}}}}
        """)
    finally:
        server.shutdown()
    warnings = [line for line in out.stdout.splitlines() if line.startswith("WARNING: the MLflow mirror")]
    assert len(warnings) == 2 and warnings[0] == warnings[-1], out.stdout[-3000:]  # when it failed, and at the end
    assert f"({uri}) failed and stopped: " in warnings[0] and "503" in warnings[0], warnings[0]
    assert "the sweep goes on" in warnings[0] and "0 trial(s) were mirrored" in warnings[0]
    assert "Traceback" not in out.stdout + out.stderr, out.stderr[-3000:]
    # the check that it answers at all, then the first request and MLflow's retries, shortened from 7 to 2
    # (tracking.HTTP_RETRIES); nothing after
    probe, *seen = Unavailable.seen
    assert probe == "GET /health" and len(seen) == 3 and len(set(seen)) == 1, Unavailable.seen
    assert count(str(db), "SELECT COUNT(*) FROM sweeps WHERE state = 'complete'") == 1
    assert count(str(db), "SELECT COUNT(*) FROM metrics WHERE key = 'val/score'") == 4  # 2 trials x 2 epochs


def test_a_server_that_takes_connections_and_never_answers_is_named_before_the_sweep(monkeypatch):
    """It passed the connection check, then held the sweep's driver for 93 s before the mirror gave up."""
    import socket

    from orchestrator.tune import tracking

    monkeypatch.setattr(tracking, "MLFLOW_ANSWER_S", 1.0)  # 10 s as shipped
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        assert tracking.check_mlflow(uri) == (f"spec.tracking.mlflow.tracking_uri: cannot reach {uri} (no answer "
                                              "within 1 s); start the MLflow server (mlflow server) or fix the URI, "
                                              "or remove the tracking section")
