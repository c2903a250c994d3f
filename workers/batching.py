"""Tokenize text examples once and cut them into padded batches."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workers.data import TextExample


@dataclass
class Encoded:
    input_ids: list[list[int]]
    target_ids: list[list[int]]
    examples: list[TextExample]

    def __len__(self) -> int:
        return len(self.examples)


def encode(tokenizer, examples: list[TextExample], max_source_tokens: int, max_target_tokens: int) -> Encoded:
    src = tokenizer([e.source for e in examples], max_length=max_source_tokens, truncation=True)["input_ids"]
    tgt = tokenizer([e.target for e in examples], max_length=max_target_tokens, truncation=True)["input_ids"]
    return Encoded(src, tgt, examples)


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def batches(
    data: Encoded, batch_size: int, pad_id: int, shuffle_seed: int | None = None
) -> list[tuple[list[int], dict[str, torch.Tensor]]]:
    """(example indices, tensors) per batch; labels use -100 at padding so the loss ignores it."""
    order = list(range(len(data)))
    if shuffle_seed is not None:
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(shuffle_seed)).tolist()
    return [(idx, collate(data, idx, pad_id)) for idx in
            (order[start : start + batch_size] for start in range(0, len(order), batch_size))]


def collate(data: Encoded, idx: list[int], pad_id: int) -> dict[str, torch.Tensor]:
    """The examples `idx` as one batch, padded to the longest of them."""
    input_ids = _pad([data.input_ids[i] for i in idx], pad_id)
    labels = _pad([data.target_ids[i] for i in idx], -100)
    return {"input_ids": input_ids, "attention_mask": (input_ids != pad_id).long(), "labels": labels}


def bucketed(batch: dict[str, torch.Tensor], pad_id: int, widest: int, rows: int | None = None) -> dict[str, torch.Tensor]:
    """`batch` padded to the shapes a compiled model repeats (workers/shapes.py): inputs to a multiple
    of ENCODER_STEP (never past `widest`, the widest input possible), targets to a power of two, and,
    given `rows`, a short last batch to that many rows. The loss is unchanged: padded inputs are
    masked, padded targets are -100 and come after the real ones, padded rows hold only -100 targets."""
    from workers.shapes import decoder_bucket, encoder_bucket

    (n, width), target = batch["input_ids"].shape, batch["labels"].shape[1]
    wide, long, extra = encoder_bucket(width, widest), decoder_bucket(target), max(0, (rows or n) - n)
    pad = torch.nn.functional.pad
    return {"input_ids": pad(batch["input_ids"], (0, wide - width, 0, extra), value=pad_id),
            "attention_mask": pad(batch["attention_mask"], (0, wide - width, 0, extra), value=0),
            "labels": pad(batch["labels"], (0, long - target, 0, extra), value=-100)}
