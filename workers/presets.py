"""Model presets that need no download (imports no torch, so specs can be validated without it).

`tiny-t5`: the embedded default, a T5v1.1-shaped model (gated-GELU, untied lm_head) with seeded
random weights and the small tokenizer in workers/assets/tokenizer. Its scores mean nothing.
"""

from __future__ import annotations

EMBEDDED_MODELS: dict[str, dict] = {
    # name -> T5Config arguments; vocab_size comes from the tokenizer (rounded up, like T5's 32128)
    "tiny-t5": dict(d_model=64, d_ff=128, d_kv=16, num_heads=4, num_layers=2, num_decoder_layers=2,
                    feed_forward_proj="gated-gelu", dropout_rate=0.1, relative_attention_num_buckets=8),
}
EMBEDDED_SEED = 1234
