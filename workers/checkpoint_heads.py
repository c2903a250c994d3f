"""Keep a checkpoint's untied lm_head untied.

transformers 5 always ties T5's lm_head to its input embedding (T5Config forces
tie_word_embeddings=True; the v1.1 flag now only turns off decoder-output scaling). A T5v1.1
checkpoint such as google/t5-base-lm-adapt stores a separate lm_head.weight, and loading it ties
the two matrices, so one of them is silently replaced (seen here: a saved untied model reloads with
its input embedding equal to its lm_head; upstream: huggingface/transformers#48154). Prompt methods
read the input embedding table, so this module restores both matrices from the checkpoint files.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

EMBEDDING_KEYS = ("shared.weight", "encoder.embed_tokens.weight")
HEAD_KEY = "lm_head.weight"


def _read(path: str, keys: set[str]) -> dict[str, torch.Tensor]:
    if path.endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(path, "pt") as fh:
            return {k: fh.get_tensor(k) for k in keys & set(fh.keys())}
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return {k: state[k] for k in keys & set(state)}


def checkpoint_tensors(name: str, keys: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The named tensors as stored in a local directory or hub checkpoint (single file or sharded)."""
    from transformers.utils import cached_file

    wanted = set(keys)
    for single, index in (("model.safetensors", "model.safetensors.index.json"),
                          ("pytorch_model.bin", "pytorch_model.bin.index.json")):
        path = cached_file(name, single, _raise_exceptions_for_missing_entries=False)
        if path:
            return _read(path, wanted)
        index_path = cached_file(name, index, _raise_exceptions_for_missing_entries=False)
        if index_path:
            weight_map = json.loads(Path(index_path).read_text())["weight_map"]
            found: dict[str, torch.Tensor] = {}
            for shard in sorted({weight_map[k] for k in wanted if k in weight_map}):
                found.update(_read(cached_file(name, shard), wanted))
            return found
    return {}


def restore_untied_head(model: nn.Module, name: str) -> bool:
    """If the checkpoint's lm_head differs from its embedding, give the model both as stored.
    Returns True when it untied."""
    stored = checkpoint_tensors(name, (*EMBEDDING_KEYS, HEAD_KEY))
    embedding = next((stored[k] for k in EMBEDDING_KEYS if k in stored), None)
    head = stored.get(HEAD_KEY)
    if embedding is None or head is None or torch.equal(embedding, head):
        return False
    dtype = model.get_input_embeddings().weight.dtype
    model.set_input_embeddings(nn.Embedding.from_pretrained(embedding.to(dtype), freeze=False))
    model.lm_head.weight = nn.Parameter(head.to(dtype).clone())
    model.config.tie_word_embeddings = False
    return True
