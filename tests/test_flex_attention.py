"""T5 through FlexAttention (workers/flex_attention.py) equals SDPA at batch > 1 with padding: the loss
and greedy generation, on the tiny model in fp32 on CPU (FlexAttention has no backward on a CPU: the
prompt gradient's parity is measured on a GPU, scripts/benchmarks/flex_attention.py)."""

from __future__ import annotations

import pytest
import torch

from workers.assembly import assemble
from workers.flex_attention import use_flex
from workers.methods import get_method_config


def _batch():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 200, (4, 24), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, 15:], mask[2, 6:], mask[3, 1:] = 0, 0, 0  # padding of every length, one row of a single token
    labels = torch.randint(5, 200, (4, 3), generator=gen)
    labels[2, 2] = -100
    return ids, mask, labels


def test_flex_attention_matches_sdpa_in_loss_and_generation():
    torch.manual_seed(0)
    net = assemble("tiny-t5-lm-adapt", get_method_config("superpos_prompt", {"m": 16}), dropout=False).model
    ids, mask, labels = _batch()
    with torch.no_grad():
        loss = net(ids, mask, labels)
        logits = net.t5(input_ids=ids, attention_mask=mask, labels=labels).logits
        net.eval()
        generated = net.generate(ids, mask, max_new_tokens=5)
    net.train()
    use_flex(net.t5)
    assert net.t5.config._attn_implementation == "t5_flex"
    with torch.no_grad():
        assert net(ids, mask, labels).item() == pytest.approx(loss.item(), abs=1e-5)
        flex_logits = net.t5(input_ids=ids, attention_mask=mask, labels=labels).logits
    torch.testing.assert_close(flex_logits, logits, rtol=1e-4, atol=1e-5)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net.generate(ids, mask, max_new_tokens=5), generated)  # the decoder's cache path too
    use_flex(net.t5, False)
    assert net.t5.config._attn_implementation == "sdpa"


def test_flex_attention_refuses_attention_dropout_with_the_fix():
    net = assemble("tiny-t5-lm-adapt", get_method_config("prompt_tuning"), dropout=True).model
    use_flex(net.t5)
    ids, mask, labels = _batch()
    with pytest.raises(ValueError, match="no attention dropout.*dropout off"):
        net(ids, mask, labels)
