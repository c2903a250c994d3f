"""Can a `data: hub` sweep's trials load every task's dataset from here? Asked before anything starts;
the probe of the hub and the bounds on its answers serve the model check (preflight.py) as well.

Offline (datasets' own setting: HF_DATASETS_OFFLINE, else HF_HUB_OFFLINE) every dataset must be in the
local cache. Online the hub must answer first (one probe, shared with the model check): with HF_ENDPOINT
at a closed port each trial's `load_dataset` retried for about 23 s and failed, trial after trial; at a
port that takes connections and never answers, the sweep's first trial still waited after 600 s, its
store open and Ray started (measured 2026-12-08). Then each dataset's builder is resolved as the trials
will resolve it (at the spec's revision), so a revision that does not exist is named here.
"""

from __future__ import annotations

import functools

HUB_PROBE_S = 10.0  # seconds the hub has to answer one request before it is taken for unreachable
# the bound on one model's config.json or one dataset's builder once the hub has answered the probe (a hub
# that takes connections and never answers kept the model check waiting past 300 s)
HUB_ANSWER_S = 60.0


def bounded(call, seconds: float):
    """call()'s result or exception, or TimeoutError("no answer within N s") when it has not returned
    within `seconds`; its daemon thread is then left behind (the process ends soon after, with an error)."""
    import threading

    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as err:  # noqa: BLE001 - handed to the caller as it is
            outcome.append((False, err))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if not outcome:
        raise TimeoutError(f"no answer within {seconds:g} s")
    done, value = outcome[0]
    if not done:
        raise value  # type: ignore[misc]
    return value


FIXES = "or use data: demo or a local directory laid out like the hub's"


def offline() -> bool:
    """The datasets library's offline switch, read as it reads it (HF_DATASETS_OFFLINE wins over
    HF_HUB_OFFLINE, in either direction)."""
    from datasets import config

    return bool(config.HF_HUB_OFFLINE)


def endpoint() -> str:
    """The hub's address as huggingface_hub (through which models and datasets download) reads HF_ENDPOINT:
    without a trailing slash, which datasets' own copy keeps."""
    from huggingface_hub import constants

    return constants.ENDPOINT


@functools.cache
def hub_silence(at: str) -> str | None:
    """None where the hub at `at` (an endpoint) answers one small API request within HUB_PROBE_S (any
    status counts: a proxy's 401 too), else why not; asked once per process and endpoint, for models and
    datasets alike, through huggingface_hub's own HTTP session (its proxies, certificates and headers are
    the ones the trials' downloads go through)."""
    from huggingface_hub.utils import get_session

    try:
        get_session().get(f"{at}/api/datasets?limit=1", timeout=HUB_PROBE_S)
    except Exception as err:  # noqa: BLE001 - the session's transport errors: no HTTP answer came
        if "timeout" in type(err).__name__.lower():
            return f"no answer within {HUB_PROBE_S:g} s"
        return first_error_line(err)
    return None


def first_error_line(err: BaseException, limit: int = 200) -> str:
    return f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:limit]}"


def hub_data_problems(spec) -> list[str]:
    """The spec's `data: hub` problems, as lines that name spec.training.data and the fix; [] for
    other data sources."""
    if spec.training.get("data", "demo") != "hub":
        return []
    from datasets import load_dataset_builder

    from workers.tasks import TASKS

    tasks = [TASKS[name] for name in spec.tasks]
    is_offline = offline()
    if not is_offline and (why := hub_silence(endpoint())):
        return [f"spec.training.data: hub: the Hugging Face hub at {endpoint()} does not answer ({why}); check the network "
                "(and HF_ENDPOINT); where the datasets are in the local cache, set HF_DATASETS_OFFLINE=1 to read them "
                f"from there; {FIXES}"]
    revisions = spec.training.get("revisions", {})
    failed = []
    for task in tasks:
        try:
            bounded(lambda t=task: load_dataset_builder(t.dataset, t.config, revision=revisions.get(t.dataset)),
                    HUB_ANSWER_S)
        except Exception as err:  # noqa: BLE001 - every kind of failure means the trials cannot load it
            failed.append(f"{task.name} ({task.dataset}/{task.config}" + ("" if is_offline else f": {first_error_line(err, 120)}")
                          + ")")
            if isinstance(err, TimeoutError):
                break  # the hub stopped answering: the other datasets would wait as long
    if not failed:
        return []
    if is_offline:
        return [f"spec.training.data: hub datasets not in the local cache while offline: {', '.join(failed)}; "
                f"download them once with network access (unset HF_DATASETS_OFFLINE there), {FIXES}"]
    return [f"spec.training.data: hub datasets that cannot be loaded from {endpoint()} (check the network and "
            f"spec.training.revisions, {FIXES}): {', '.join(failed)}"]  # the advice first: a long line is cut
