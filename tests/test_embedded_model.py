"""The embedded model that has learned something: tiny-t5-lm-adapt (scripts/pretrain_tiny_t5.py)."""

from __future__ import annotations

import hashlib
import random
import shutil

import pytest
import torch

from scripts import pretrain_tiny_t5 as pretrain
from workers import presets
from workers.data import load_rows
from workers.inputs import model_identity
from workers.models import load_model
from workers.tasks import TASKS, get_task
from workers.trial import TrialConfig, run_trial

NAME = "tiny-t5-lm-adapt"


def test_its_weights_are_the_pinned_file_and_not_the_random_init():
    learned, random_init = load_model(NAME).model, load_model(NAME, random_weights=True).model
    path, digest = presets.EMBEDDED_WEIGHTS[NAME]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert path.stat().st_size < 1_000_000  # small enough to live in the repo
    from safetensors.torch import load_file

    stored = load_file(str(path))
    assert torch.equal(learned.shared.weight, stored["shared.weight"].float())
    assert torch.equal(learned.lm_head.weight, stored["lm_head.weight"].float())
    assert learned.encoder.embed_tokens.weight is learned.shared.weight  # tied as T5 ties them
    assert not torch.allclose(learned.shared.weight, random_init.shared.weight)
    assert model_identity(NAME)["weights_sha256"] == digest  # a sweep's inputs pin the weights too
    assert "weights_sha256" not in model_identity("tiny-t5")


def test_a_changed_or_missing_weights_file_is_refused_with_the_fix(tmp_path, monkeypatch):
    path, digest = presets.EMBEDDED_WEIGHTS[NAME]
    bad = tmp_path / "w.safetensors"
    shutil.copy(path, bad)
    bad.write_bytes(bad.read_bytes()[:-1] + b" ")
    monkeypatch.setitem(presets.EMBEDDED_WEIGHTS, NAME, (bad, digest))
    with pytest.raises(ValueError, match="sha256.*scripts.pretrain_tiny_t5"):
        load_model(NAME)
    monkeypatch.setitem(presets.EMBEDDED_WEIGHTS, NAME, (tmp_path / "gone.safetensors", digest))
    with pytest.raises(FileNotFoundError, match="scripts.pretrain_tiny_t5"):
        load_model(NAME)
    assert load_model(NAME, device="meta").model.shared.weight.is_meta  # counting needs no file


def test_the_pretraining_script_is_deterministic_and_its_loss_falls(tmp_path):
    losses = []
    digests = [pretrain.save(pretrain.pretrain(30, 30, batch_size=8, log=lambda line: losses.append(line)),
                             tmp_path / f"{k}.safetensors") for k in range(2)]
    assert digests[0] == digests[1]
    first, last = (float(line.split("loss ")[1].split()[0]) for line in (losses[0], losses[1]))
    assert last < 0.9 * first


def test_the_corpus_holds_no_demo_example_and_no_task_format():
    rng = random.Random(0)
    text = " ".join([pretrain.document(rng) for _ in range(2000)] + [" ".join(pretrain.instruction(rng))
                                                                     for _ in range(2000)])
    names = {get_task(t).input_name(i) for t in TASKS for i in range(len(get_task(t).input_fields))}
    assert not [n for n in names if f"{n}: " in text]  # no task's "field: value" input
    task = get_task("sst2")
    sentences = {row["sentence"] for split in ("train", "validation") for row in load_rows(task, split)}
    assert not any(s + "." in text or s + " " in text for s in sentences)


def test_prompt_tuning_learns_on_it_and_not_on_the_random_tiny_t5():
    """The point of the model: a frozen tiny-t5-lm-adapt can be prompted; the random one cannot."""
    def score(model):
        cfg = TrialConfig(method="prompt_tuning", task="sst2", model=model, dropout=False, lr=0.3, epochs=8,
                          device="cpu")
        reports = []
        run_trial(cfg, report=reports.append)
        return max(r["val/score"] for r in reports)

    learned, random_init = score(NAME), score("tiny-t5")
    assert learned >= 0.75, learned
    assert learned > random_init + 0.15, (learned, random_init)
