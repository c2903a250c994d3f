"""A stand-in Hugging Face hub on 127.0.0.1 for the tests of what superpos does when the hub is closed,
silent, or answers without what a trial needs, and the environment that points a process at it.

huggingface_hub and datasets build their URLs from HF_ENDPOINT when they are imported, so a test
patching the endpoint in its own process sends the loads to huggingface.co instead: the checks run in
a child process whose environment names the fake hub (`hub_env`), and the hub logs the paths it was
asked for, so a test can show that the loads reached it."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time

from tests.conftest import REPO


def hub_env(url: str) -> dict:
    """This process's environment, online, with the hub at `url`."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    return {**env, "HF_ENDPOINT": url}


def run_python(code: str, url: str, timeout: float = 120) -> object:
    """`code` run in a child Python whose hub is `url`; the JSON its last printed line holds."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env=hub_env(url), timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def closed_port():
    """A port nothing listens on: a connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def silent_hub():
    """A port that takes connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


@contextlib.contextmanager
def answering_hub(stall_files_s: float = 0.0):
    """A hub that answers every request with 404 (its API at once; a file after `stall_files_s`);
    yields (url, the paths asked for)."""
    asked: list[str] = []

    class Hub(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            if not self.path.startswith("/api/"):
                time.sleep(stall_files_s)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
