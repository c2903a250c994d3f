"""Tune's storage (`ray.storage_path`), checked before the store opens: a folder this machine can create
and write, or a URI whose filesystem takes a file as Tune will write it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestrator.spec import SweepSpec

STORAGE_ANSWER_S = 30.0  # a URI's filesystem that hangs (gs:// without credentials still waited after 50 s, until killed)
_STORAGE_PROBE = """
import os, sys
import pyarrow.fs
try:
    fs, path = pyarrow.fs.FileSystem.from_uri(sys.argv[1])
    fs.create_dir(path, recursive=True)
    name = path.rstrip("/") + "/.superpos-write-check-" + str(os.getpid())
    with fs.open_output_stream(name) as out:
        out.write(b"")
    fs.delete_file(name)
except Exception as err:
    sys.exit(" ".join(str(err).split())[:200] or type(err).__name__)
"""


def _uri_problem(uri: str) -> str | None:
    """Tune's storage at a URI, tried as Tune opens it (pyarrow's filesystem from the URI): a folder made,
    a file written and removed. A bucket that cannot be reached failed inside Tune, the sweep stored failed.
    In a process of its own, ended at STORAGE_ANSWER_S: a thread left waiting on S3 held this process's
    exit for another 70 s."""
    try:
        done = subprocess.run([sys.executable, "-c", _STORAGE_PROBE, uri], capture_output=True, text=True,
                              timeout=STORAGE_ANSWER_S)
    except subprocess.TimeoutExpired:
        why = f"no answer within {STORAGE_ANSWER_S:g} s"
    else:
        why = None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["failed"])[-1]
    if why is None:
        return None
    return (f"spec.ray.storage_path: {uri!r} cannot be used as Tune's storage ({why}); check its name, credentials "
            "and network, or give a folder every node sees")


def storage_problem(spec: SweepSpec) -> str | None:
    """Tune's storage folder must be a folder this machine can create and write, or a URI whose
    filesystem takes a file."""
    path = spec.ray.storage_path
    if not path:
        return None
    if "://" in path:
        return _uri_problem(path)
    folder = Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".superpos-write-check-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as err:
        what = "is a file, not a folder" if folder.is_file() else f"cannot be created or written ({err.strerror or err})"
        return f"spec.ray.storage_path: {path!r} {what}; point it at a folder (or null for ~/ray_results)"
    return None
