"""Starting a local Ray or joining a cluster for a sweep's driver, with what Ray and Tune print cut
to what a user needs (orchestrator/tune/quiet.py) and the warnings about a cluster's authentication."""

from __future__ import annotations

import logging
import sys

from orchestrator.spec import SpecError, SweepSpec
from orchestrator.tune.callback import first_line
from orchestrator.tune.quiet import (
    TUNE_LOGGERS,
    DropTuneNoise,
    quiet_raylet_deaths,
    quiet_token_notice,
    skip_unsent_usage_tag,
)

# a local Ray starts no idle workers ahead of its first driver's tasks: Tune's trial actors carry a runtime
# env of their own (Tune's env_vars), so they never take one (measured: two `ray::IDLE` processes per start,
# unused, each importing Ray beside the trials' own start-up)
_LOCAL_SYSTEM_CONFIG = {"prestart_worker_first_driver": False}


def start_ray(spec: SweepSpec) -> bool:
    """Start a local Ray (or join spec.ray.address, which run_sweep has checked answers); True if this
    call started it."""
    import ray

    if ray.is_initialized():
        return False
    quiet_token_notice()
    try:
        if spec.ray.joins_cluster:
            ray.init(address=spec.ray.address, log_to_driver=False)
        else:
            # 'local', not the spec's null: Ray reads null as "RAY_ADDRESS, else the cluster `ray start` left on
            # this machine" and then refused the local settings below ("When connecting to an existing cluster ...")
            ray.init(address="local", num_cpus=spec.ray.num_cpus, num_gpus=spec.ray.num_gpus,
                     include_dashboard=False, object_store_memory=200 * 1024**2, log_to_driver=False,
                     _system_config=_LOCAL_SYSTEM_CONFIG)
    except Exception as err:  # noqa: BLE001 - connection, auth and start-up failures all end here
        raise SpecError(_not_started(spec, first_line(str(err)))) from None
    for name in TUNE_LOGGERS:
        logging.getLogger(name).addFilter(DropTuneNoise())
    quiet_raylet_deaths()
    skip_unsent_usage_tag()
    from orchestrator.cli.jobs import token_file_warning

    warning = token_file_warning() if spec.ray.joins_cluster else None
    if warning:
        print(warning, file=sys.stderr)
    if spec.ray.joins_cluster and not _token_auth():
        print("WARNING: joined a Ray cluster that has token authentication off: anyone who reaches its ports can "
              "run code on it. Start the head with RAY_AUTH_MODE=token (see the README's cluster section) and "
              "attach with RAY_AUTH_MODE=token and its token.", file=sys.stderr)
    return True


def _not_started(spec: SweepSpec, why: str) -> str:
    """What a Ray that did not start or connect is told: a cluster's address and token, or this machine."""
    if spec.ray.joins_cluster:
        return (f"spec.ray.address: Ray did not connect to {spec.ray.address} ({why}). A cluster with token "
                "authentication needs RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) "
                "in this shell")
    return (f"spec.ray: a local Ray did not start on this machine ({why}). Its processes and files live under "
            "RAY_TMPDIR (default /tmp/ray): is that a folder this user can write, with free disk? A raylet that "
            "does not register within 30 s means the machine is overloaded: run again once it is less busy")


def _token_auth() -> bool:
    """Does this process use token authentication (then the cluster it joined requires it too)?"""
    try:
        from ray._private.authentication.authentication_utils import is_token_auth_enabled
    except ImportError:  # a Ray without token authentication
        return False
    return is_token_auth_enabled()
