"""T5 attention through FlexAttention, at any batch size: a measurement path for dropout-off cells.

transformers' own T5 flex path indexes the position bias by batch (`bias[b, h, q, k]`), but T5's
relative position bias has batch dimension 1, so it fails at batch > 1. Here the score_mod adds
`bias[0, h, q, k]` (the same bias for every row, as in eager attention), and padding and causality
come from a block mask built once per forward (registered under this module's name for both
transformers' attention and mask interfaces).

FlexAttention has no attention dropout: a training forward with dropout on raises (use it for
dropout-off cells, or in eval mode). `use_flex(t5)` switches a loaded T5 to it; `use_flex(t5, False)`
back to SDPA. scripts/benchmarks/flex_attention.py measures it against SDPA.
"""

from __future__ import annotations

import torch

NAME = "t5_flex"


def t5_flex_attention(module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask,
                      scaling: float | None = None, dropout: float = 0.0, position_bias: torch.Tensor | None = None,
                      **kwargs):
    """The attention interface's signature: (output as (batch, query, heads, dim), no weights)."""
    from torch.nn.attention.flex_attention import BlockMask, flex_attention

    if dropout > 0.0:
        raise ValueError(f"{NAME}: FlexAttention has no attention dropout (p={dropout}); use it with dropout off "
                         "or in eval mode, or keep attention 'sdpa'")
    if attention_mask is not None and not isinstance(attention_mask, BlockMask):
        raise TypeError(f"{NAME}: expected a BlockMask, got {type(attention_mask).__name__}; switch with use_flex(), "
                        "which registers the mask interface too")
    bias = position_bias
    per_row = bias is not None and bias.shape[0] > 1  # a bias with the mask already added (older T5 code): by row

    def score_mod(score, b, h, q, k):
        if bias is None:
            return score
        return score + (bias[b, h, q, k] if per_row else bias[0, h, q, k])

    out = flex_attention(query, key, value, score_mod=score_mod, block_mask=attention_mask,
                         scale=1.0 if scaling is None else scaling)
    return out.transpose(1, 2).contiguous(), None


def block_mask(batch_size: int, q_length: int | None = None, kv_length: int | None = None, q_offset: int = 0,
               kv_offset: int = 0, mask_function=None, attention_mask: torch.Tensor | None = None, device=None,
               cache_position: torch.Tensor | None = None, **kwargs):
    """The mask interface's signature: the BlockMask of `mask_function` (causal or bidirectional)
    and the 2D padding mask, built once per forward (compiled on a GPU; eagerly on a CPU, where
    compiling it would cost far more than it saves). Earlier transformers pass the query positions
    (`cache_position`) instead of `q_length` and `q_offset`."""
    from torch.nn.attention.flex_attention import create_block_mask

    if q_length is None:
        q_length, q_offset = cache_position.shape[0], int(cache_position[0])
    if device is None:
        device = (attention_mask if attention_mask is not None else cache_position).device

    pad = None
    if attention_mask is not None and not bool(attention_mask.all()):
        extra = max(0, kv_offset + kv_length - attention_mask.shape[1])
        pad = torch.nn.functional.pad(attention_mask.bool(), (0, extra))

    def mask_mod(b, h, q, kv):
        keep = mask_function(b, h, q + q_offset, kv + kv_offset)
        return keep & pad[b, kv + kv_offset] if pad is not None else keep

    return create_block_mask(mask_mod, batch_size, None, q_length, kv_length, device=device,
                             _compile=torch.device(device).type == "cuda")


def register() -> None:
    """Make NAME an attention implementation transformers knows (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, t5_flex_attention)
    AttentionMaskInterface.register(NAME, block_mask)


def use_flex(t5, on: bool = True) -> None:
    """Switch a loaded T5 (a transformers PreTrainedModel) to this attention, or back to SDPA."""
    if on:
        register()
    t5.set_attn_implementation(NAME if on else "sdpa")
