"""ATTEMPT (Asai et al., EMNLP 2022): an input-dependent mix of frozen source prompts and a target prompt.

Per example: pooled = max over its input token embeddings (masked, or over every position as the
official code does); x = LayerNorm(W_up SiLU(W_down pooled)); each of the k source prompts and the
target prompt is max-pooled over its length; a = softmax(pooled_prompts . x / T) over the k + 1
prompts; prompt = P_target + sum_j a_j P_j (the target is one of the attended prompts). Trainable:
P_target, W_down, W_up. The source prompts are buffers (frozen, kept in the state); the LayerNorm's
affine weights stay at their initial values (1 and 0) in the official code, so it has none here. Options and defaults: workers/methods/configs.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from workers.artefacts import prompt_sha256
from workers.methods.base import MethodContext, PromptMethod
from workers.methods.configs import AttemptConfig


def _sources(config: AttemptConfig, ctx: MethodContext, d: int) -> torch.Tensor:
    """(k, n, d): the source prompts in the config's order, checked. On the meta device (counting
    parameters) stand-ins of the right shape, since nothing is computed there."""
    shape = (config.n_tokens, d)
    if ctx.source_prompts is None and ctx.embeddings.device.type == "meta":
        return torch.empty(len(config.sources), *shape, device="meta")
    given = ctx.source_prompts or {}
    missing = [t for t in config.sources if t not in given]
    if missing:
        raise ValueError(f"attempt: no source prompt for {', '.join(missing)}; a trial gets them through "
                         "TrialConfig.source_prompts (task -> a prompt file), which a sweep fills from the store")
    for task in config.sources:
        if tuple(given[task].shape) != shape:
            raise ValueError(f"attempt: the source prompt of {task} is {tuple(given[task].shape)}, but this model and "
                             f"n_tokens need {shape}: train the sources on the same model with the same n_tokens")
        pinned = (config.source_sha256 or {}).get(task)
        if pinned is not None and prompt_sha256(given[task]) != pinned:
            raise ValueError(f"attempt: the source prompt given for {task} is not the pinned one (sha256 "
                             f"{pinned[:12]}...); its content is {prompt_sha256(given[task])[:12]}...")
    return torch.stack([given[t].detach().float() for t in config.sources]).to(ctx.embeddings.device)


class Attempt(PromptMethod):
    def __init__(self, config: AttemptConfig, ctx: MethodContext):
        super().__init__()
        self.n_tokens, self.masked = config.n_tokens, config.pooling == "masked"
        d = ctx.embeddings.shape[1]
        self.register_buffer("sources", _sources(config, ctx, d), persistent=True)
        if config.target_init == "first_source":
            target = self.sources[0].clone()
        else:
            target = ctx.sampled_rows(config.n_tokens, config.sampling_seed, config.sample_first_k)
        self.prompt = nn.Parameter(target)  # P_target
        device = ctx.embeddings.device
        self.down = nn.Linear(d, config.BOTTLENECK, bias=False, device=device)
        self.up = nn.Linear(config.BOTTLENECK, d, bias=False, device=device)
        if device.type != "meta":
            nn.init.normal_(self.down.weight, std=0.01)
            nn.init.normal_(self.up.weight, std=0.01)
        # the official LayerNorm is affine but never trained: weight 1, bias 0, i.e. no affine at all
        self.norm = nn.LayerNorm(d, elementwise_affine=False, device=device)
        self.temperature = d * math.e if config.temperature == "d_model_e" else float(config.temperature)

    def forward(self) -> torch.Tensor:
        """The target prompt alone (what the mix starts from; the prompt fed to the encoder depends on
        the input: `prompt_for`)."""
        return self.prompt

    def exported_prompt(self) -> torch.Tensor:
        """The target prompt: a fixed (n, d) matrix cannot carry the input-dependent mix, so this is
        what is stored as `prompt` and exported; the state (sources, W_down, W_up) rebuilds the method."""
        return self.prompt

    def attention(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch, k + 1): each row's weights over the source prompts and the target (last)."""
        x = embeds.float()
        if self.masked:
            x = x.masked_fill(~mask.bool().unsqueeze(-1), float("-inf"))
        pooled = x.max(dim=1).values
        query = self.norm(self.up(F.silu(self.down(pooled))))
        keys = self._prompts().max(dim=1).values  # (k + 1, d)
        return (query @ keys.T / self.temperature).softmax(-1)

    def _prompts(self) -> torch.Tensor:
        return torch.cat([self.sources, self.prompt.unsqueeze(0)])

    def prompt_for(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = self.attention(embeds, mask)
        return self.prompt.unsqueeze(0) + torch.einsum("bk,knd->bnd", weights, self._prompts())
