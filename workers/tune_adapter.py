"""The Ray Tune trainable: a thin adapter around `run_trial` and `run_pack` (the only worker module
that imports Ray).

A Tune trial holds one trial or a pack of several (`config["members"]`, see orchestrator/tune/searcher.py);
every report names its member (`member`: the index) and a pack member's last report says it `left`
(the protocol: workers/members.py).
Each report goes to Tune with a checkpoint holding every member's latest state (keyed by cell and
number), so a trial that Tune retries (`resources.retries`) or that a resumed sweep continues
(`resume_from`, the stored checkpoint of an interrupted trial) starts after its last finished epoch;
members that had left are not run again.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any

from workers.machine import hardware
from workers.members import LEFT, MEMBER, NODE, NODE_ID, joined_event, member_key
from workers.trial import TrialConfig, run_trial

STATE_FILE = "trial_state.pt"


class TrialFailure(RuntimeError):
    """A trial's exception as its full traceback text (`.traceback_text`), so the driver stores the
    trial's own traceback rather than Ray's wrapping of it."""

    def __init__(self, traceback_text: str):
        lines = traceback_text.strip().splitlines()
        super().__init__(lines[-1] if lines else "trial failed")
        self.traceback_text = traceback_text

    def __reduce__(self):
        return TrialFailure, (self.traceback_text,)


def load_state(directory: str | Path) -> dict:
    import torch

    return torch.load(Path(directory) / STATE_FILE, map_location="cpu", weights_only=True)


def checkpoint_exists(path: str) -> bool:
    """Whether a stored checkpoint can be read here; paths on a remote filesystem (`s3://...`) are
    taken on trust (the trial that reads it says so if it cannot)."""
    return "://" in path or (Path(path) / STATE_FILE).is_file()


def checkpoint_problem(path: str, key: str) -> str | None:
    """Why member `key` cannot continue from the stored checkpoint at `path` (it is gone, unreadable, or
    holds no state for that member: a pack checkpoint written before every member's state was kept in
    it), or None. Read memory-mapped, so a full fine-tuning checkpoint's weights are not loaded; paths
    on a remote filesystem are taken on trust (as in `checkpoint_exists`)."""
    import torch

    if "://" in path:
        return None
    if not checkpoint_exists(path):
        return "no longer exists (Tune's storage folder was moved or deleted?)"
    try:
        saved = torch.load(Path(path) / STATE_FILE, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same answer
        return f"cannot be read ({type(exc).__name__}: {exc})"
    if not isinstance(saved, dict) or member_state(saved, key) is None:
        return "holds no state for it (a pack checkpoint written before each member's state was kept)"
    return None


def ray_node() -> tuple[str, str]:
    """(this Ray node in a few words: host, node id, address, the CPUs and GPUs Ray gives it, the
    device; its node id). Two nodes on one host stay two."""
    import ray

    node_id = ray.get_runtime_context().get_node_id()
    info = next((n for n in ray.nodes() if n.get("NodeID") == node_id), {})
    res = info.get("Resources", {})
    return (f"{platform.node()} Ray node {node_id[:8]} at {info.get('NodeManagerAddress', '?')} "
            f"({res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs; {hardware()})"), node_id


def member_state(saved: dict, key: str) -> dict | None:
    """A member's state in a checkpoint (a one-trial checkpoint of an earlier version is its state)."""
    if "members" not in saved:
        return saved
    return saved["members"].get(key)


class _Checkpoints:
    """The pack's checkpoint: every member's latest state, which members have left, and the member
    configs of those that joined the running pack (continuous packing), so that a retry runs them too."""

    def __init__(self, keys: list[str], restored: dict | None):
        self.keys = keys
        self.states: dict[str, dict] = dict((restored or {}).get("members", {}))
        self.left: set[str] = set((restored or {}).get("left", []))
        self.joined: list[dict] = list((restored or {}).get("joined", []))

    def save(self, index: int, state: dict) -> None:
        self.states[self.keys[index]] = state

    def resumed(self, index: int, member: dict, restored: dict | None) -> dict | None:
        """Where member `index` continues from (`_resume_state`, or None): the pack's checkpoints hold
        that state from now on, also those written before the member's first epoch here. The store names
        each report's checkpoint for every member of the pack, so a member absent from it would start
        over on the next resume."""
        state = _resume_state(member, restored)
        if state is not None:
            self.states.setdefault(self.keys[index], state)
        return state

    def folder(self) -> str:
        import torch

        folder = tempfile.mkdtemp(prefix="superpos-ckpt-")
        torch.save({"members": self.states, "left": sorted(self.left), "joined": self.joined}, Path(folder) / STATE_FILE)
        return folder


def tune_trainable(config: dict[str, Any]) -> None:
    """`config["members"]`: each with a TrialConfig dict (`trial`); every member's epoch goes to
    `tune.report` with the trial's checkpoint."""
    import torch
    from ray import tune

    torch.set_num_threads(int(config.get("threads", 1)))  # the CPUs Tune gave this trial, not the machine's
    checkpoint, restored = tune.get_checkpoint(), None
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            restored = load_state(folder)
    book = _Checkpoints([], restored if restored is not None and "members" in restored else None)
    members = [*config["members"], *book.joined]  # a retried pack runs the members that had joined it too
    keys = book.keys = [member_key(m) for m in members]
    resume = {i: state for i, member in enumerate(members)
              if (state := book.resumed(i, member, restored)) is not None}
    node, node_id = ray_node()  # the callback records which nodes ran the sweep (and names a lost one)

    def report(index: int, metrics: dict) -> None:
        if LEFT in metrics:
            book.left.add(keys[index])
        folder = book.folder()
        try:
            tune.report({**metrics, MEMBER: index, NODE: node, NODE_ID: node_id},
                        checkpoint=tune.Checkpoint.from_directory(folder))
        finally:  # Tune has copied the checkpoint into the run's storage by now
            shutil.rmtree(folder, ignore_errors=True)

    running = [i for i, key in enumerate(keys) if key not in book.left]
    cfgs = [TrialConfig.from_dict(members[i]["trial"]) for i in running]
    try:
        lone = len(running) == 1 and not config.get("board")  # a pack (with its board) stays one: members may join
        if lone and (not config.get("compile") or not cfgs[0].method_config().trains_prompt):
            _solo(cfgs[0], running[0], report, book, resume.get(running[0]), bool(config.get("cache", True)),
                  config.get("compile", False))
        elif running:
            _pack(cfgs, running, report, book, resume, config, members, restored)
    except Exception:
        raise TrialFailure(traceback.format_exc()) from None


def _resume_state(member: dict, restored: dict | None) -> dict | None:
    """Where a member continues from: its state in the Tune trial's own checkpoint (a retry), else in
    the stored checkpoint of the interrupted trial it continues (`resume_from`), else None."""
    key = member_key(member)
    state = member_state(restored, key) if restored is not None else None
    if state is None and member.get("resume_from"):
        if not checkpoint_exists(member["resume_from"]):  # the driver saw it: this node does not
            raise FileNotFoundError(f"the checkpoint {member['resume_from']} that {member['cell_key']} "
                                    f"#{member['number']} continues from is not readable on {platform.node()}; "
                                    "every node must see spec.ray.storage_path (a shared filesystem)")
        state = member_state(load_state(member["resume_from"]), key)
    return state


def _solo(cfg: TrialConfig, index: int, report, book: _Checkpoints, state: dict | None, cache: bool,
          compile: bool | str = False) -> None:
    """One trial on its own model (full fine-tuning, or an uncompiled prompt trial alone): the unpacked
    path. Its reports never say `left`: it is complete only when this function returns (its outputs
    saved), and anything that raises after its last report fails it (orchestrator/tune/callback.py
    closes the row then). `compile`: full fine-tuning's T5 compiled (workers/trial.py run_trial)."""
    run_trial(cfg, report=lambda metrics: report(index, metrics), save_state=lambda s: book.save(index, s),
              resume_state=state, cache=cache, compile=compile)


def _pack(cfgs: list[TrialConfig], running: list[int], report, book: _Checkpoints, resume: dict, config: dict,
          members: list[dict], restored: dict | None) -> None:
    import ray
    from ray import tune

    from workers.pack import run_pack

    board = ray.get_actor(config["board"]) if config.get("board") else None
    trial_id = tune.get_context().get_trial_id()

    def leave(j: int) -> bool:
        return board is not None and ray.get(board.is_stopped.remote(book.keys[running[j]]))

    def admit() -> list[tuple[TrialConfig, dict | None]]:
        """The members the searcher offers in place of those that left (continuous packing): each is
        said to the driver (`joined`, with the checkpoint that names it) before it trains."""
        out = []
        for member in ray.get(board.take.remote(trial_id)) if board is not None else []:
            index = len(members)
            members.append(member)
            book.keys.append(member_key(member))
            book.joined.append(member)
            running.append(index)
            try:  # read before the report below, whose checkpoint the store names for this member too
                state, unreadable = book.resumed(index, member, restored), None
            except FileNotFoundError as err:
                state, unreadable = None, err
            report(index, joined_event(index, member))
            if unreadable is not None:  # raised once the driver knows the member joined: it fails with the pack
                raise unreadable
            out.append((TrialConfig.from_dict(member["trial"]), state))
        return out

    run_pack(cfgs, lambda j, m: report(running[j], m), lambda j, s: book.save(running[j], s),
             {j: resume[i] for j, i in enumerate(running) if i in resume}, cache=bool(config.get("cache", True)),
             compile=bool(config.get("compile")), leave=leave, admit=admit)
