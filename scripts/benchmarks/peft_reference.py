"""HF PEFT's prompt tuning restricted to the encoder, set up to match `prompt_tuning` exactly, so the
two can be compared step for step (tests/test_peft_parity.py) and timed side by side (benchmarks)."""

from __future__ import annotations

import torch

from workers.assembly import Assembled, assemble
from workers.methods import get_method_config
from workers.models import load_model, set_dropout


def ours_and_peft(model_name: str = "tiny-t5", n_tokens: int = 10, lr: float = 0.01, weight_decay: float = 0.01,
                  device: str = "cpu", dtype: torch.dtype = torch.float32):
    """(ours, ours' optimizer, peft model, peft's optimizer), starting from the same prompt."""
    from peft import PromptTuningConfig, TaskType, get_peft_model

    cfg = get_method_config("prompt_tuning", {"n_tokens": n_tokens, "lr": lr, "weight_decay": weight_decay})
    ours: Assembled = assemble(model_name, cfg, dropout=False)
    ours.model.to(device=device, dtype=dtype)
    base = load_model(model_name).model
    set_dropout(base, False)
    peft_cfg = PromptTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=n_tokens,
                                  num_transformer_submodules=1)
    peft_model = get_peft_model(base, peft_cfg).to(device=device, dtype=dtype)
    embedding = peft_model.prompt_encoder["default"].embedding
    with torch.no_grad():
        embedding.weight.copy_(ours.model.method.prompt)
    opt_ours = torch.optim.AdamW(ours.param_groups, lr=lr)
    opt_peft = torch.optim.AdamW([{"params": [embedding.weight], "weight_decay": weight_decay}], lr=lr)
    return ours.model, opt_ours, peft_model, opt_peft


def train_step(model, optimizer, batch: dict) -> float:
    loss = model(**batch) if not hasattr(model, "peft_config") else model(**batch).loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()
