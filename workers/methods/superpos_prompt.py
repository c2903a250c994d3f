"""SuperPos-Prompt: each prompt token is a learned superposition of m token embeddings.

p_i = E_i p'_i, with E_i in R^(d x m) for every token i, all starting as the same m sampled vocabulary
embeddings and then tuned separately, and p'_i in R^m. A plain weighted sum: no bias, no
normalisation, no non-linearity (the softmax variant is an ablation, off by default).
"""

from __future__ import annotations

import torch
from torch import nn

from workers.methods.base import MethodContext, PromptMethod
from workers.methods.configs import SuperPosPromptConfig


class SuperPosPrompt(PromptMethod):
    def __init__(self, config: SuperPosPromptConfig, ctx: MethodContext):
        super().__init__()
        self.n_tokens, self.softmax = config.n_tokens, config.softmax
        ids = ctx.sample_ids(config.m, config.sampling_seed, config.sample_first_k)
        self.register_buffer("token_ids", ids, persistent=True)
        base = ctx.rows(ids).T  # (d, m)
        self.E = nn.Parameter(base.unsqueeze(0).repeat(config.n_tokens, 1, 1).contiguous())  # (n, d, m)
        pprime = torch.zeros(config.n_tokens, config.m, device=base.device)
        if config.pprime_init == "uniform":
            bound = config.m**-0.5
            pprime.uniform_(-bound, bound)
        self.pprime = nn.Parameter(pprime)  # (n, m)

    def forward(self) -> torch.Tensor:
        weights = self.pprime.softmax(-1) if self.softmax else self.pprime
        return torch.einsum("ndm,nm->nd", self.E, weights)

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Weight decay on p'_i only; the embeddings E_i get none (paper, App. A.2)."""
        return [{"params": [self.pprime], "weight_decay": weight_decay}, {"params": [self.E], "weight_decay": 0.0}]

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {"pprime": self.pprime.detach().float().cpu()}
