"""The shapes a compiled pack step sees (torch-free: the planner counts them too).

Encoder widths round up to multiples of ENCODER_STEP, targets to powers of two, and the stacked
batch's rows to the largest batch size times a power of two of the members stepping, so a compiled
model sees a few shapes again and again (workers/packed_step.py).
"""

from __future__ import annotations

import functools

ENCODER_STEP = 32  # encoder widths round up to a multiple of this (prompt included) when bucketing


def bucket(width: int, step: int) -> int:
    return -(-width // step) * step


def encoder_bucket(width: int, widest: int) -> int:
    """An encoder input's bucketed width: the next multiple of ENCODER_STEP, but never past `widest`
    (the widest input possible, prompt + max_source_tokens), so full-length batches carry no padding."""
    return min(bucket(width, ENCODER_STEP), max(widest, width))


@functools.lru_cache(maxsize=1024)
def encoder_widths(widest: int) -> frozenset[int]:
    """Every bucketed width an input of at most `widest` tokens can have: the shapes to compile."""
    return frozenset({encoder_bucket(w, widest) for w in range(1, widest + 1, ENCODER_STEP)} | {widest})


def power_of_two(n: int) -> int:
    """The smallest power of two >= n (n >= 1)."""
    return 1 << max(0, (n - 1).bit_length())


def row_bucket(batch_sizes: list[int], full: int) -> int:
    """The stacked batch's rows for the members stepping now: the largest batch size times the next power
    of two of their count, capped at the full pack's rows. As members leave the rows shrink, through at
    most log2(pack size) + 1 shapes per width bucket (each compiled once), instead of carrying the
    leavers' rows as filler to the end."""
    return min(full, max(batch_sizes) * power_of_two(len(batch_sizes)))


def decoder_bucket(width: int) -> int:
    """Targets are short (a label word): the next power of two."""
    return power_of_two(width)
