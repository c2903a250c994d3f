"""`prompt_tuning` against a peer: HF PEFT's prompt tuning restricted to the encoder gives the same loss
trajectory from the same initial prompt, batches and optimizer."""

from __future__ import annotations

import pytest
import torch

from scripts.benchmarks.peft_reference import ours_and_peft, train_step
from workers.batching import batches, encode
from workers.data import load_examples
from workers.tasks import get_task

pytest.importorskip("peft")


def test_same_loss_trajectory_as_peft_prompt_tuning():
    torch.manual_seed(0)
    ours, opt_ours, peft_model, opt_peft = ours_and_peft(n_tokens=6, lr=0.05)
    task = get_task("sst2")
    from workers.models import embedded_tokenizer

    tokenizer = embedded_tokenizer()
    data = encode(tokenizer, load_examples(task, "train", max_samples=64), 64, task.target_max_tokens)
    losses_ours, losses_peft = [], []
    for _ in range(2):
        for _, batch in batches(data, 16, tokenizer.pad_token_id, shuffle_seed=1):
            losses_ours.append(train_step(ours, opt_ours, batch))
            losses_peft.append(train_step(peft_model, opt_peft, batch))
    assert len(losses_ours) == 8
    assert losses_ours[-1] < losses_ours[0]  # it learns
    assert losses_ours == pytest.approx(losses_peft, rel=1e-5)
