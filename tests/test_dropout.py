"""Dropout off means no dropout anywhere in the frozen model, even in train mode."""

from __future__ import annotations

import torch

from workers.models import load_model, set_dropout


def _two_train_mode_passes(model):
    model.train()
    ids = torch.tensor([[5, 9, 13, 21, 1]])
    dec = torch.tensor([[0, 7, 8]])
    with torch.no_grad():
        return [model(input_ids=ids, decoder_input_ids=dec).logits for _ in range(2)]


def test_dropout_off_is_deterministic_in_train_mode():
    model = load_model("tiny-t5").model
    set_dropout(model, False)
    a, b = _two_train_mode_passes(model)
    assert torch.equal(a, b)
    assert all(m.p == 0 for m in model.modules() if isinstance(m, torch.nn.Dropout))


def test_dropout_on_keeps_the_models_rate():
    model = load_model("tiny-t5").model
    set_dropout(model, False)
    set_dropout(model, True)
    a, b = _two_train_mode_passes(model)
    assert not torch.equal(a, b)
    rates = {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}
    assert rates == {model.config.dropout_rate}
