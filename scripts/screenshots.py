"""Retake the README's dashboard screenshots from a store (after `make demo`: ./superpos.db).

    python -m scripts.screenshots [--db sqlite:///superpos.db] [--out docs]

Serves the dashboard on a free local port and opens the comparison page and the learning curves
in headless Chromium (tests/browser.py), waiting until each has rendered.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.browser import Browser

SHOTS = {"dashboard-tables.png": ("", ["Task score (%) per cell"]),
         "dashboard-curves.png": ("curves", ["the band from the lowest to the highest seed"])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite:///superpos.db")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        sys.exit("chromium is needed (apt-get install chromium)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "dashboard", "--db", args.db, "--port",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    browser = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        browser = Browser(binary)
        for name, (path, until) in SHOTS.items():
            _, png = browser.visit(f"http://127.0.0.1:{port}/{path}", until)
            (args.out / name).write_bytes(png)
            print(f"wrote {args.out / name}")
    finally:
        if browser is not None:
            browser.close()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


if __name__ == "__main__":
    main()
