"""How long one Tune trial runs (one trial, or a pack of members): the planner's model of workers/pack.py.

Every step of a pack steps each member still in it (run_pack); a member whose epoch ends is evaluated,
together with the others whose epochs end in the same step (packed evaluation), then goes on or leaves
after its last epoch. So a pack runs in phases between epoch ends:

- a step of the k members stepping costs their rows at the measured speed-up of k stacked batches over
  one eager trial (throughput.json `packing`, interpolated between the measured pack sizes); a compiled
  pack computes `row_bucket` rows (filler included), an eager one exactly its members' rows; at the
  step's width, the widest of its rows' (orchestrator/tune/input_widths.py: from the inputs' lengths
  where they were read, else full length), priced by the row's measured width curve;
- an epoch end costs the ending members' validation examples at the unpacked rate, divided by the
  measured speed-up of evaluating that many together (1 where it is not measured; a compiled pack's
  own curve where the table has one), each example at its own width (a member's evaluation, alone
  or with others, sorts its examples by width into passes); a compiled pack evaluating two or more
  members together compiles its encoder once per width bucket its inputs reach and once for the
  short last pass, per token budget (their evaluation batches x widest inputs: workers/packed_eval.py);
- a compiled pack compiles each new stacked shape once per worker process (Tune reuses its actors):
  each encoder width bucket its steps are expected to reach at least once (every bucket up to the
  widest input where the lengths were not read), per row count, at the measured seconds per shape;
- each member costs a start-up (model and data set-up) and, per epoch, its checkpoint and report, and
  a worker process its first start (imports, the model's first load), where the table has them
  measured (`overheads`);
- with continuous packing, members join the running pack after the step a member left at
  (`offsets`; orchestrator/tune/schedule.py asks the searcher which), set up then.

Early stopping is not modelled (it only ends members sooner) nor are failures and retries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from orchestrator.tune.input_widths import Curve, Profile, row_widths, step_widths
from workers.shapes import encoder_widths, row_bucket


@dataclass(frozen=True)
class MemberLoad:
    """What one member asks of its pack."""

    model: str
    method: str
    batch: int  # its batch size
    steps_per_epoch: int
    epochs: int
    eval_examples: int  # per epoch
    train_s: float  # seconds per training example, one eager trial alone (0 where not measured)
    eval_s: float  # seconds per evaluated example, one trial alone
    widest: int  # the widest encoder input: prompt tokens + max_source_tokens

    train_examples: int = 0  # per epoch (0: full batches); the last batch of an epoch may be smaller
    eval_batch: int = 64  # its evaluation batch size
    profile: Profile | None = None  # its inputs' widths; None: not read (every input at full length)
    train_cost: Curve = Curve()  # a step's seconds by width, relative to train_s's width (none: 1x)
    eval_cost: Curve = Curve()

    @property
    def widths(self) -> Profile:
        return self.profile or Profile.full(self.widest)

    @property
    def steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    @property
    def rows(self) -> float:
        """Examples per step, on average over an epoch."""
        return self.train_examples / self.steps_per_epoch if self.train_examples else self.batch


@dataclass(frozen=True)
class Speeds:
    """The measured figures a pack's time is built from (for one compile setting)."""

    train: dict[int, float]  # members stepping -> aggregate speed-up over one eager trial
    eval: dict[int, float] = field(default_factory=lambda: {1: 1.0})  # members evaluated together -> speed-up
    compiled: bool = False
    compile_s: float = 0.0  # per new stacked shape, per worker process
    own_model: bool = False  # the trial trains its own T5 (full fine-tuning): its shapes compile anew
    eval_compile_s: float = 0.0  # per new shape of a packed evaluation's compiled encoder
    trial_s: float = 0.0  # start-up per member (its model cached in the worker)
    worker_s: float = 0.0  # a new worker process's start: imports, the model's first load
    epoch_s: float = 0.0  # per member epoch: checkpoint and report


@dataclass
class PackTime:
    duration: float = 0.0
    ends: list[float] = field(default_factory=list)  # when each member leaves, from the pack's start
    end_steps: list[int] = field(default_factory=list)  # the pack step after which each member leaves
    shares: list[float] = field(default_factory=list)  # each member's share of the pack's time (seconds)
    parts: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("train", "eval", "compile", "start-up"), 0.0))
    eval_groups: dict[int, int] = field(default_factory=dict)  # evaluated examples by how many members evaluated together


def interpolate(curve: dict[int, float], k: float) -> float:
    """The curve at k members: linear between measured sizes, flat beyond the largest; from (0, 0)
    below the smallest when that is above 1, i.e. never more than measured."""
    points = sorted(curve.items())
    if k >= points[-1][0]:
        return points[-1][1]
    below = max(((n, v) for n, v in points if n <= k), default=(0, 0.0))
    above = min((n, v) for n, v in points if n > k)
    if below[0] == 0:
        return above[1] * k / above[0] if above[0] > 1 else above[1]
    return below[1] + (above[1] - below[1]) * (k - below[0]) / (above[0] - below[0])


def _step_seconds(members: list[MemberLoad], active: list[int], speeds: Speeds,
                  full: int) -> tuple[float, int, tuple[tuple[int, float], ...]]:
    """One pack step of the `active` members: (seconds, rows computed, (width, probability) of its width)."""
    loads = [members[i] for i in active]
    widths = step_widths(tuple((m.widths, m.batch) for m in loads), speeds.compiled)
    train_s = [m.train_s * m.train_cost.expected(widths) for m in loads]
    if speeds.compiled:
        rows = row_bucket([m.batch for m in loads], full)
        return rows * (sum(train_s) / len(loads)) / interpolate(speeds.train, rows / max(m.batch for m in loads)), rows, widths
    return (sum(m.rows * s for m, s in zip(loads, train_s)) / interpolate(speeds.train, len(loads)),
            sum(m.batch for m in loads), widths)


def _new_shapes(hits: dict, loads: list[MemberLoad], key: tuple, uses: dict[int, float]) -> set:
    """The shapes `key + (width,)` compiled so far: where every member's lengths were read, those whose
    expected uses (`uses` by width, added to `hits`) reach one half; else every bucket up to their
    widest input (an upper bound)."""
    if not all(m.profile for m in loads):
        return {(*key, w) for w in encoder_widths(max(m.widest for m in loads))}
    for w, n in uses.items():
        hits[(*key, w)] = hits.get((*key, w), 0.0) + n
    return {shape for shape, n in hits.items() if shape[:len(key)] == key and n >= 0.5}


def _eval_seconds(member: MemberLoad, packed: bool, compiled: bool) -> float:
    """One epoch's evaluation of `member` at the unpacked rate: its examples sorted by width into passes
    (workers/packed_eval.py, alone or `packed` with others), each at its own width, bucketed when a
    compiled pack evaluates several together."""
    return member.eval_examples * member.eval_s * member.eval_cost.expected(row_widths(member.widths, compiled and packed))


def pack_time(members: list[MemberLoad], speeds: Speeds, compiled_shapes: set | None = None,
              cold: bool = False, offsets: list[int] | None = None) -> PackTime:
    """The pack's phases, end to end. `compiled_shapes`: the (model, rows, width) shapes its worker
    process has compiled already (updated here); `cold`: the first Tune trial of a new worker process;
    `offsets`: the pack step after which each member joined (continuous packing; default 0: at the start)."""
    n, out = len(members), PackTime()
    offsets = offsets or [0] * n
    first = speeds.worker_s / offsets.count(0) if cold else 0.0  # shared by the members it starts with
    out.ends, out.shares = [0.0] * n, [0.0] * n
    out.end_steps = [offsets[i] + members[i].steps for i in range(n)]
    full = max(sum(members[i].batch for i in range(n) if offsets[i] <= step < out.end_steps[i])
               for step in {0, *offsets})  # the most rows stepping at once: row_bucket's cap
    seen = compiled_shapes if compiled_shapes is not None and not speeds.own_model else set()
    points = sorted({offsets[i] + e * members[i].steps_per_epoch for i in range(n) for e in range(1, members[i].epochs + 1)})
    joining: dict[int, list[int]] = {}
    for i, offset in enumerate(offsets):
        joining.setdefault(offset, []).append(i)
    now, before, phase, hits, eval_s = 0.0, 0, None, {}, {}
    for point in points:
        for i in joining.get(before, ()):  # members join (are set up) when their offset is reached, one after another
            cost = speeds.trial_s + (first if before == 0 else 0.0)
            out.shares[i] += cost
            out.parts["start-up"] += cost
            now += cost
        active = [i for i in range(n) if offsets[i] <= before < out.end_steps[i]]
        if not active:
            break
        if active != phase:  # members left or joined: a new phase (else its step, and its shapes, compiled)
            phase, (step, rows, widths) = active, _step_seconds(members, active, speeds, full)
        compiles = set()
        if speeds.compiled:  # the shapes this segment's steps reach, once compiled
            compiles = _new_shapes(hits, [members[i] for i in active], (members[active[0]].model, rows),
                                   {w: p * (point - before) for w, p in widths}) - seen
            seen |= compiles
        spent = (point - before) * step
        out.parts["train"] += spent
        for i in active:
            out.shares[i] += spent / len(active)
        now += spent + _compiled(out, compiles, speeds.compile_s, active)  # the segment's new shapes
        ending = [i for i in active if (point - offsets[i]) % members[i].steps_per_epoch == 0 and point <= out.end_steps[i]]
        together = interpolate(speeds.eval, len(ending))
        if speeds.compiled and len(ending) > 1:  # packed evaluation's encoder passes, one shape per bucket
            new = _eval_shapes([members[i] for i in ending], hits) - seen
            seen |= new
            now += _compiled(out, new, speeds.eval_compile_s, ending)
        for i in ending:
            key = (i, len(ending) > 1)
            if key not in eval_s:
                eval_s[key] = _eval_seconds(members[i], key[1], speeds.compiled)
            cost = eval_s[key] / together + speeds.epoch_s
            out.eval_groups[len(ending)] = out.eval_groups.get(len(ending), 0) + members[i].eval_examples
            out.parts["eval"] += cost
            out.shares[i] += cost
            now += cost
        for i in ending:
            if point == out.end_steps[i]:
                out.ends[i] = now
        before = point
    out.duration = now
    return out


def _compiled(out: PackTime, shapes: set, seconds: float, among: list[int]) -> float:
    """Seconds compiling `shapes`, counted in the pack's compile time and shared by the members `among`."""
    spent = len(shapes) * seconds
    out.parts["compile"] += spent
    for i in among:
        out.shares[i] += spent / len(among)
    return spent


def _eval_shapes(ending: list[MemberLoad], hits: dict) -> set:
    """The shapes a packed evaluation of these members compiles at their token budget: each width
    bucket their inputs reach (every bucket up to their widest input where the lengths were not read:
    an upper bound), and the pool's short last pass."""
    key = (ending[0].model, "eval", sum(m.eval_batch * m.widest for m in ending))
    uses: dict[int, float] = {}
    for m in ending:
        for w, p in row_widths(m.widths, True):
            uses[w] = uses.get(w, 0.0) + p * m.eval_examples
    return _new_shapes(hits, ending, key, uses) | {(*key, "last")}


def steps_per_epoch(train_examples: int, batch: int) -> int:
    return max(1, math.ceil(train_examples / batch))
