"""Several trials trained together on one shared frozen T5: a pack.

Most of a prompt-tuning sweep is the same frozen model run again and again with different small
prompts; one trial's batch leaves a GPU mostly idle (the step is launch-bound). A pack stacks its
members' batches into one forward and backward pass (workers/packed_step.py). Each member keeps its
own prompt module, optimizer, seeded data order, evaluation, reports, state and early-stopping
decision (workers/member.py); members may differ in method, task, options, learning rate and seed,
and advance through their epochs at their own pace (tasks differ in size). A member leaves the pack
when it has run its epochs, when `leave(i)` says so after one of its reports (the sweep's early
stopping), or when it fails on its own (its evaluation raised): the others go on.

Exactness: with dropout off and fp32, a member's losses and prompt equal the same trial run alone up
to float rounding (tests/test_pack.py checks 1e-5). With dropout on, the masks are drawn from the
one random stream of the stacked batch, so a member's masks differ from the ones it would draw
alone: the same distribution, not the same numbers.

Members must share the frozen model (model, precision, dropout, device); full fine-tuning trains
the model itself and is never packed.
"""

from __future__ import annotations

import traceback
import warnings
from collections import deque
from collections.abc import Callable
from typing import Any

import torch

from workers.member import Member, frozen_model
from workers.members import EPOCH, LEFT, MEMBER, left_event
from workers.packed_step import PackStats, packed_losses
from workers.shapes import row_bucket
from workers.trial import TrialConfig

PackReport = Callable[[int, dict[str, Any]], None]
SHARED = ("model", "precision", "dropout", "device")


def check_pack(cfgs: list[TrialConfig]) -> None:
    """A clear error before anything is loaded: members must share the frozen model."""
    if not cfgs:
        raise ValueError("a pack needs at least one trial")
    for name in SHARED:
        values = sorted({str(getattr(c, name)) for c in cfgs})
        if len(values) > 1:
            raise ValueError(f"the trials of a pack share one frozen model; they differ in {name} ({', '.join(values)})")
    tuned = sorted({c.method for c in cfgs if not c.method_config().trains_prompt})
    if tuned:
        raise ValueError(f"{', '.join(tuned)} trains the model itself and cannot share it: run it alone (pack size 1)")


def _allow_recompiles(limit: int) -> None:
    """Dynamo keeps 8 graphs per function by default, then runs eager; bucketed shapes need more
    (the setting's name changed across torch versions)."""
    import torch._dynamo

    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, max(getattr(torch._dynamo.config, name), limit))


class StepForward:
    """The T5's forward, compiled when asked; a compile that fails falls back to eager with a warning."""

    def __init__(self, t5, compile: bool | str):
        self.t5, self.compiled, self.error = t5, None, None  # error: why compiling was given up
        if compile:
            backend = "inductor" if compile is True else compile
            try:
                _allow_recompiles(256)  # one graph per bucketed shape: the step's widths x row counts, evaluation's widths
                self.compiled = torch.compile(t5, backend=backend, dynamic=False)
            except Exception as err:  # noqa: BLE001 - any failure to set up compiling means eager
                self.fall_back(err)

    @property
    def active(self):
        return self.compiled if self.compiled is not None else self.t5

    def fall_back(self, err: BaseException) -> None:
        self.error = f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
        warnings.warn(f"compiling the model failed ({self.error}); training goes on without compiling", RuntimeWarning,
                      stacklevel=2)
        self.compiled = None


def evaluate_members(t5, tokenizer, members: dict[int, Member], ending: list[int], device, on: bool,
                     encoder: StepForward | None = None) -> dict[int, dict]:
    """member -> split -> metrics for the members whose epochs end now, evaluated together
    (workers/packed_eval.py; `encoder`: the T5's encoder, compiled in a compiled pack, whose passes
    then take bucketed shapes); {} when fewer than two end or `on` is false, and when the packed
    evaluation fails, so that each member evaluates alone and a failure stays its own. A compiled
    encoder that fails falls back to eager once, with a warning."""
    if not on or len(ending) < 2:
        return {}
    from workers.packed_eval import evaluate_together

    keys = [(i, split, job) for i in ending for split, job in members[i].eval_jobs().items()]
    jobs = [job for _, _, job in keys]
    try:
        try:
            compiled = encoder is not None and encoder.compiled is not None
            results = evaluate_together(t5, tokenizer, jobs, device, encoder.active if compiled else None, compiled)
        except Exception as err:
            if not compiled:
                raise
            encoder.fall_back(err)
            results = evaluate_together(t5, tokenizer, jobs, device)
    except Exception:  # noqa: BLE001 - each member then evaluates alone (its own error, if any)
        return {}
    out: dict[int, dict] = {}
    for (i, split, _), result in zip(keys, results):
        out.setdefault(i, {})[split] = result
    return out


def run_pack(cfgs: list[TrialConfig], report: PackReport, save_state: Callable[[int, dict], None] | None = None,
             resume_states: dict[int, dict] | None = None, cache: bool = False, compile: bool | str = False,
             leave: Callable[[int], bool] | None = None, packed_eval: bool = True,
             admit: Callable[[], list[tuple[TrialConfig, dict | None]]] | None = None) -> dict[int, dict]:
    """Train the pack; `report(i, metrics)` per member epoch (with `member`, and `left` on a member's
    last report: complete, stopped or failed, the latter with `error`). `save_state(i, state)` before
    each of those reports; `resume_states[i]` continues member i after its saved epoch. `compile`:
    True (inductor) or a torch.compile backend name; widths are then bucketed and the batch padded to
    a bucketed number of rows that shrinks as members leave (packed_step.row_bucket). `packed_eval`:
    members whose epochs end in the same step are evaluated together (workers/packed_eval.py; off:
    one after another), compiled too when `compile` is set. `admit()`, asked whenever members have
    left: (config, resume state or None) of the trials that join the running pack now (continuous
    packing), numbered on from the last member. Returns each finished member's peak and final results."""
    check_pack(cfgs)
    first = cfgs[0]
    loaded = frozen_model(first, first.method_config(), cache)
    t5, device = loaded.model, next(loaded.model.parameters()).device
    forward = StepForward(t5, compile)
    encoder = StepForward(t5.get_encoder(), compile)  # packed evaluation's encoder passes
    members: dict[int, Member] = {}
    # left: members that left since `admit` was last asked; 1 at the start, so that a retried pack takes
    # what was offered to it before its worker went away
    stats, results, left, numbered = PackStats(), {}, [1], [len(cfgs)]
    active, epoch, queue = [], {}, {}
    shape = {"rows": 0, "widest": 0}  # compiled: the full pack's rows (row_bucket's cap); the widest input

    def say(i: int, metrics: dict) -> None:
        """`report`, counting the members that leave."""
        report(i, metrics)
        left[0] += LEFT in metrics

    def build(i: int, cfg: TrialConfig) -> None:
        try:  # a member whose data or method cannot be set up fails alone
            check_pack([first, cfg])
            members[i] = Member.build(cfg, cache=cache, loaded=loaded)
        except Exception:  # noqa: BLE001
            say(i, left_event(i, 0, "failed", None, error=traceback.format_exc()))

    def fail(i: int, epoch_done: int) -> None:
        say(i, left_event(i, epoch_done, "failed", members[i].best, error=traceback.format_exc()))

    def finish(i: int, metrics: dict) -> bool:
        """A member that ran its epochs is complete once its outputs are saved: only then does its
        last report say so; a failure here fails it alone (its checkpoint holds every epoch)."""
        try:
            members[i].save_outputs()
        except Exception:  # noqa: BLE001 - this member fails alone; the pack goes on
            fail(i, metrics[EPOCH])
            return False
        say(i, left_event(i, metrics[EPOCH], "complete", members[i].best))
        return True

    def end_epoch(i: int, evaluated: dict | None = None) -> None:
        member, done = members[i], epoch[i] >= members[i].cfg.epochs
        try:
            extra = {"pack/size": len(active), "pack/padding": stats.padding}
            if forward.error or encoder.error:  # the driver says it once: a worker's warnings do not reach the terminal
                extra["compile_error"] = forward.error or f"evaluation: {encoder.error}"
            metrics = member.end_epoch(epoch[i], extra, evaluated)
        except Exception:  # noqa: BLE001 - this member fails alone; the pack goes on
            active.remove(i)
            fail(i, epoch[i] - 1)
            return
        if save_state is not None:
            save_state(i, member.state(epoch[i]))
        say(i, {**metrics, MEMBER: i})  # on its last epoch, `left` follows once its outputs are saved
        if done:
            active.remove(i)
            if finish(i, metrics):
                results[i] = member.result()
        elif leave is not None and leave(i):
            active.remove(i)
            say(i, left_event(i, epoch[i], "stopped", member.best))
        else:
            epoch[i] += 1
            queue[i] = deque(member.train_batches(epoch[i]))
        t5.train()  # evaluation switched the shared model to eval mode

    def start(i: int, state: dict | None) -> None:
        member = members.get(i)
        if member is None:  # it failed to set up
            return
        if state is not None:
            member.restore(state)
        if member.first_epoch > member.cfg.epochs:  # it had run its epochs: say so again, then finish it
            say(i, {**member.last_report(), MEMBER: i})
            if finish(i, member.history[-1]):
                results[i] = member.result()
            return
        active.append(i)
        epoch[i] = member.first_epoch
        queue[i] = deque(member.train_batches(epoch[i]))
        shape["rows"] = max(shape["rows"], sum(members[j].cfg.batch_size for j in active))
        shape["widest"] = max(shape["widest"], member.cfg.max_source_tokens + (member.method.n_tokens if member.method else 0))

    def join() -> None:
        """Members that left make room: the trials `admit` gives join now, numbered on."""
        while admit is not None and left[0]:
            left[0] = 0
            for cfg, state in admit():
                i, numbered[0] = numbered[0], numbered[0] + 1
                build(i, cfg)
                start(i, state)

    for i, cfg in enumerate(cfgs):
        build(i, cfg)
    for i in range(len(cfgs)):
        start(i, (resume_states or {}).get(i))
    join()
    while active:
        ending = [i for i in active if not queue[i]]
        evaluated = evaluate_members(t5, loaded.tokenizer, members, ending, device, packed_eval, encoder)
        for i in ending:
            end_epoch(i, evaluated.get(i))
        join()
        if not active:
            break
        full_rows, widest = (shape["rows"] if compile else None), shape["widest"]  # compiled: row_bucket's cap
        stepping = list(active)
        parts = [(members[i].method, queue[i].popleft()) for i in stepping]
        rows = None if full_rows is None else row_bucket([members[i].cfg.batch_size for i in stepping], full_rows)
        try:
            losses = packed_losses(t5, forward.active, parts, device, rows, stats, widest)
            torch.stack(losses).sum().backward()
        except Exception as err:
            if forward.compiled is None:
                raise
            for i in stepping:
                members[i].optimizer.zero_grad(set_to_none=True)
            forward.fall_back(err)
            losses = packed_losses(t5, forward.active, parts, device, rows, stats, widest)
            torch.stack(losses).sum().backward()
        for i, loss in zip(stepping, losses):
            members[i].step(loss)
    return results
