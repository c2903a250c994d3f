"""The names of a trial's choice options (torch-free, so specs validate without torch). What they do:
workers/evaluation.py (modes), workers/protocols.py (protocols), workers/assembly.py (precisions)."""

from __future__ import annotations

EVAL_MODES = ("generate", "rank")
PROTOCOLS = ("paper", "holdout_validation", "holdout_train")
PRECISIONS = ("fp32", "bf16")
