"""The frozen T5 with a method's prompt prepended to the encoder input (never the decoder)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from workers.methods.base import PromptMethod, prepend


class PromptedT5(nn.Module):
    """Prepends the method's prompt (n, d per row) to the encoder's input embeddings and extends the
    attention mask.

    With `method=None` the T5 runs as is (full fine-tuning). `autocast`: a lower compute dtype for a
    float32 T5 (full fine-tuning in bf16 keeps float32 master weights); None: the weights' own dtype.
    """

    def __init__(self, t5: nn.Module, method: PromptMethod | None, autocast: torch.dtype | None = None):
        super().__init__()
        self.t5, self.method, self.autocast = t5, method, autocast

    def compute(self):
        """The context its computation runs in: autocast to `autocast`, or nothing."""
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=next(self.t5.parameters()).device.type, dtype=self.autocast)

    def _encoder_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        embeds = self.t5.get_input_embeddings()(input_ids)
        if self.method is None:
            return {"inputs_embeds": embeds, "attention_mask": attention_mask}
        embeds, mask = prepend(self.method, embeds, attention_mask)
        return {"inputs_embeds": embeds, "attention_mask": mask}

    def forward(self, input_ids, attention_mask, labels, t5: nn.Module | None = None) -> torch.Tensor:
        """The mean token cross-entropy of `labels` (pad positions set to -100). `t5`: the same T5
        compiled (torch.compile of self.t5), run in its place."""
        with self.compute():
            return (self.t5 if t5 is None else t5)(**self._encoder_inputs(input_ids, attention_mask), labels=labels).loss

    @torch.no_grad()
    def label_log_likelihoods(self, input_ids, attention_mask, label_ids: list[list[int]]) -> torch.Tensor:
        """(batch, labels): the summed log-probability of each label's tokens (the `rank` evaluation).
        The encoder runs once; one decoder pass scores every label (labels stacked along the batch)."""
        with self.compute():
            inputs = self._encoder_inputs(input_ids, attention_mask)
            hidden = self.t5.get_encoder()(**inputs).last_hidden_state
            return label_scores(self.t5, hidden, inputs["attention_mask"], label_ids)

    @torch.no_grad()
    def generate(self, input_ids, attention_mask, max_new_tokens: int) -> torch.Tensor:
        """Greedy decoding, the paper's protocol."""
        with self.compute():
            return self.t5.generate(
                **self._encoder_inputs(input_ids, attention_mask), max_new_tokens=max_new_tokens, do_sample=False,
                num_beams=1,
            )


class _OncePerExample(nn.Module):
    """A cross-attention key or value projection over an encoder output whose rows repeat each
    example `k` times in a row: projects each example once and repeats the result (the same numbers)."""

    def __init__(self, linear: nn.Module, k: int):
        super().__init__()
        self.linear, self.k = linear, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x[:: self.k]).repeat_interleave(self.k, dim=0)


@contextlib.contextmanager
def cross_attention_once(t5: nn.Module, k: int):
    """While the decoder scores k labels per example (rows example-major), each decoder layer projects
    an example's cross-attention keys and values once, not once per label (T5's decoder layers; other
    models run as they are)."""
    swapped = []
    for block in getattr(getattr(t5, "decoder", None), "block", []) if k > 1 else []:
        attention = getattr(block.layer[1], "EncDecAttention", None) if len(block.layer) > 1 else None
        for name in ("k", "v") if attention is not None else ():
            linear = getattr(attention, name)
            setattr(attention, name, _OncePerExample(linear, k))
            swapped.append((attention, name, linear))
    try:
        yield
    finally:
        for attention, name, linear in swapped:
            setattr(attention, name, linear)


def label_scores(t5: nn.Module, hidden: torch.Tensor, mask: torch.Tensor, label_ids: list[list[int]]) -> torch.Tensor:
    """(batch, labels): the summed log-probability of each label's tokens given the encoder's output
    `hidden` (batch, width, d) and its mask; one decoder pass, labels stacked along the batch, each
    example's cross-attention keys and values projected once (cross_attention_once)."""
    batch, k = hidden.shape[0], len(label_ids)
    width = max(len(ids) for ids in label_ids)
    labels = torch.full((k, width), -100, dtype=torch.long, device=hidden.device)
    for i, ids in enumerate(label_ids):
        labels[i, : len(ids)] = torch.tensor(ids)
    labels = labels.repeat(batch, 1)  # (batch * k, width): example-major
    with cross_attention_once(t5, k):
        logits = t5(encoder_outputs=(hidden.repeat_interleave(k, dim=0),), attention_mask=mask.repeat_interleave(k, dim=0),
                    decoder_input_ids=t5._shift_right(labels), use_cache=False).logits.float()
    picked = logits.log_softmax(-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * (labels != -100)).sum(-1).view(batch, k)
