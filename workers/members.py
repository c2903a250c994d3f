"""The member protocol: one Tune trial holds one trial or a pack of several, its *members*.

Everything that names a member, reads its reports or decides how it ended is here, once:

- `Report`: the keys of a member's report to Tune (its epoch's metrics, or an event) and their types;
- `member_key`: a member's id apart from its pack ("cell_id:number", unique in a sweep): checkpoints,
  the scheduler's rungs and the pack board use it; within a Tune trial a member is its index;
- `ending`: the one rule for how a member ended (complete, stopped or failed);
- `left_event`, `joined_event`: the reports that a pack member left, or joined a running pack;
- `MemberBook`: which members of each Tune trial are still open, their last result and how each
  ended. The searcher, the scheduler and the callback each keep one (Tune tells each of them the
  same events), so the three agree by construction.

Ray-free and torch-free: the driver's components and the workers both import it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Literal, TypedDict

Ending = Literal["complete", "stopped", "failed"]
FINISHED: tuple[Ending, ...] = ("complete", "stopped")  # the states whose scores the tables may report

# the report's keys (the metrics of an epoch come with their own names: train/loss, val/<metric>, ...)
MEMBER = "member"  # the member's index in its Tune trial
EPOCH = "epoch"
PEAK = "peak/score"  # the best validation score so far: the Optuna objective and ASHA's rung metric
PEAK_EPOCH = "peak/epoch"
LEFT = "left"  # the member left its pack: complete | stopped | failed
JOINED = "joined"  # a member joined a running pack (continuous packing): its member config, as JSON
EVENT_ONLY = "event_only"  # no metrics of its own (a `left` event, or a re-said last epoch)
ERROR = "error"  # a failed member's traceback
NODE, NODE_ID = "node", "node_id"  # where the Tune trial runs (a lost node is named by them)
COMPILE_ERROR = "compile_error"  # why the pack's compiled step fell back to eager
SNAPSHOT = "snapshot"  # the method's small learned tensors, on the last epoch
ARTEFACTS = "artefacts"  # {"final": [...], "peak": [...]}: the learned prompt (workers/artefacts.py); the
# driver's callback takes it out of the report before anything else sees it
CHECKPOINT_DIR = "checkpoint_dir_name"  # Tune's: the folder of the checkpoint that came with the report

Report = TypedDict("Report", {
    MEMBER: int, EPOCH: int, PEAK: float, PEAK_EPOCH: int, LEFT: Ending, EVENT_ONLY: bool, ERROR: str,
    JOINED: str, NODE: str, NODE_ID: str, COMPILE_ERROR: str, SNAPSHOT: dict, ARTEFACTS: dict, CHECKPOINT_DIR: str,
    "train/loss": float, "trainable_parameters": int, "time/epoch_seconds": float,
    "pack/size": int, "pack/padding": float,
}, total=False)


def member_key(member: dict) -> str:
    """A member's id wherever it is named apart from its pack: (cell, number) is unique in a sweep."""
    return f"{member['cell_id']}:{member['number']}"


def tune_row_id(trial_id: str, index: int, size: int) -> str:
    """What a trial row stores as its Ray trial id: the Tune trial's id, with the member's index in a
    pack ("<id>/<index>")."""
    return trial_id if size == 1 else f"{trial_id}/{index}"


DEFAULT_EPOCHS = 5  # TrialConfig.epochs


def planned_epochs(member: dict) -> int:
    """The epochs a member (a searcher's member config) sets out to run."""
    return int(member.get("trial", {}).get("epochs", DEFAULT_EPOCHS))


def peak_of(result: dict | None) -> float | None:
    """A result's peak score, None when there is none (no epoch finished: NaN or absent)."""
    value = (result or {}).get(PEAK)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def ending(last: dict | None, planned: int, failed: bool = False) -> Ending:
    """How a member ended: failed when it failed or no epoch of it finished; complete when its last
    result is its planned last epoch; else stopped (early stopping ended it)."""
    if failed or peak_of(last) is None:
        return "failed"
    return "complete" if int((last or {}).get(EPOCH, 0)) >= planned else "stopped"


def improves(score: float, best: float) -> bool:
    """The peak rule: an epoch becomes the peak when its validation score beats the best so far (a tie
    keeps the earlier epoch)."""
    return score > best


def running_peaks(scores: dict[int, float]) -> dict[int, tuple[int, float]]:
    """Per epoch, (the peak epoch so far, its score), by `improves`, over {epoch: validation score}."""
    out, best = {}, (0, float("-inf"))
    for epoch in sorted(scores):
        if improves(scores[epoch], best[1]):
            best = (epoch, scores[epoch])
        out[epoch] = best
    return out


def left_event(index: int, epoch: int, how: Ending, best: dict | None, **extra) -> Report:
    """The report that member `index` left the pack after `epoch`: no metrics of its own, its peak so
    far (`best`: {"score", "epoch"}; None when it could not be built)."""
    best = best or {"score": float("nan"), "epoch": 0}
    return {MEMBER: index, EPOCH: epoch, LEFT: how, PEAK: best["score"], PEAK_EPOCH: best["epoch"],
            EVENT_ONLY: True, **extra}


def joined_event(index: int, member: dict) -> Report:
    """The report that a member (a searcher's member config) joined the running pack as member `index`:
    its config as JSON text (Tune flattens nested dicts in results, and drops empty ones), no peak yet."""
    return {MEMBER: index, EPOCH: 0, JOINED: json.dumps(member, sort_keys=True), PEAK: float("nan"), PEAK_EPOCH: 0,
            EVENT_ONLY: True}


def joined_member(result: dict) -> dict | None:
    """The member config a `joined` report carries; None for any other report."""
    return json.loads(result[JOINED]) if JOINED in result else None


@dataclass
class Entry:
    """One member of a Tune trial, as a driver component sees it."""

    index: int
    key: str  # member_key
    config: dict  # the searcher's member config (cell_key, cell_id, number, role, trial, ...)
    last: dict | None = None  # its latest epoch result (events do not replace it)
    ended: Ending | None = None  # None while it is open
    first_epoch: int | None = None  # the first epoch it reported here: past 1, it continued a saved state

    @property
    def planned(self) -> int:
        return planned_epochs(self.config)

    @property
    def role(self) -> str:
        return self.config.get("role", "search")


class MemberBook:
    """The members of every Tune trial: which are open, their last result, how each ended."""

    def __init__(self) -> None:
        self.trials: dict[str, list[Entry]] = {}

    def add(self, trial_id: str, members: list[dict]) -> list[Entry]:
        """A Tune trial's members (its config's `members`); a trial Tune restarts keeps its entries."""
        if trial_id not in self.trials:
            self.trials[trial_id] = [Entry(i, member_key(m), m) for i, m in enumerate(members)]
        return self.trials[trial_id]

    def join(self, trial_id: str, index: int, member: dict) -> Entry | None:
        """A member that joined the running Tune trial as member `index` (continuous packing); said
        again (the searcher books it when it offers it, then its report comes), it is the same entry.
        None for an index out of turn."""
        entries = self.trials.setdefault(trial_id, [])
        if index < len(entries) and entries[index].key == member_key(member):
            return entries[index]
        if index != len(entries):
            return None
        entries.append(Entry(index, member_key(member), member))
        return entries[-1]

    def __contains__(self, trial_id: str) -> bool:
        return trial_id in self.trials

    def entries(self, trial_id: str) -> list[Entry]:
        return self.trials.get(trial_id, [])

    def open(self, trial_id: str) -> list[Entry]:
        return [e for e in self.entries(trial_id) if e.ended is None]

    def report(self, trial_id: str, result: dict) -> Entry | None:
        """A member's report: its entry (None for an index the trial does not have; a `joined` report
        adds its member first, so the three books take it alike), its last result kept unless the
        report is an event, without its artefacts (nested, or flattened by Tune into `artefacts/...`
        keys): the searcher and the scheduler are saved with Tune's experiment state."""
        index = int(result.get(MEMBER, 0))
        if JOINED in result:  # continuous packing: a member that joined the running pack
            self.join(trial_id, index, joined_member(result))
        entries = self.entries(trial_id)
        entry = entries[index] if index < len(entries) else None
        if entry is not None and not result.get(EVENT_ONLY):
            entry.last = {k: v for k, v in result.items() if not k.startswith(ARTEFACTS)}
            if entry.first_epoch is None and EPOCH in result:
                entry.first_epoch = int(result[EPOCH])
        return entry

    def close(self, entry: Entry, how: Ending) -> bool:
        """Mark a member ended; False when it had ended already."""
        if entry.ended is not None:
            return False
        entry.ended = how
        return True

    def end_trial(self, trial_id: str, failed: bool, result: dict | None = None) -> list[Entry]:
        """The Tune trial ended: its open members close (failed if it failed, else by `ending`) and are
        returned; the trial is forgotten. `result`: Tune's last result, a lone member's when it has none."""
        entries = self.trials.pop(trial_id, [])
        closed = []
        for entry in entries:
            if entry.ended is None:
                if entry.last is None and len(entries) == 1:
                    entry.last = result
                entry.ended = ending(entry.last, entry.planned, failed)
                closed.append(entry)
        return closed

    def running(self) -> bool:
        """Whether any Tune trial is still open here."""
        return bool(self.trials)

