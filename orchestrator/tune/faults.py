"""What went wrong with a trial, in words a user can act on, when Ray's own words are its internals.

A node that dies under a running trial surfaces as `The actor ... is unavailable: ... RpcError: RPC
error: Socket closed rpc_code: 14. The task may or may not have been executed on the actor.` That
names the mechanism, not the event. The driver asks Ray whether the node that ran the trial is still
alive and puts one plain line at the end of the stored error (the line `sweep status` and the live
progress show); Ray's text stays above it for whoever debugs Ray.
"""

from __future__ import annotations

import re
import time

# Ray's errors for a trial whose worker went away (its process, or the whole node)
WORKER_GONE = ("ActorUnavailableError", "ActorDiedError", "RayActorError", "WorkerCrashedError", "NodeDiedError")
GONE_TEXT = re.compile(r"actor \S+ is unavailable|rpc_code: 14|actor died|node has died|worker died|"
                       r"NodeDiedError|ActorDiedError", re.IGNORECASE)
NODE_CHECK_S = 30.0  # how long the driver waits for Ray to mark a silent node dead (its health checks)


def worker_gone(exc: BaseException | None, text: str) -> bool:
    """Did the trial fail because its worker process or node went away (not because its code raised)?"""
    names = {cls.__name__ for cls in type(exc).__mro__} if exc is not None else set()
    return bool(names & set(WORKER_GONE)) or (exc is None and bool(GONE_TEXT.search(text)))


_known_dead: set[str] = set()  # nodes found dead: the next trial lost with one is told at once


def node_alive(node_id: str | None, wait_s: float = NODE_CHECK_S) -> bool | None:
    """True/False once Ray knows; None when the node is unknown (or Ray is not running here). A node
    whose raylet was killed stays `Alive` until its health checks fail: wait up to `wait_s` for that."""
    if not node_id:
        return None
    if node_id in _known_dead:
        return False
    import ray

    if not ray.is_initialized():
        return None
    deadline = time.monotonic() + wait_s
    while True:
        node = next((n for n in ray.nodes() if n.get("NodeID") == node_id), None)
        if node is None:
            return None
        if not node.get("Alive"):
            _known_dead.add(node_id)
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(1.0)


def explain(text: str, exc: BaseException | None, node: str | None, node_id: str | None, then: str) -> str:
    """`text` with a last line that says what happened and `then` (what happens next, or what to do),
    when the worker went away; else `text` as it is."""
    if not worker_gone(exc, text):
        return text
    where = node or "its node"
    # an unreachable actor (its raylet's socket closed) usually means a dying node: give Ray's health checks
    # time to say so; a worker that died on a live node (killed, out of memory) is told at once
    unreachable = bool(re.search(r"is unavailable|rpc_code: 14", text))
    if node_alive(node_id, NODE_CHECK_S if unreachable else 0.0) is False:
        what = f"NodeLostError: the node that ran this trial was lost ({where}): its Ray processes or its machine stopped"
    else:
        what = (f"WorkerLostError: the worker process that ran this trial on {where} died (killed, out of memory, "
                "or crashed)")
    return f"{text}\n\n{what}; {then}"


def what_next(retrying: bool, retries: int, sweep_id: int | None) -> str:
    """The end of a lost trial's line: what Tune does now, or what the user can do."""
    if retrying:
        return "Tune retries it from its last checkpoint (spec.resources.retries)"
    resume = f"`superpos sweep resume {sweep_id if sweep_id is not None else 'ID'} --retry-failed` runs it again"
    if retries:
        return f"its {retries} retries (spec.resources.retries) are used up; {resume}"
    return f"with spec.resources.retries > 0 Tune would have retried it from its last checkpoint; {resume}"
