"""What every prompt method module receives (a context) and provides (a prompt and its groups)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from workers.methods.sampling import sample_token_ids


@dataclass
class MethodContext:
    """What a method may know about the frozen model and the task when it initialises."""

    embeddings: torch.Tensor  # (vocab rows, d_model): the frozen input embedding table
    real_vocab: int  # rows < real_vocab are tokens; the rest is padding (T5: 32100 of 32128)
    special_ids: tuple[int, ...] = ()  # never sampled
    label_token_ids: list[list[int]] = field(default_factory=list)  # each label word's pieces
    tokenize: object = None  # str -> list[int], for text initialisation
    source_prompts: dict[str, torch.Tensor] | None = None  # source task -> its (n, d) prompt (ATTEMPT)

    def sample_ids(self, count: int, seed: int, first_k: int | None) -> torch.Tensor:
        """`count` unique ids among the real, non-special tokens, fixed by `seed`."""
        return sample_token_ids(count, self.real_vocab, seed, first_k, self.special_ids)

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """(len(ids), d) float32 copies of those embedding rows."""
        return self.embeddings[ids.to(self.embeddings.device)].detach().clone().float()

    def sampled_rows(self, count: int, seed: int, first_k: int | None) -> torch.Tensor:
        return self.rows(self.sample_ids(count, seed, first_k))


class PromptMethod(nn.Module):
    """Produces the (n_tokens, d_model) prompt that the wrapper prepends to the encoder's input. A
    method whose prompt depends on the input (ATTEMPT) overrides `prompt_for` instead."""

    n_tokens: int

    def forward(self) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def prompt_for(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch, n_tokens, d_model): the prompt of each row of an encoder input (`embeds`: its
        token embeddings, `mask`: its attention mask). By default the one prompt, for every row."""
        return self.forward().unsqueeze(0).expand(embeds.shape[0], -1, -1)

    def param_groups(self, weight_decay: float) -> list[dict]:
        """AdamW parameter groups; by default every parameter decays."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "weight_decay": weight_decay}]

    def exported_prompt(self) -> torch.Tensor:
        """The (n_tokens, d_model) matrix this method feeds the encoder at inference: what is stored
        as the trial's `prompt` artefact and what `superpos export prompt` writes for PEFT."""
        return self.forward()

    def snapshot(self) -> dict[str, torch.Tensor]:
        """Small learned tensors worth keeping in the results store (e.g. SuperPos weights p')."""
        return {}


def prepend(method: PromptMethod, embeds: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder input with the method's prompt in front (the one place this is done: a trial alone,
    workers/prompt_model.py, and the stacked rows of a pack, workers/packed_step.py)."""
    prompt = method.prompt_for(embeds, mask).to(embeds.dtype)
    ones = mask.new_ones(embeds.shape[0], prompt.shape[1])
    return torch.cat([prompt, embeds], dim=1), torch.cat([ones, mask], dim=1)
