"""What a sweep ran on: git commit, package versions, hardware, and its inputs pinned (the models' and
datasets' commits or content hashes), stored with the sweep."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import replace
from importlib import metadata
from pathlib import Path

from workers.inputs import dataset_identity, model_identity
from workers.machine import describe
from workers.tasks import TASKS

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


def collect(inputs: dict | None = None) -> dict:
    commit, dirty = git_state()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": {"python": platform.python_version(), **{p: _version(p) for p in PACKAGES}},
        "hardware": f"driver {describe()}",
        "inputs": inputs or {},
    }


def inputs(spec) -> dict:
    """Every model and dataset the sweep loads, named so that it cannot move (workers/inputs.py): hub
    ids by the commit their revision resolves to, local folders and the bundled ones by a content hash."""
    revisions, source = spec.training.get("revisions", {}), spec.training.get("data", "demo")
    return {"models": {m: model_identity(m, revisions.get(m)) for m in spec.models},
            "datasets": {t: dataset_identity(TASKS[t], source, revisions.get(TASKS[t].dataset)) for t in spec.tasks}}


def pinned(spec, found: dict):
    """The spec with every hub model and dataset pinned to the commit `found` (from `inputs`, or a
    resumed sweep's stored inputs) names, so that each trial loads exactly that."""
    pins = dict(spec.training.get("revisions", {}))
    for name, identity in found.get("models", {}).items():
        if identity.get("kind") == "hub" and identity.get("commit"):
            pins[name] = identity["commit"]
    for identity in found.get("datasets", {}).values():
        if identity.get("kind") == "hub" and identity.get("commit"):
            pins[identity["dataset"]] = identity["commit"]
    return replace(spec, training={**spec.training, "revisions": pins}) if pins else spec
