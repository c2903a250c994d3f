"""The method-module registry (imports torch). Keys: every config in `workers.methods.METHOD_CONFIGS`
with `trains_prompt`; full fine-tuning has no module (the model itself trains)."""

from __future__ import annotations

from workers.methods.attempt import Attempt
from workers.methods.base import MethodContext, PromptMethod
from workers.methods.configs import MethodConfig
from workers.methods.prompt_tuning import PromptTuning
from workers.methods.residual_prompt import ResidualPrompt
from workers.methods.superpos_prompt import SuperPosPrompt

METHOD_MODULES: dict[str, type[PromptMethod]] = {
    "prompt_tuning": PromptTuning,
    "superpos_prompt": SuperPosPrompt,
    "residual_prompt": ResidualPrompt,
    "attempt": Attempt,
}


def build_method(config: MethodConfig, ctx: MethodContext) -> PromptMethod | None:
    """The method's prompt module, or None for methods that train the model itself."""
    return METHOD_MODULES[config.name](config, ctx) if config.trains_prompt else None
