"""Headless Chromium driven over the DevTools protocol (the `websockets` client, which Streamlit
already installs): open a page, wait in real time until its text holds what a test expects, read the
text and take a screenshot. `--dump-dom` cannot do this for Streamlit: under virtual time a page
whose content arrives over a websocket is dumped before it has rendered."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from websockets.sync.client import connect

# what Streamlit shows while a page is not done: the "running" icon while its script runs, and a
# skeleton for each element whose frontend has not drawn yet (a loaded machine showed the comparison
# page's text with its radio buttons and chart still skeletons, and a screenshot of that), and the spinner
# a cached query shows while it runs (seen on a screenshot whose `until` was text of the sidebar)
BUSY = '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stSkeleton"], [data-testid="stSpinner"]'


@contextlib.contextmanager
def served_dashboard(url: str, cwd=None):
    """`superpos dashboard --db URL` on a free local port until the block ends; yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "dashboard", "--db", url, "--port", str(port)],
                              cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:  # the server and anything it started
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


class Browser:
    def __init__(self, binary: str, width: int = 1400, height: int = 1100):
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "--remote-debugging-port=0",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.port = self._devtools_port()
        self.ids = itertools.count(1)

    def _devtools_port(self) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if found:
                return int(found.group(1))
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError("chromium did not start its DevTools server")

    def _page_socket(self) -> str:
        pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10).read())
        return next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")

    def visit(self, url: str, until: list[str], timeout: float = 90) -> tuple[str, bytes]:
        """Open `url`; wait until the page's text contains every string of `until` and nothing is still
        running or drawing (or `timeout`); return (the page's text, a PNG screenshot)."""
        with connect(self._page_socket(), max_size=64 * 1024 * 1024, open_timeout=30) as conn:

            def call(method: str, **params):
                ident = next(self.ids)
                conn.send(json.dumps({"id": ident, "method": method, "params": params}))
                while True:
                    message = json.loads(conn.recv(timeout=60))
                    if message.get("id") == ident:
                        return message.get("result", {})

            def page_text() -> str:
                found = call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''")
                return found.get("result", {}).get("value", "") or ""

            def settled() -> bool:  # the script has finished and every element is drawn
                found = call("Runtime.evaluate", expression=f"!document.querySelector('{BUSY}')")
                return found.get("result", {}).get("value") is True

            call("Page.navigate", url=url)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not (all(s in page_text() for s in until) and settled()):
                time.sleep(0.5)
            time.sleep(1.0)  # let charts finish drawing
            text = page_text()
            shot = call("Page.captureScreenshot", format="png")
        return text, base64.b64decode(shot.get("data", ""))

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

