"""The dashboard in a real browser: Streamlit served on 127.0.0.1, every page opened in headless
Chromium (Debian's `chromium`, installed by .ci/run) and read in real time over the DevTools protocol
(tests/browser.py): each page renders its content, raises nothing, and its screenshot is not blank."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.browser import Browser, served_dashboard
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # a real Streamlit server in headless Chromium

PAGES = {  # url path -> what the page shows once it has rendered (beyond the navigation)
    "": ["Task score (%) per cell"],
    "curves": ["the band from the lowest to the highest seed"],
    "ablation": ["mean over seeds with a band"],
    "search": ["Each point is a search trial"],
    "weights": ["compared between tasks by cosine similarity"],
    "prompts": ["the L2 norm of each of its n tokens"],
    "matters": ["share of the variance"],
    "sweeps": ["Trials of sweep"],
}


def _browser() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium not installed")
    return path


@pytest.fixture
def served(rich_sweep):
    url, sweep_id = rich_sweep
    with served_dashboard(url, cwd=REPO) as base:
        yield url, sweep_id, base


def test_every_page_renders_its_content_in_chromium(served, tmp_path):
    from db import tables
    from db.engine import open_store

    url, sweep_id, base = served
    texts, _ = tables.build(open_store(url, readonly=True), "main", sweep_id)
    values = [v.split(" ")[0] for v in texts["rte"].tolist() if v]
    browser = Browser(_browser())
    try:
        for path, expected in PAGES.items():
            wanted = expected + (values if path == "" else [])
            text, shot = browser.visit(f"{base}/{path}", wanted)
            missing = [s for s in wanted if s not in text]
            assert not missing, (path, missing, text[-1500:])
            assert "Traceback" not in text and "Error:" not in text, (path, text[-3000:])
            (tmp_path / f"{path or 'table'}.png").write_bytes(shot)
            assert len(shot) > 20_000, path  # an empty page is ~8 KB
    finally:
        browser.close()
