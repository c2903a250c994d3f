"""Load the frozen T5 and its tokenizer: the embedded tiny model, a hub id, or a local directory.

Embedded models (workers/presets.py) are built from a config with seeded random weights and the
small tokenizer that lives in this repo: no network, so the whole product runs on a laptop or in CI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from workers.presets import EMBEDDED_MODELS, EMBEDDED_SEED

TOKENIZER_DIR = Path(__file__).resolve().parent / "assets" / "tokenizer"


@dataclass
class LoadedModel:
    model: nn.Module  # a T5ForConditionalGeneration
    tokenizer: object
    name: str

    @property
    def d_model(self) -> int:
        return self.model.config.d_model


def _untie_lm_head(model: nn.Module) -> None:
    """transformers 5 forces tie_word_embeddings=True on T5Config; T5v1.1 checkpoints are untied."""
    model.lm_head.weight = nn.Parameter(model.get_input_embeddings().weight.detach().clone())
    model.config.tie_word_embeddings = False


def build_embedded(name: str) -> LoadedModel:
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    vocab = -(-len(tokenizer) // 64) * 64
    config = T5Config(vocab_size=vocab, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id,
                      **EMBEDDED_MODELS[name])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(EMBEDDED_SEED)
        model = T5ForConditionalGeneration(config)
        _untie_lm_head(model)
    return LoadedModel(model, tokenizer, name)


def load_model(name: str) -> LoadedModel:
    """An embedded model by name, or `from_pretrained` on a hub id / local directory."""
    if name in EMBEDDED_MODELS:
        return build_embedded(name)
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = T5ForConditionalGeneration.from_pretrained(name)
    except OSError as err:
        raise OSError(
            f"could not load model {name!r}: {err}\nUse an embedded model ({', '.join(EMBEDDED_MODELS)}), "
            "a local directory with weights, or a hub id with network access (unset HF_HUB_OFFLINE)."
        ) from err
    return LoadedModel(model, tokenizer, name)


def set_dropout(model: nn.Module, enabled: bool) -> None:
    """Dropout off: every dropout in the model is inactive even in train mode. On: the model's rates."""
    rate = model.config.dropout_rate if enabled else 0.0
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = rate
        elif isinstance(getattr(module, "dropout", None), float):  # T5Attention keeps a float rate
            module.dropout = rate


def freeze(model: nn.Module) -> None:
    for p in model.parameters():
        p.requires_grad_(False)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Unique parameters (a tied weight counts once)."""
    seen = {id(p): p for p in module.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in seen.values())
