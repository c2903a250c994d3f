"""Simple prompt tuning (Lester et al. 2021): the prompt is a free parameter matrix."""

from __future__ import annotations

import torch
from torch import nn

from workers.methods.base import MethodContext, PromptMethod
from workers.methods.configs import PromptTuningConfig


def _rows_from_ids(ctx: MethodContext, pieces: list[list[int]]) -> torch.Tensor:
    """One row per word: the mean embedding of its pieces."""
    return torch.stack([ctx.embeddings[torch.tensor(ids)].detach().float().mean(0) for ids in pieces])


def initial_prompt(config: PromptTuningConfig, ctx: MethodContext) -> torch.Tensor:
    n, d = config.n_tokens, ctx.embeddings.shape[1]
    if config.init == "uniform":  # at the scale of the embedding table
        bound = ctx.embeddings.float().std().item() * 3**0.5
        return torch.empty(n, d).uniform_(-bound, bound)
    if config.init == "text":
        ids = [i for i in ctx.tokenize(config.init_text) if i not in ctx.special_ids]
        if not ids:
            raise ValueError(f"prompt_tuning: init_text {config.init_text!r} has no tokens")
        return ctx.rows(torch.tensor([ids[i % len(ids)] for i in range(n)]))
    sampled = ctx.sampled_rows(n, config.sampling_seed, config.sample_first_k)
    if config.init == "class_labels" and ctx.label_token_ids:
        labels = _rows_from_ids(ctx, ctx.label_token_ids)[:n]
        sampled[: len(labels)] = labels
    return sampled


class PromptTuning(PromptMethod):
    def __init__(self, config: PromptTuningConfig, ctx: MethodContext):
        super().__init__()
        self.n_tokens = config.n_tokens
        self.prompt = nn.Parameter(initial_prompt(config, ctx))

    def forward(self) -> torch.Tensor:
        return self.prompt
