"""Which vocabulary rows initialise a prompt: unique ids, fixed by a sampling seed of their own."""

from __future__ import annotations

import torch


def sample_token_ids(
    count: int, vocab_size: int, seed: int, first_k: int | None = None, exclude: tuple[int, ...] = ()
) -> torch.Tensor:
    """`count` unique ids among the real tokens (ids < vocab_size, i.e. never the padding rows that a
    model's embedding has beyond its tokenizer), minus `exclude` (special tokens), or among the first k."""
    upper = min(vocab_size, first_k) if first_k is not None else vocab_size
    pool = torch.tensor([i for i in range(upper) if i not in set(exclude)], dtype=torch.long)
    if count > len(pool):
        raise ValueError(
            f"cannot sample {count} unique tokens from {len(pool)} candidate ids (vocabulary {vocab_size}"
            f"{f', first {first_k}' if first_k else ''}); lower m / n_tokens or widen sample_first_k"
        )
    gen = torch.Generator().manual_seed(seed)
    return pool[torch.randperm(len(pool), generator=gen)[:count]]
