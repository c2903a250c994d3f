"""One forward and backward pass of a shared frozen T5 over several trials' batches.

Each member's rows are its prompt (its own method's output) followed by its input embeddings; the
rows are right-padded to one width and stacked. Rows never mix in T5 (per-token norms, masked
attention, relative positions counted from the left), so member i's loss, and the gradient its
prompt gets from the summed loss, are those of its batch run alone (up to float rounding). With
`buckets` on, widths round up to fixed steps and the batch to a fixed number of rows, so that a
compiled model sees the same few shapes again and again.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from workers.methods.base import prepend
from workers.shapes import decoder_bucket, encoder_bucket


@dataclass
class PackStats:
    """Token slots computed vs. slots holding a real token (prompt, input or target)."""

    slots: int = 0
    real: int = 0
    steps: int = 0  # stacked passes counted

    @property
    def padding(self) -> float:
        return 1.0 - self.real / self.slots if self.slots else 0.0


def member_rows(t5, method, batch: dict, device) -> tuple[torch.Tensor, torch.Tensor]:
    embeds = t5.get_input_embeddings()(batch["input_ids"].to(device))
    mask = batch["attention_mask"].to(device)
    if method is None:
        return embeds, mask
    return prepend(method, embeds, mask)


def stack_rows(pieces: list[tuple[torch.Tensor, torch.Tensor]], width: int | None = None):
    """Members' (embeddings, mask) right-padded to one width (default: the widest) and stacked."""
    width = width or max(e.shape[1] for e, _ in pieces)
    embeds = torch.cat([F.pad(e, (0, 0, 0, width - e.shape[1])) for e, _ in pieces])
    mask = torch.cat([F.pad(m, (0, width - m.shape[1])) for _, m in pieces])
    return embeds, mask


def filler_rows(embeds: torch.Tensor, mask: torch.Tensor, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacked (embeddings, mask) padded to `rows` rows for a compiled shape: the filler rows are zeros
    that attend to their first slot only (an all-masked row would give NaN attention)."""
    extra = rows - embeds.shape[0]
    if extra <= 0:
        return embeds, mask
    filler = mask.new_zeros(extra, mask.shape[1])
    filler[:, 0] = 1
    return F.pad(embeds, (0, 0, 0, 0, 0, extra)), torch.cat([mask, filler])


def packed_losses(t5, forward, parts: list[tuple[object, dict]], device, rows: int | None = None,
                  stats: PackStats | None = None, widest: int | None = None) -> list[torch.Tensor]:
    """Each part's mean token cross-entropy. `parts`: (method or None, batch) per member. `forward`
    is the T5's forward (compiled or not). `rows`: pad the stacked batch to this many rows and the
    widths to buckets (compiled steps); None: pad to the widest member only. `widest`: the widest
    encoder input possible (prompt + max_source_tokens): a bucket never exceeds it, so full-length
    batches carry no bucket padding."""
    pieces = [member_rows(t5, method, batch, device) for method, batch in parts]
    labels = [batch["labels"].to(device) for _, batch in parts]
    width = max(e.shape[1] for e, _ in pieces)
    target = max(lab.shape[1] for lab in labels)
    if rows is not None:
        width, target = encoder_bucket(width, widest or 0), decoder_bucket(target)
    embeds, mask = stack_rows(pieces, width)
    stacked = torch.cat([F.pad(lab, (0, target - lab.shape[1]), value=-100) for lab in labels])
    used = embeds.shape[0]
    if rows is not None and rows > used:  # filler rows, with no target
        embeds, mask = filler_rows(embeds, mask, rows)
        stacked = F.pad(stacked, (0, 0, 0, rows - used), value=-100)
    if stats is not None:  # counted on the host's copies of the batches: no device sync
        stats.slots += embeds.shape[0] * (width + target)
        stats.steps += 1
        stats.real += sum(int(b["attention_mask"].sum()) + int((b["labels"] != -100).sum())
                          + (e.shape[1] - b["input_ids"].shape[1]) * e.shape[0]
                          for (_, b), (e, _) in zip(parts, pieces))
    logits = forward(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=t5._shift_right(stacked),
                     use_cache=False).logits
    losses, start = [], 0
    for lab in labels:
        end = start + lab.shape[0]
        part = logits[start:end, : lab.shape[1]].float()
        losses.append(F.cross_entropy(part.reshape(-1, part.shape[-1]), lab.reshape(-1), ignore_index=-100))
        start = end
    return losses
