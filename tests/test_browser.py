"""The dashboard in a real browser: Streamlit served on 127.0.0.1, the tables page opened in headless
Chromium (Debian's `chromium`, installed by .ci/run); the rendered page holds the table's values."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # a real Streamlit server in headless Chromium


def _browser() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium not installed")
    return path


def _chromium(browser: str, *args: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                               f"--user-data-dir={profile}", "--virtual-time-budget=60000", *args],
                              capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_tables_page_renders_the_tables_values_in_chromium(tiny_sweep, tmp_path):
    from db import tables
    from db.engine import open_store

    browser = _browser()
    url, sweep_id, *_ = tiny_sweep
    texts, _ = tables.build(open_store(url, readonly=True), "main", sweep_id)
    expected = [v for v in texts["rte"].tolist() if v]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "dashboard", "--db", url, "--port", str(port)],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        page = f"http://127.0.0.1:{port}/"
        dom = ""
        for attempt in range(5):  # a cold server's first render can come out empty (it imports the app's modules)
            dom = _chromium(browser, "--dump-dom", page).stdout
            if "Comparison table" in dom and all(v.split(" ")[0] in dom for v in expected):
                break
            time.sleep(2 * (attempt + 1))
        assert "Comparison table" in dom and "rte" in dom
        for value in expected:  # every score of the rte column, as the table renders it
            assert value.split(" ")[0] in dom, value
        shot = tmp_path / "tables.png"
        for _ in range(4):  # the same: a new browser session's first paint can be an empty page
            _chromium(browser, "--window-size=1400,1100", f"--screenshot={shot}", page)
            if shot.is_file() and shot.stat().st_size > 20_000:
                break
        assert shot.is_file() and shot.stat().st_size > 20_000  # an empty page is ~8 KB, the table ~100 KB
    finally:  # the server and anything it started
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
