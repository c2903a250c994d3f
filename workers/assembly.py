"""Put a trial's model together: frozen T5 (or not, for full fine-tuning) + method + optimizer groups.

Shared by the trial function, `superpos model info`, the benchmarks and the tests, so all of them
measure the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workers.methods.base import MethodContext
from workers.methods.configs import MethodConfig
from workers.methods.modules import build_method
from workers.models import LoadedModel, count_parameters, freeze, load_model, set_dropout
from workers.prompt_model import PromptedT5
from workers.tasks import TaskSpec


@dataclass
class Assembled:
    model: PromptedT5
    loaded: LoadedModel
    param_groups: list[dict]

    @property
    def trainable_parameters(self) -> int:
        return count_parameters(self.model, trainable_only=True)


def method_context(loaded: LoadedModel, task: TaskSpec | None = None,
                   source_prompts: dict | None = None) -> MethodContext:
    tok = loaded.tokenizer

    def pieces(text: str) -> list[int]:
        return tok(text, add_special_tokens=False)["input_ids"]

    return MethodContext(
        embeddings=loaded.model.get_input_embeddings().weight,
        real_vocab=loaded.real_vocab,
        special_ids=tuple(tok.all_special_ids),
        label_token_ids=[pieces(w) for w in task.label_words] if task else [],
        tokenize=pieces,
        source_prompts=source_prompts,
    )


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}  # keys: workers.trial.PRECISIONS


def assemble(model_name: str, method_cfg: MethodConfig, dropout: bool, task: TaskSpec | None = None,
             device: str | None = None, precision: str = "fp32", loaded: LoadedModel | None = None,
             source_prompts: dict | None = None) -> Assembled:
    """`precision` for a prompt method casts the frozen T5 (its weights never change); the method's own
    parameters stay float32 and its prompt is cast to the model's dtype when prepended. Full
    fine-tuning trains the T5's weights, so they stay float32 (master weights, and so the optimizer's
    state) and `precision` is the compute dtype (autocast): in bfloat16 weights, AdamW's updates at
    lr 1e-5 fall below a weight's last bit and most round away. `loaded`: an already loaded model to
    use (workers/cache.py), else it is loaded here. `source_prompts`: source task -> (n, d) prompt, for
    a method that mixes prompts trained before (ATTEMPT)."""
    loaded = loaded or load_model(model_name, device=device)
    dtype = DTYPES[precision]
    loaded.model.to(dtype if method_cfg.trains_prompt else torch.float32)
    autocast = None if method_cfg.trains_prompt or dtype == torch.float32 else dtype
    set_dropout(loaded.model, dropout)
    if method_cfg.trains_prompt:
        freeze(loaded.model)
    method = build_method(method_cfg, method_context(loaded, task, source_prompts))
    if method is None:
        groups = [{"params": list(loaded.model.parameters()), "weight_decay": method_cfg.weight_decay}]
    else:
        groups = method.param_groups(method_cfg.weight_decay)
    return Assembled(PromptedT5(loaded.model, method, autocast), loaded, groups)
