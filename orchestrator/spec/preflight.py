"""Checks that look at the machine before a sweep spends anything: can every model and every task's
data load here, can Ray be reached, and does the cluster have the resources a trial asks for.

They run after the spec's own checks and before the sweep's row is written, so a sweep that could
never run leaves nothing behind. Each error names the spec key and the fix.
"""

from __future__ import annotations

import difflib
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from orchestrator.spec import SpecError, SweepSpec
from orchestrator.spec.hub_data import HUB_ANSWER_S, bounded, endpoint, first_error_line, hub_data_problems, hub_silence
from orchestrator.spec.storage import storage_problem
from workers.presets import ARCHITECTURES, EMBEDDED_MODELS, RANDOM_PREFIX, is_offline_model
from workers.tasks import get_task

WEIGHT_FILES = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _repo_id(name: str) -> bool:
    """Whether the hub could take `name` as a repo id (one it cannot is refused before any request)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def _model_problem(i: int, name: str) -> str | None:
    if is_offline_model(name):
        return None
    where = f"spec.models[{i}]"
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() or not any(next(path.glob(p), None) for p in WEIGHT_FILES):
            return f"{where}: {name!r} has no config.json and weights (*.safetensors or *.bin); point it at a saved model"
        return _folder_problem(where, path)
    if name.startswith(("/", "./", "../", "~")) or path.exists():  # a path, which the hub took for a bad repo id
        what = "is a file, not a model folder" if path.exists() else "is no folder on this machine"
        return f"{where}: {name!r} {what} ({path.absolute()}); point it at a folder saved with save_pretrained"
    known = [*EMBEDDED_MODELS, *(RANDOM_PREFIX + a for a in ARCHITECTURES)]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    fixes = (f"{hint}use an embedded model ({', '.join(EMBEDDED_MODELS)}), a random-weight preset ({RANDOM_PREFIX}<id>), "
             "a local directory, or download it first")
    if not _offline() and _repo_id(name) and (why := hub_silence(endpoint())):  # each file a trial loads would retry
        return (f"{where}: {name!r} cannot be fetched: the Hugging Face hub at {endpoint()} does not answer ({why}); "
                "check the network (and HF_ENDPOINT); where it is in the local Hugging Face cache, set HF_HUB_OFFLINE=1 to "
                f"load it from there; or {fixes}")
    try:
        from transformers.utils import cached_file

        bounded(lambda: cached_file(name, "config.json"), HUB_ANSWER_S)
    except Exception as err:  # noqa: BLE001 - every kind of failure means the trials cannot load it
        reason = "not in the local Hugging Face cache and HF_HUB_OFFLINE is set" if _offline() else \
            f"cannot be fetched ({first_error_line(err)})"
        return f"{where}: {name!r} {reason}; {fixes}"
    return None


def _folder_problem(where: str, folder: Path) -> str | None:
    """Weights cut short, no tokenizer, or a tokenizer that is not the model's (workers/model_files.py)."""
    import json

    from workers.model_files import folder_problem, tokenizer_problem

    problem = folder_problem(folder)
    if problem is None:
        from transformers import AutoTokenizer

        try:
            rows = json.loads((folder / "config.json").read_text()).get("vocab_size")
            tokens = len(AutoTokenizer.from_pretrained(folder))
        except Exception as err:  # noqa: BLE001 - a damaged config or tokenizer file: the trials would fail the same way
            return f"{where}: {folder}: its config or tokenizer does not load ({type(err).__name__}: {err})"
        problem = rows and tokenizer_problem(str(folder), tokens, int(rows))
    return f"{where}: {problem}" if problem else None


def _local_data_problems(spec: SweepSpec) -> list[str]:
    """A local data folder: every split a trial reads must parse and hold the task's columns and labels
    (the spec's checks only found the files). Read in full once here, as each trial would read it."""
    data = str(spec.training.get("data", "demo"))
    if data in ("demo", "hub"):
        return []
    from workers.data import local_split_problem

    template = spec.training.get("template", "reference")
    problems = []
    for name in spec.tasks:
        task = get_task(name, template)
        for split in (task.train_split, task.validation_split):
            problem = local_split_problem(task, split, Path(data).expanduser())
            if problem:
                problems.append(f"spec.training.data: {problem}; fix or replace the file (every trial would fail on it)")
    return problems


def check_environment(spec: SweepSpec) -> None:
    """Models, data and Tune's storage folder: raise SpecError listing every problem."""
    problems = [p for i, name in enumerate(spec.models) if (p := _model_problem(i, name))]
    problems += hub_data_problems(spec) + _local_data_problems(spec)
    problems += [p for p in [storage_problem(spec)] if p]
    if problems:
        raise SpecError(problems)


def unreachable(address: str, timeout: float = 3.0, default_port: int | None = None) -> str | None:
    """None, or why a TCP connection to the address's host and port fails (in seconds, not after a
    client's retries); an address without a host or a port is left to its client."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    port = parsed.port or default_port
    if not parsed.hostname or not port:
        return None
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    except OSError as err:
        return str(err.strerror or err)
    return None


def silent(url: str, timeout: float) -> str | None:
    """None if an HTTP GET of `url` gets any answer (an error status or an auth proxy's 401 included)
    within `timeout` seconds, else why not: a server that takes connections and never answers passes
    `unreachable` and then holds its client for minutes."""
    import requests

    try:
        requests.get(url, timeout=timeout)
    except requests.Timeout:
        return f"no answer within {timeout:g} s"
    except requests.RequestException as err:
        return type(err).__name__
    return None


def check_not_a_job(spec: SweepSpec) -> None:
    """A spec that starts a local Ray, run as a Ray job's entrypoint (`ray job submit -- superpos sweep
    run ...`), would start a second Ray on the job's node and leave the cluster idle. Ray Jobs set
    RAY_JOB_CONFIG_JSON_ENV_VAR for an entrypoint (ray/_private/runtime_env/constants.py)."""
    if not spec.ray.joins_cluster and os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR"):
        raise SpecError(f"spec.ray.address: {spec.ray.address or 'null'} starts a Ray of this process's own, and "
                        "this runs as a job on a Ray cluster, which would stay idle: set `ray: {address: auto}` "
                        "(without num_cpus/num_gpus) to run the trials on the cluster")


def _auto_address() -> tuple[str, str]:
    """What `auto` joins, as ray.init finds it, and where it came from; a SpecError where it finds none,
    or RAY_ADDRESS holds a dashboard's URL (as `ray job submit` takes it): Ray's own errors came after
    the store was opened, with a hint about tokens."""
    from orchestrator.spec.ray_token import resolve_auto

    found = os.environ.get("RAY_ADDRESS", "")
    if found.lower().startswith(("http://", "https://")):
        raise SpecError(f"spec.ray.address: auto joins the cluster that RAY_ADDRESS names, and RAY_ADDRESS is {found}, "
                        "a dashboard's (Jobs API) address: unset it on a Ray node, or set it to the head's GCS "
                        "(HOST:6379); `superpos sweep submit --address` is where the dashboard's address goes")
    try:
        address = resolve_auto()
    except ConnectionError:
        raise SpecError("spec.ray.address: auto joins a running Ray cluster (the one RAY_ADDRESS names, else one "
                        "that `ray start` started on this machine), and there is none: start one (`ray start "
                        "--head`), export RAY_ADDRESS=HEAD:6379, or set ray.address: null to start a Ray of this "
                        "sweep's own") from None
    return address, "RAY_ADDRESS" if found else "the Ray found on this machine"


def check_address(address: str | None, timeout: float = 3.0) -> None:
    """A cluster address that refuses connections fails in seconds, not after Ray's retries; so does
    `auto` that finds no cluster, or a dashboard's URL in RAY_ADDRESS. Before the store opens."""
    if not address or address == "local":
        return
    said = address
    if address == "auto":
        address, source = _auto_address()
        said = f"{address} (auto: {source})"
    why = unreachable(address, timeout)
    if why:
        raise SpecError(f"spec.ray.address: cannot reach {said} ({why}); is the head running "
                        "(`ray status` on it) and the address right?")


def _no_gpus(need: float, have: str) -> SpecError:
    return SpecError(f"spec.resources.gpus_per_trial: {need:g} but no node has that many GPUs ({have}); "
                     "set gpus_per_trial: 0 to train on CPUs, or join a cluster with GPUs (spec.ray.address)")


def check_local_gpus(spec: SweepSpec) -> None:
    """Before a local Ray starts (seconds, not a Ray start): this machine must hold one trial's GPUs,
    counted as Ray will count them (spec.ray.num_gpus, else the accelerators it detects, within
    CUDA_VISIBLE_DEVICES). A cluster's are asked once joined (check_resources)."""
    need = spec.resources.gpus_per_trial
    if not need or spec.ray.joins_cluster:
        return
    try:
        from ray._private.resource_and_label_spec import ResourceAndLabelSpec

        manager, count = ResourceAndLabelSpec._get_current_node_accelerator(spec.ray.num_gpus, {})
    except Exception:  # noqa: BLE001 - Ray's internals moved: check_resources asks the started node
        return
    have = count if manager is not None and manager.get_resource_name() == "GPU" else spec.ray.num_gpus or 0
    if have < need:
        raise _no_gpus(need, f"this machine: {have:g} GPUs" + (" (spec.ray.num_gpus)" if spec.ray.num_gpus is not None
                                                                else ", as Ray detects them"))


def check_resources(spec: SweepSpec) -> None:
    """After Ray started: some node must hold one trial's CPUs and GPUs, or Tune would wait forever."""
    import ray

    need = {"CPU": spec.resources.cpus_per_trial, "GPU": spec.resources.gpus_per_trial}
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(all(node.get(k, 0) >= v for k, v in need.items() if v) for node in nodes):
        return
    total = ray.cluster_resources()
    have = f"{len(nodes)} node(s), {total.get('CPU', 0):g} CPUs, {total.get('GPU', 0):g} GPUs in all"
    if need["GPU"] and not any(node.get("GPU", 0) >= need["GPU"] for node in nodes):
        raise _no_gpus(need["GPU"], have)
    raise SpecError(f"spec.resources.cpus_per_trial: {need['CPU']:g} but no node has that many CPUs ({have}); "
                    "lower cpus_per_trial or raise spec.ray.num_cpus")
