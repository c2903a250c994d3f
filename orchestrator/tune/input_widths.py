"""How wide a trial's batches really are: the planner's model of bucketed input widths.

A batch is padded to its longest input (prompt included) and, in a compiled step, up to the next
width bucket (workers/shapes.py); a pack stacks its stepping members' batches at the widest of them
(workers/packed_step.py). So a step's width is the largest of all its rows' widths, and a task of
short inputs steps far narrower than the 256 tokens the throughput table was measured at.

- `Profile`: one row's encoder width (prompt + source tokens after truncation) over a seeded sample
  of a task's training examples, tokenized as the trials tokenize them. Where the data or the
  tokenizer cannot be read without a download, there is none and the plan takes every input at
  full length (an upper bound), as it did before.
- `step_widths`: the distribution of a step's width, the largest of its rows' (rows drawn
  independently: an epoch's shuffled batches), bucketed when compiled.
- `Curve`: seconds at a width relative to the width a throughput row was measured at
  (`train_step_s_by_width` / `eval_batch_s_by_width` of `scripts.benchmarks.throughput --widths`),
  linear between measured widths, flat below the narrowest, proportional to the width beyond the
  widest. A row without them costs the same at every width (1x, and the plan says so).
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass
from pathlib import Path

from workers.shapes import encoder_bucket

SAMPLE = 2000  # training examples per task whose inputs are tokenized (seeded)


@dataclass(frozen=True)
class Profile:
    """One row's encoder width: `widths` ascending, `cdf[i]` = P(width <= widths[i])."""

    widths: tuple[int, ...]
    cdf: tuple[float, ...]
    widest: int  # prompt + max_source_tokens: the widest input possible, the buckets' cap

    @classmethod
    def of(cls, lengths: list[int], prompt: int, widest: int) -> Profile:
        counts: dict[int, int] = {}
        for n in lengths:
            counts[prompt + n] = counts.get(prompt + n, 0) + 1
        widths, total, running, cdf = tuple(sorted(counts)), len(lengths), 0, []
        for w in widths:
            running += counts[w]
            cdf.append(running / total)
        return cls(widths, tuple(cdf), widest)

    @classmethod
    def full(cls, widest: int) -> Profile:
        """Every input at full length: what the plan assumes where it cannot read the inputs."""
        return cls((widest,), (1.0,), widest)

    def at(self, width: int) -> float:
        """P(a row's width <= width)."""
        i = bisect.bisect_right(self.widths, width)
        return self.cdf[i - 1] if i else 0.0


@functools.lru_cache(maxsize=4096)
def step_widths(parts: tuple[tuple[Profile, int], ...], bucketed: bool) -> tuple[tuple[int, float], ...]:
    """(width, probability) of a step whose rows are `parts` ((profile, rows) each): the widest row's
    width, bucketed (compiled steps) or not."""
    support = sorted({w for profile, _ in parts for w in profile.widths})
    widest = max(profile.widest for profile, _ in parts)
    out: dict[int, float] = {}
    below = 0.0
    for w in support:
        cdf = 1.0
        for profile, rows in parts:
            cdf *= profile.at(w) ** rows
        width = encoder_bucket(w, widest) if bucketed else w
        out[width] = out.get(width, 0.0) + cdf - below
        below = cdf
    return tuple((w, p) for w, p in sorted(out.items()) if p > 0)


def row_widths(profile: Profile, bucketed: bool) -> tuple[tuple[int, float], ...]:
    """(width, probability) of one example's own width: a packed evaluation's passes are sorted by width."""
    return step_widths(((profile, 1),), bucketed)


@dataclass(frozen=True)
class Curve:
    """Relative seconds by encoder width: `points` ((width, seconds at it / seconds at the row's own width))."""

    points: tuple[tuple[int, float], ...] = ()

    @classmethod
    def of(cls, by_width: dict | None, measured_at: int) -> Curve:
        """From a row's {width: seconds}; `measured_at`: the width its examples/s were measured at."""
        if not by_width:
            return cls()
        points = sorted((int(w), float(s)) for w, s in by_width.items())
        base = dict(points).get(measured_at) or _linear(points, measured_at)
        return cls(tuple((w, s / base) for w, s in points))

    def __call__(self, width: float) -> float:
        return _linear(self.points, width) if self.points else 1.0

    def expected(self, widths: tuple[tuple[int, float], ...]) -> float:
        return sum(p * self(w) for w, p in widths)


def _linear(points: list | tuple, x: float) -> float:
    if x <= points[0][0]:
        return points[0][1]
    if x >= points[-1][0]:
        return points[-1][1] * x / points[-1][0]
    i = bisect.bisect_left([w for w, _ in points], x)
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def read_lengths(task: str, model: str, data: str, template: str, max_source_tokens: int,
                 revisions: dict | None = None, hub: bool = False) -> tuple[list[int] | None, str]:
    """Source token lengths (after truncation) of a seeded sample of the task's training examples,
    rendered and tokenized as its trials do; (None, why) where they cannot be read: hub data unless
    `hub` (it downloads the split, as the trials will), a tokenizer that is not here, an unreadable file."""
    if data == "hub" and not hub:
        return None, "hub data (`sweep plan --read-hub-data` reads it)"
    from orchestrator.spec.hub_data import endpoint, hub_silence, offline
    from workers.data import load_examples
    from workers.models import load_tokenizer
    from workers.tasks import get_task

    spec = get_task(task, template)
    if data == "hub" and not offline() and (why := hub_silence(endpoint())):  # each load would retry or wait
        return None, f"the Hugging Face hub at {endpoint()} does not answer ({why})"
    revisions = revisions or {}
    try:
        tokenizer = load_tokenizer(model, revisions.get(model))
    except OSError as err:  # a hub id not downloaded; a local folder without a tokenizer (its own words)
        why = str(err) if Path(model).expanduser().is_dir() else f"the tokenizer of {model} is not here"
        return None, why
    try:
        examples = load_examples(spec, spec.train_split, data, SAMPLE, 0, revisions.get(spec.dataset))
    except (OSError, ValueError) as err:
        return None, f"its data could not be read ({str(err).splitlines()[0]})"
    if not examples:
        return None, "no training examples"
    ids = tokenizer([e.source for e in examples], max_length=max_source_tokens, truncation=True)["input_ids"]
    return [len(row) for row in ids], "read"
