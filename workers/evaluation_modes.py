"""The names of the evaluation modes and protocols (torch-free, so specs validate without torch).
What they do: workers/evaluation.py (modes) and workers/protocols.py (protocols)."""

from __future__ import annotations

EVAL_MODES = ("generate", "rank")
PROTOCOLS = ("paper", "holdout_validation", "holdout_train")
