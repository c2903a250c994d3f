"""The spec and the plan: a sweep spec read and checked (sweep.py with its schema.py and text.py), the
grid it expands to (plan.py), and the checks against the machine before anything starts (preflight.py)."""

from orchestrator.spec.schema import LimitSpec, OptunaSpec, RaySpec, ResourceSpec, SchedulerSpec, TrainingSpec
from orchestrator.spec.sweep import SpecError, SweepSpec, load_spec, parse_spec

__all__ = ["SpecError", "SweepSpec", "parse_spec", "load_spec", "OptunaSpec", "SchedulerSpec", "ResourceSpec",
           "RaySpec", "LimitSpec", "TrainingSpec"]
