"""What every prompt method module provides to the wrapper and the optimizer."""

from __future__ import annotations

import torch
from torch import nn


class PromptMethod(nn.Module):
    """Produces the (n_tokens, d_model) prompt that the wrapper prepends to the encoder's input."""

    n_tokens: int

    def forward(self) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def param_groups(self, weight_decay: float) -> list[dict]:
        """AdamW parameter groups; by default every parameter decays."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "weight_decay": weight_decay}]
