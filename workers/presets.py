"""Model presets that need no download (imports no torch, so specs can be validated without it).

- Embedded models, with the small tokenizer in workers/assets/tokenizer: `tiny-t5` is built from a
  config with seeded random weights (the tests' model; its scores mean nothing); `tiny-t5-lm-adapt`
  has the same shape and learned weights (float16 in workers/assets, pretrained on the demo world's
  text by scripts/pretrain_tiny_t5.py): the demo's model, which prompts can steer.
- Architecture presets: the exact shapes of published checkpoints, with random weights, named
  `random:<hub id>` in a spec (or `--weights random` on the command line). For benchmarks and dry
  runs: the parameter counts are the real ones, the text tokenizer is the embedded one.
"""

from __future__ import annotations

from pathlib import Path

TOKENIZER_DIR = Path(__file__).resolve().parent / "assets" / "tokenizer"  # the bundled tokenizer
RANDOM_PREFIX = "random:"
T5_VOCAB_ROWS, T5_TOKENS = 32128, 32100  # rows beyond 32100 are padding, never sampled

_V11 = dict(feed_forward_proj="gated-gelu", d_kv=64, vocab_size=T5_VOCAB_ROWS, tie_word_embeddings=False)
_V10 = dict(feed_forward_proj="relu", d_kv=64, vocab_size=T5_VOCAB_ROWS, tie_word_embeddings=True)

_TINY = dict(d_model=64, d_ff=128, d_kv=16, num_heads=4, num_layers=2, num_decoder_layers=2,
             feed_forward_proj="gated-gelu", dropout_rate=0.1, relative_attention_num_buckets=8,
             tie_word_embeddings=False)
EMBEDDED_MODELS: dict[str, dict] = {
    # name -> T5Config arguments; vocab_size comes from the tokenizer (rounded up, like T5's 32128)
    "tiny-t5": _TINY,
    "tiny-t5-lm-adapt": _TINY,  # the same shape, pretrained (EMBEDDED_WEIGHTS)
}
EMBEDDED_SEED = 1234
ASSETS = Path(__file__).resolve().parent / "assets"
# embedded models with learned weights: name -> (float16 safetensors file, its sha256), made by
# `python -m scripts.pretrain_tiny_t5`; the others keep their seeded random weights
EMBEDDED_WEIGHTS: dict[str, tuple[Path, str]] = {
    "tiny-t5-lm-adapt": (ASSETS / "tiny-t5-lm-adapt.safetensors", "4d64916d9a9d8c5c392cbc69b6d83332d71a1f0b532dd31328d5bab96291ac22"),
}

ARCHITECTURES: dict[str, dict] = {
    "google/t5-small-lm-adapt": dict(d_model=512, d_ff=1024, num_heads=6, num_layers=8, **_V11),
    "google/t5-base-lm-adapt": dict(d_model=768, d_ff=2048, num_heads=12, num_layers=12, **_V11),
    "google/t5-large-lm-adapt": dict(d_model=1024, d_ff=2816, num_heads=16, num_layers=24, **_V11),
    "google-t5/t5-small": dict(d_model=512, d_ff=2048, num_heads=8, num_layers=6, **_V10),
    "google-t5/t5-base": dict(d_model=768, d_ff=3072, num_heads=12, num_layers=12, **_V10),
}


def is_offline_model(name: str) -> bool:
    """Names that load without network or files: embedded models and random-weight presets."""
    return name in EMBEDDED_MODELS or (name.startswith(RANDOM_PREFIX) and name[len(RANDOM_PREFIX):] in ARCHITECTURES)


def known_vocabulary(name: str) -> int | None:
    """How many tokens can be sampled for an offline model (None: unknown until it loads).
    Embedded models: the repo tokenizer's size less its 3 special tokens; presets: T5's tokens."""
    if name in EMBEDDED_MODELS:
        import json
        from pathlib import Path

        vocab = json.loads((Path(__file__).resolve().parent / "assets/tokenizer/tokenizer.json").read_text())
        return len(vocab["model"]["vocab"]) - len(vocab["added_tokens"])  # the special tokens are in vocab
    if is_offline_model(name):
        return T5_TOKENS
    return None
