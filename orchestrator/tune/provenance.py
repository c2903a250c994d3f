"""What a sweep ran on: git commit, package versions, hardware (stored with the sweep)."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from workers.machine import describe

PACKAGES = ("torch", "transformers", "datasets", "ray", "optuna", "sqlalchemy", "superpos")
REPO = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout this code runs from. A job on a Ray cluster runs from an
    upload without `.git`: `superpos sweep submit` captures them first and passes them on
    (SUPERPOS_GIT_COMMIT, SUPERPOS_GIT_DIRTY)."""
    if os.environ.get("SUPERPOS_GIT_COMMIT"):
        return os.environ["SUPERPOS_GIT_COMMIT"], os.environ.get("SUPERPOS_GIT_DIRTY") == "1"
    status = _git("status", "--porcelain", "--untracked-files=no")
    return _git("rev-parse", "HEAD"), None if status is None else bool(status)


def collect() -> dict:
    commit, dirty = git_state()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": {"python": platform.python_version(), **{p: _version(p) for p in PACKAGES}},
        "hardware": f"driver {describe()}",
    }
