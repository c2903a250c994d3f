"""The method registry (configs only: importing this module imports no torch).

A method is a config class here and a module class in `workers.methods.modules`; both registries
are plain dicts keyed by the same snake_case id, and tests are parametrized over them.
"""

from __future__ import annotations

from typing import Any

from workers.methods.configs import (
    AttemptConfig,
    FullFinetuneConfig,
    MethodConfig,
    PromptTuningConfig,
    ResidualPromptConfig,
    SuperPosPromptConfig,
)

METHOD_CONFIGS: dict[str, type[MethodConfig]] = {
    cls.name: cls for cls in (PromptTuningConfig, SuperPosPromptConfig, ResidualPromptConfig, AttemptConfig,
                           FullFinetuneConfig)
}


def get_method_config(name: str, params: dict[str, Any] | None = None) -> MethodConfig:
    """Build a validated config; errors name the bad value and the allowed ones."""
    try:
        cls = METHOD_CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(sorted(METHOD_CONFIGS))}") from None
    return cls.from_dict(dict(params or {}))
