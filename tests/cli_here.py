"""`superpos ...` run in this process: its exit code, stdout and stderr, as `subprocess.run` gives them.

For the tests of what a command prints and returns. A second interpreter costs about 2 CPU-seconds
of imports per command (pandas, SQLAlchemy, the CLI), which is most of such a test; the console
script and `python -m orchestrator.cli` themselves run as subprocesses in tests/test_cli.py,
tests/test_packaging.py and the sweep tests (tests/sweep_cli.py)."""

from __future__ import annotations

import contextlib
import io
import subprocess


def superpos(*args) -> subprocess.CompletedProcess:
    from orchestrator.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse: --help, or a usage error
            code = exit_.code if isinstance(exit_.code, int) else 1
    return subprocess.CompletedProcess(["superpos", *argv], code, out.getvalue(), err.getvalue())
