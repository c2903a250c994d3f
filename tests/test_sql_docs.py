"""Every SQL query in the README runs through the `sqlite3` command-line client against a database
made by a real (tiny) sweep, and returns rows."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from db.engine import sqlite_path
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # a real sweep queried by sqlite3

QUERIES = re.findall(r"```sql\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)


@pytest.fixture(scope="module")
def sqlite3_cli():
    path = shutil.which("sqlite3")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("the sqlite3 command-line client is required in CI (apt-get install sqlite3)")
        pytest.skip("sqlite3 command-line client not installed")
    return path


def test_readme_has_queries():
    assert len(QUERIES) >= 3


@pytest.mark.parametrize("query", QUERIES, ids=[f"query{i}" for i in range(len(QUERIES))])
def test_documented_query_runs_and_returns_rows(query, tiny_sweep, sqlite3_cli):
    url, *_ = tiny_sweep
    out = subprocess.run([sqlite3_cli, "-bail", "-readonly", "-header", str(sqlite_path(url)), query],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) >= 2, f"no rows from:\n{query}"
