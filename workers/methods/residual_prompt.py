"""Residual Prompt Tuning (Razdaibiedina et al. 2023): p_i = MLP(P_i) + P_i.

MLP = Linear(d, b) -> ReLU -> Linear(b, d) -> LayerNorm(d), one shared by all n tokens by default.
"""

from __future__ import annotations

import torch
from torch import nn

from workers.methods.base import MethodContext, PromptMethod
from workers.methods.configs import ResidualPromptConfig


def _mlp(d: int, b: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, b), nn.ReLU(), nn.Linear(b, d), nn.LayerNorm(d))


class ResidualPrompt(PromptMethod):
    def __init__(self, config: ResidualPromptConfig, ctx: MethodContext):
        super().__init__()
        self.n_tokens = config.n_tokens
        init = ctx.sampled_rows(config.n_tokens, config.sampling_seed, config.sample_first_k)
        d = init.shape[1]
        self.prompt = nn.Parameter(init)
        count = config.n_tokens if config.separate_mlps else 1
        self.mlps = nn.ModuleList(_mlp(d, config.bottleneck) for _ in range(count)).to(init.device)

    def forward(self) -> torch.Tensor:
        if len(self.mlps) == 1:
            return self.mlps[0](self.prompt) + self.prompt
        return torch.stack([mlp(p) for mlp, p in zip(self.mlps, self.prompt)]) + self.prompt
