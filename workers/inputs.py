"""What a sweep's inputs are, exactly: each model and dataset named by something that cannot move.

- a hub model or dataset: the commit its revision (a branch, tag or commit; default `main`) resolves
  to, from the hub when it can be reached, else from the local Hugging Face cache's refs;
- a local directory (a model folder, a data folder laid out like the hub's): a SHA-256 over its
  files' relative paths and contents;
- the embedded model and the random-weight presets: a SHA-256 of their config and the bundled
  tokenizer; the bundled demo data: a SHA-256 of the task's files.

Torch-free; `huggingface_hub` is imported only for hub ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from workers.data import DEMO_DATA_DIR
from workers.presets import ARCHITECTURES, EMBEDDED_MODELS, EMBEDDED_WEIGHTS, RANDOM_PREFIX, TOKENIZER_DIR
from workers.tasks import TaskSpec

COMMIT = re.compile(r"^[0-9a-f]{40}$")


def content_hash(root: Path) -> str:
    """SHA-256 over every file under `root` (relative path and bytes), in path order."""
    digest = hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(root.parent if root.is_file() else root)).encode() + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _config_hash(config: dict) -> str:
    text = json.dumps(config, sort_keys=True) + content_hash(Path(TOKENIZER_DIR))
    return hashlib.sha256(text.encode()).hexdigest()


def _cached_commit(repo_id: str, repo_type: str, revision: str) -> str | None:
    """The commit a revision points at in the local Hugging Face cache (refs/<revision>)."""
    from huggingface_hub import constants

    folder = Path(constants.HF_HUB_CACHE) / f"{repo_type}s--{repo_id.replace('/', '--')}"
    ref = folder / "refs" / revision
    if ref.is_file():
        return ref.read_text().strip()
    if COMMIT.match(revision) and (folder / "snapshots" / revision).is_dir():
        return revision
    return None


def resolve_commit(repo_id: str, repo_type: str, revision: str | None) -> str | None:
    """The commit of `revision` (default main) of a hub repo; None when neither the hub nor the cache
    knows it."""
    revision = revision or "main"
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or (
        repo_type == "dataset" and os.environ.get("HF_DATASETS_OFFLINE") == "1")
    if not offline:
        try:
            from huggingface_hub import HfApi

            return HfApi().repo_info(repo_id, repo_type=repo_type, revision=revision).sha
        except Exception:  # noqa: BLE001 - no network, no such repo: the cache may still know it
            pass
    return _cached_commit(repo_id, repo_type, revision)


def model_identity(name: str, revision: str | None = None) -> dict:
    if name in EMBEDDED_MODELS:
        weights = {"weights_sha256": EMBEDDED_WEIGHTS[name][1]} if name in EMBEDDED_WEIGHTS else {}
        return {"kind": "embedded", "sha256": _config_hash(EMBEDDED_MODELS[name]), **weights}
    if name.startswith(RANDOM_PREFIX) and name[len(RANDOM_PREFIX):] in ARCHITECTURES:
        return {"kind": "random", "sha256": _config_hash(ARCHITECTURES[name[len(RANDOM_PREFIX):]])}
    if Path(name).expanduser().is_dir():
        return {"kind": "local", "path": str(Path(name).expanduser().resolve()),
                "sha256": content_hash(Path(name).expanduser())}
    return {"kind": "hub", "revision": revision or "main", "commit": resolve_commit(name, "model", revision)}


def dataset_identity(task: TaskSpec, source: str, revision: str | None = None) -> dict:
    if source == "hub":
        return {"kind": "hub", "dataset": task.dataset, "config": task.config, "revision": revision or "main",
                "commit": resolve_commit(task.dataset, "dataset", revision)}
    root = DEMO_DATA_DIR if source == "demo" else Path(source).expanduser().resolve()
    folder = root / task.name
    where = {} if source == "demo" else {"path": str(folder)}
    return {"kind": "demo" if source == "demo" else "local", **where,
            "sha256": content_hash(folder) if folder.exists() else None}
