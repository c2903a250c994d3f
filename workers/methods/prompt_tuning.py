"""Simple prompt tuning (Lester et al. 2021): the prompt is a free parameter matrix."""

from __future__ import annotations

import torch
from torch import nn

from workers.methods.base import PromptMethod
from workers.methods.configs import PromptTuningConfig
from workers.methods.sampling import sample_token_ids


class PromptTuning(PromptMethod):
    def __init__(self, config: PromptTuningConfig, embeddings: torch.Tensor, real_vocab: int, special_ids=()):
        super().__init__()
        self.n_tokens = config.n_tokens
        if config.init == "sampled_vocab":
            ids = sample_token_ids(config.n_tokens, real_vocab, config.sampling_seed, config.sample_first_k, special_ids)
            init = embeddings[ids].detach().clone().float()
        else:  # uniform, at the scale of the embedding table
            bound = embeddings.float().std().item() * 3**0.5
            init = torch.empty(config.n_tokens, embeddings.shape[1]).uniform_(-bound, bound)
        self.prompt = nn.Parameter(init)

    def forward(self) -> torch.Tensor:
        return self.prompt
