"""Inputs named so they cannot move (workers/inputs.py): content hashes, hub commits from the cache,
and a model loaded at a pinned revision."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from orchestrator.spec import parse_spec
from orchestrator.tune import provenance
from tests.conftest import REPO
from workers.inputs import content_hash, dataset_identity, model_identity, resolve_commit
from workers.tasks import TASKS

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_a_local_folder_is_named_by_its_contents(tmp_path):
    (tmp_path / "rte").mkdir()
    (tmp_path / "rte" / "train.jsonl").write_text('{"label": 0}\n')
    first = dataset_identity(TASKS["rte"], str(tmp_path))
    assert first["kind"] == "local" and first["sha256"] == content_hash(tmp_path / "rte")
    (tmp_path / "rte" / "train.jsonl").write_text('{"label": 1}\n')
    assert dataset_identity(TASKS["rte"], str(tmp_path))["sha256"] != first["sha256"]
    assert model_identity("tiny-t5") == model_identity("tiny-t5") and model_identity("tiny-t5")["kind"] == "embedded"


def _cache(root, repo_type: str, repo_id: str, commit: str) -> None:
    folder = root / f"{repo_type}s--{repo_id.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    (folder / "snapshots" / commit).mkdir(parents=True)


def test_hub_ids_resolve_to_commits_offline_and_the_spec_is_pinned(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _cache(tmp_path, "model", "org/t5", COMMIT)
    _cache(tmp_path, "dataset", "aps/super_glue", "f" * 40)
    assert resolve_commit("org/t5", "model", None) == COMMIT
    assert resolve_commit("org/t5", "model", COMMIT) == COMMIT
    assert resolve_commit("org/t5", "model", "v2") is None and resolve_commit("org/none", "model", None) is None
    spec = parse_spec("methods: [prompt_tuning]\ntasks: [rte]\nmodels: [org/t5, tiny-t5]\n")
    found = provenance.inputs(spec)
    assert found["models"]["org/t5"] == {"kind": "hub", "revision": "main", "commit": COMMIT}
    pinned = provenance.pinned(spec, {**found, "datasets": {"rte": dataset_identity(TASKS["rte"], "hub")}})
    assert pinned.training["revisions"] == {"org/t5": COMMIT, "aps/super_glue": "f" * 40}


def test_a_trial_loads_the_pinned_revision_of_a_hub_model(tmp_path):
    """A tiny T5 saved into a Hugging Face cache as org/tiny at two commits; offline, the pin picks one."""
    script = f"""
import json, os
from pathlib import Path
from workers.models import load_model
root = Path({str(tmp_path)!r}) / "models--org--tiny"
base = load_model("tiny-t5")
for commit, layers in (("{'a' * 40}", 2), ("{'b' * 40}", 1)):
    folder = root / "snapshots" / commit
    base.model.config.num_decoder_layers = layers
    model = type(base.model)(base.model.config)
    model.save_pretrained(folder)
    base.tokenizer.save_pretrained(folder)
(root / "refs").mkdir(parents=True, exist_ok=True)
(root / "refs" / "main").write_text("{'b' * 40}")
print(json.dumps({{rev: len(load_model("org/tiny", revision=rev).model.decoder.block)
                  for rev in ("{'a' * 40}", "main")}}))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"a" * 40: 2, "main": 1}
