"""The schedule a sweep will run, simulated: the GPU-hours and wall time `superpos sweep plan` prints.

The sweep's own searcher (CellSearcher) forms the Tune trials, driven by simulated time instead of
Ray: whenever a slot is free (Tune asks for a trial then), it is asked for the next trial; members
leave and trials end when orchestrator/tune/pack_time.py says, and the searcher is told as Tune would
tell it. So the plan has the run's packs (same task first), replicas that wait for their cell's
search, stage-2 cells that wait for their sources, and the idle slots these waits leave. With
continuous packing, the trials the searcher books in a leaving member's place join the running pack
(its time is then recomputed with them from the step they join at). Slots: the cluster's GPUs
(`--gpus`) or CPUs over a trial's share, capped by max_concurrent_trials.
Every member scores the same (the rates Optuna asks for do not change a trial's length).
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field

from orchestrator.spec import SpecError, SweepSpec
from orchestrator.spec.plan import expand
from orchestrator.tune.pack_time import MemberLoad, PackTime, pack_time
from workers.members import EPOCH, MEMBER, PEAK, PEAK_EPOCH, joined_event, left_event


@dataclass
class PlannedPack:
    members: list[dict]  # the searcher's member configs
    slot: int
    start: float
    time: PackTime


@dataclass
class Schedule:
    packs: list[PlannedPack] = field(default_factory=list)
    slots: int = 1
    wall_s: float = 0.0

    def member_seconds(self) -> list[tuple[dict, float]]:
        return [(m, share) for p in self.packs for m, share in zip(p.members, p.time.shares)]

    def part(self, name: str) -> float:
        return sum(p.time.parts[name] for p in self.packs)

    @property
    def busy_s(self) -> float:
        return sum(p.time.duration for p in self.packs)


class _PlannedSources:
    """A staged sweep's binder, in the plan: every source cell publishes a prompt."""

    def pins(self, chosen):
        return tuple((task, f"planned:{cell_id}:{number}") for task, cell_id, number in chosen)

    def block(self, cell_id, reason):
        pass


def slots(spec: SweepSpec, gpus: float | None = None, cpus: float | None = None) -> int:
    """Trials running at once: the GPUs (or CPUs) over a trial's share, capped by max_concurrent_trials.
    A cluster that holds no trial is refused (SpecError), as `sweep run` would refuse it: a plan of one
    slot there would promise a run that never starts."""
    res = spec.resources
    held = []
    if res.gpus_per_trial:
        held.append(_trials_held(gpus, spec.ray.num_gpus, "GPU", res.gpus_per_trial))
    if not res.gpus_per_trial or cpus:
        held.append(_trials_held(cpus, spec.ray.num_cpus, "CPU", res.cpus_per_trial))
    count = min(held)
    return min(count, res.max_concurrent_trials or count)


def _trials_held(flag: float | None, field: int | None, unit: str, per_trial: float) -> int:
    """How many trials the cluster's GPUs or CPUs hold: from the flag (--gpus, --cpus), else the spec's
    ray.num_gpus / num_cpus, else 1; fewer than one is refused, naming where the figure came from."""
    option, name = f"--{unit.lower()}s", f"spec.ray.num_{unit.lower()}s"
    if flag is not None:
        have, said = flag, f"{option} {flag:g}"
    elif field is not None:
        have, said = field, f"{name}: {field} ({option} N plans another cluster)"
    else:
        have, said = 1, f"the default cluster of 1 {unit} ({option} N plans another)"
    count = math.floor(have / per_trial + 1e-9)
    if count < 1:
        raise SpecError(f"{said} holds no trial: each asks for more (resources.{unit.lower()}s_per_trial "
                        f"{per_trial:g}); plan a larger cluster or lower the trial's share")
    return count


def simulate(spec: SweepSpec, load_of, speeds_of, n_slots: int, pack_sizes: dict[str, int],
             train_sizes: dict[str, int] | None = None) -> Schedule:
    """`load_of(member config)` -> MemberLoad; `speeds_of(member configs)` -> Speeds for that Tune trial;
    `pack_sizes` and `train_sizes` as the sweep gives them to its searcher."""
    from orchestrator.tune.searcher import CellSearcher

    cells = expand(spec)
    searcher = CellSearcher(spec, cells, {c.key: i for i, c in enumerate(cells)}, pack_sizes=pack_sizes,
                            staged=_PlannedSources() if spec.staged else None, train_sizes=train_sizes)
    plan, events, free, ids = Schedule(slots=n_slots), [], list(range(n_slots)), itertools.count()
    shapes: dict[int, set] = {slot: set() for slot in free}  # per worker process: the shapes it compiled
    warm: set[int] = set()  # slots whose worker process has started (Tune reuses it)
    running: dict[str, _Running] = {}

    def timed(trial_id: str, now: float) -> None:
        """(Re)time a running pack from its start with its members so far; its events from `now` on."""
        run = running[trial_id]
        run.seen = set(run.shapes_before)
        run.pack.time = pack_time(run.loads, speeds_of(run.pack.members), run.seen, run.cold, run.offsets)
        run.version += 1
        for i, end in enumerate(run.pack.time.ends):
            if i not in run.left:
                heapq.heappush(events, (max(now, run.pack.start + end), next(ids), "left", trial_id, i, run.version))
        heapq.heappush(events, (run.pack.start + run.pack.time.duration, next(ids), "done", trial_id, -1, run.version))

    def start(now: float) -> None:
        while free:
            trial_id = f"planned_{next(ids)}"
            config = searcher.suggest(trial_id)
            if not isinstance(config, dict):
                return
            slot = free.pop(0)
            members = list(config["members"])
            running[trial_id] = _Running(PlannedPack(members, slot, now, PackTime()), [load_of(m) for m in members],
                                         [0] * len(members), set(shapes[slot]), slot not in warm)
            warm.add(slot)
            plan.packs.append(running[trial_id].pack)
            timed(trial_id, now)

    def joined(trial_id: str, index: int, now: float) -> None:
        """Continuous packing: the searcher booked members in the place of the one that left."""
        run = running[trial_id]
        new = [e.config for e in searcher.book.entries(trial_id)[len(run.pack.members):]]
        for k, member in enumerate(new):  # the worker takes them and says so
            searcher.on_trial_result(trial_id, joined_event(len(run.pack.members) + k, member))
        if new:
            run.pack.members.extend(new)
            run.loads.extend(load_of(m) for m in new)
            run.offsets.extend([run.pack.time.end_steps[index]] * len(new))
            timed(trial_id, now)

    start(0.0)
    while events:
        now, _, kind, trial_id, index, version = heapq.heappop(events)
        run = running.get(trial_id)
        if run is None or version != run.version:  # retimed since: a member joined
            continue
        if kind == "left":
            epochs = run.loads[index].epochs
            best = {"score": 0.5, "epoch": epochs}
            run.left.add(index)
            searcher.on_trial_result(trial_id, {MEMBER: index, EPOCH: epochs, PEAK: 0.5, PEAK_EPOCH: epochs})
            searcher.on_trial_result(trial_id, left_event(index, epochs, "complete", best))
            joined(trial_id, index, now)
        else:
            searcher.on_trial_complete(trial_id)
            shapes[run.pack.slot] = run.seen
            free.append(run.pack.slot)
            free.sort()
            del running[trial_id]
        plan.wall_s = max(plan.wall_s, now)
        start(now)
    return plan


@dataclass
class _Running:
    """A pack the simulation is running: its members' loads, when each joined, and what it compiled."""

    pack: PlannedPack
    loads: list[MemberLoad]
    offsets: list[int]
    shapes_before: set  # its worker's compiled shapes when it started
    cold: bool
    seen: set = field(default_factory=set)
    left: set = field(default_factory=set)  # members whose `left` the searcher has been told
    version: int = 0
