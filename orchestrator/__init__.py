"""superpos's orchestrator: the spec and plan (spec/), the Tune run (tune/), the command line (cli/).

The four packages (orchestrator, workers, db, dashboard) are installed under their own names (the
README's "Packaging" says why); a foreign package of one of those names that Python finds first would
make superpos run someone else's code, so importing the orchestrator checks that its siblings are its own.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


def _check_siblings() -> None:
    for name in ("workers", "db", "dashboard"):
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
        if origin is None or origin.parent.parent != _ROOT:
            raise ImportError(f"superpos's package {name!r} is not the one Python finds "
                              f"({origin or 'none found'}, expected {_ROOT / name}): another package named {name!r} "
                              "comes first on sys.path; install superpos in a virtual environment of its own")


_check_siblings()
