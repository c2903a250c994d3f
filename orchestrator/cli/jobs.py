"""Sweeps on a Ray cluster through Ray's own Jobs API: submit (the driver runs on the cluster) and
cancel (a submitted job, or a local run by its process id).

The job's working directory is this project (uploaded by Ray, without `.git`), its entrypoint runs
through the interpreter (`python -m orchestrator.cli`, not a `superpos` that the head's PATH may lack),
and the submitting checkout's commit and dirty flag travel as environment variables, so the sweep
records where its code came from.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid

from orchestrator.tune.provenance import REPO, git_state

# not uploaded with the job: environments, stores, Ray's and Tune's own files, editor state
UPLOAD_EXCLUDES = [".venv", ".git", "*.db", "*.db-wal", "*.db-shm", "exports", "build", "dist", "*.egg-info",
                   "__pycache__", ".pytest_cache", ".whl", ".gl"]
STOP_GRACE_S = 60  # how long `ray job stop` waits after SIGTERM before SIGKILL: the driver stores the sweep
# Ray's Jobs client has no timeout of its own: a host that takes connections and never answers (a stale SSH
# tunnel, a hung head) kept `sweep submit`, `status`, `list` and `cancel` waiting for minutes
JOBS_API_TIMEOUT_S = 10.0
# the submitting shell's Hugging Face settings that the job's driver and trials load with (a token stays
# behind: a job's runtime environment is shown by `ray job list` and Ray's dashboard)
FORWARDED = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME", "HF_ENDPOINT")


def check_jobs_api(address: str) -> None:
    """ValueError unless the Jobs API at `address` answers (anything, 401 included) within JOBS_API_TIMEOUT_S."""
    from orchestrator.spec.preflight import silent

    why = silent(f"{address.rstrip('/')}/api/version", JOBS_API_TIMEOUT_S)
    if why:
        raise ValueError(f"cannot reach the Ray Jobs API at {address} ({why}): is the head running with its "
                         "dashboard, and is this its address (e.g. an SSH tunnel to its port 8265)?")


def auth_warning(address: str) -> str | None:
    """A loud warning when the Jobs API answers without a token: anyone who reaches that port can run
    code on the cluster."""
    import requests

    try:
        answer = requests.get(f"{address.rstrip('/')}/api/jobs/", timeout=5)
    except requests.RequestException:
        return None  # the submission itself will say what is wrong with the address
    if answer.status_code != 200:
        return None
    return (f"WARNING: the Ray cluster at {address} accepts requests without a token: anyone who can reach "
            "this port can run code on it. Start the head with token authentication (RAY_AUTH_MODE=token "
            "ray start --head, after `ray get-auth-token --generate`), keep its dashboard/Jobs port on a private "
            "network or an SSH tunnel, and submit with RAY_AUTH_MODE=token and the token "
            "(RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token).")


def token_file_warning() -> str | None:
    """A warning when the Ray token file this process uses can be read by other users of the machine
    (`ray get-auth-token --generate` writes it 0644): whoever reads it can run code on the cluster."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token" and not os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return None
    path = os.path.expanduser(os.environ.get("RAY_AUTH_TOKEN_PATH") or "~/.ray/auth_token")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # no file: Ray itself says what is missing
    if not mode & 0o077:
        return None
    return (f"WARNING: the Ray token file {path} is readable by other users (mode {mode & 0o777:o}); anyone who "
            f"reads it can run code on the cluster. Make it private: chmod 600 {path}")


def submit(spec_text: str, name: str, address: str, db_url: str) -> str:
    """Submit `superpos sweep run` as a Ray job (to a Jobs API that check_jobs_api found answering);
    returns the job's submission id."""
    from ray.job_submission import JobSubmissionClient

    commit, dirty = git_state()
    job_id = f"superpos-{uuid.uuid4().hex[:10]}"
    # the spec travels as a variable: a file staged in the project would be left out of the upload
    # (Ray honours .gitignore) or show up in `git status`
    # the store's URL too: the entrypoint runs in a shell, which split a path with a space and ran what
    # followed a URL's `&` as a command of its own, while the submit said "submitted"
    env = {"SUPERPOS_SPEC": spec_text, "SUPERPOS_DB": db_url, "SUPERPOS_SPEC_NAME": name, "SUPERPOS_JOB_ID": job_id, "SUPERPOS_JOB_ADDRESS": address, "SUPERPOS_GIT_COMMIT": commit or "",
           "SUPERPOS_GIT_DIRTY": "1" if dirty else "0", "RAY_JOB_STOP_WAIT_TIME_S": str(STOP_GRACE_S),
           "RAY_USAGE_STATS_ENABLED": "0"}
    for name in FORWARDED:
        if name in os.environ:
            env[name] = os.environ[name]
    try:
        client = JobSubmissionClient(address)  # the caller has asked check_jobs_api: Ray's client has no timeout
    except (ConnectionError, RuntimeError) as err:
        raise ValueError(f"cannot reach the Ray Jobs API at {address}: {err}. Is the head running with its "
                         "dashboard, and does this shell have RAY_AUTH_MODE=token and the cluster's token?") from None
    deadline = time.monotonic() + 60
    while True:  # a head that has just started answers "no available agent" for a few seconds
        try:
            return client.submit_job(
                entrypoint="python -m orchestrator.cli sweep run env:SUPERPOS_SPEC",  # --db: $SUPERPOS_DB
                submission_id=job_id,
                runtime_env={"working_dir": str(REPO), "excludes": UPLOAD_EXCLUDES, "env_vars": env},
            )
        except RuntimeError as err:
            if "No available agent" not in str(err) or time.monotonic() > deadline:
                raise ValueError(f"the cluster at {address} refused the job: {err}") from None
            time.sleep(2)


def cancel(details: dict) -> str:
    """Ask a running sweep to stop: its Ray job, or its local driver process. Returns what was done."""
    if details["job_id"] and details["job_address"]:
        from ray.job_submission import JobSubmissionClient

        check_jobs_api(details["job_address"])
        JobSubmissionClient(details["job_address"]).stop_job(details["job_id"])
        return f"asked Ray to stop job {details['job_id']} at {details['job_address']}"
    from db import driver

    host, _, pid = (details["driver"] or "").rpartition(":")
    if not pid.isdigit():
        raise ValueError("the store does not say which process runs this sweep; stop it where it runs (Ctrl-C)")
    if host != socket.gethostname():
        raise ValueError(f"the sweep runs on {host} (process {pid}); run `superpos sweep cancel` there")
    gone = ValueError(f"no process {pid} on this machine: the sweep's driver is gone; `superpos sweep resume` "
                      "continues it")
    state = driver.local_state(details["driver"])
    if state == driver.GONE:
        raise gone
    if state == driver.UNKNOWN:  # never a signal to a program that only took the driver's pid
        raise ValueError(f"process {pid} is not a superpos driver (its command line names neither superpos nor "
                         "orchestrator.cli): the sweep's driver is gone, or runs in a notebook: stop it there")
    try:
        os.kill(int(pid), signal.SIGTERM)
    except ProcessLookupError:  # it ended since it was looked up
        raise gone from None
    return f"sent SIGTERM to the sweep's driver (process {pid})"


def driver_state(details: dict) -> str:
    """Whether a sweep stored as running still has its driver (db/driver.py): a submitted one's Ray job
    is asked (UNKNOWN when the cluster does not answer), a local one's process looked up."""
    from db import driver

    if details["job_id"] and details["job_address"]:
        try:
            from ray.job_submission import JobStatus, JobSubmissionClient

            check_jobs_api(details["job_address"])  # in seconds: Ray's client has no timeout of its own
            status = JobSubmissionClient(details["job_address"]).get_job_status(details["job_id"])
        except Exception:  # noqa: BLE001 - unreachable, no token, unknown job: nothing can be told
            return driver.UNKNOWN
        return driver.ALIVE if status in (JobStatus.PENDING, JobStatus.RUNNING) else driver.GONE
    return driver.local_state(details["driver"])


def wait_until_stopped(read_state, timeout: float = STOP_GRACE_S + 30) -> str:
    """Poll the stored state until it is no longer `running`."""
    deadline = time.monotonic() + timeout
    state = read_state()
    while state == "running" and time.monotonic() < deadline:
        time.sleep(1)
        state = read_state()
    return state
