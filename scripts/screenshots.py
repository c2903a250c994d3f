"""Retake the README's dashboard screenshots from a store (after `make demo`: ./superpos.db).

    python -m scripts.screenshots [--db sqlite:///superpos.db] [--out docs]

Serves the dashboard on a free local port and opens the comparison page and the learning curves
in headless Chromium (tests/browser.py), waiting until each has rendered.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from scripts import first_paragraph
from tests.browser import Browser, served_dashboard

SHOTS = {"dashboard-tables.png": ("", ["Task score (%) per cell"]),
         "dashboard-curves.png": ("curves", ["the band from the lowest to the highest seed"])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.screenshots", description=first_paragraph(__doc__))
    parser.add_argument("--db", default="sqlite:///superpos.db")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        sys.exit("chromium is needed (apt-get install chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    with served_dashboard(args.db) as base:
        browser = Browser(binary)
        try:
            for name, (path, until) in SHOTS.items():
                _, png = browser.visit(f"{base}/{path}", until)
                (args.out / name).write_bytes(png)
                print(f"wrote {args.out / name}")
        finally:
            browser.close()


if __name__ == "__main__":
    main()
