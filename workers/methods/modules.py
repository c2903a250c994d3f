"""The method-module registry (imports torch). Keys match `workers.methods.METHOD_CONFIGS`."""

from __future__ import annotations

import torch

from workers.methods.base import PromptMethod
from workers.methods.configs import MethodConfig
from workers.methods.prompt_tuning import PromptTuning
from workers.methods.superpos_prompt import SuperPosPrompt

METHOD_MODULES: dict[str, type[PromptMethod]] = {
    "prompt_tuning": PromptTuning,
    "superpos_prompt": SuperPosPrompt,
}


def build_method(
    config: MethodConfig, embeddings: torch.Tensor, real_vocab: int, special_ids: tuple[int, ...] = ()
) -> PromptMethod:
    """The method's module; `real_vocab` is the tokenizer's size (rows beyond it are padding)."""
    return METHOD_MODULES[config.name](config, embeddings, real_vocab, special_ids)
