"""Load the frozen T5 and its tokenizer: an embedded model, a random-weight architecture preset,
a hub id, or a local directory (see workers/presets.py for the offline ones)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from workers.presets import (
    ARCHITECTURES,
    EMBEDDED_MODELS,
    EMBEDDED_SEED,
    EMBEDDED_WEIGHTS,
    RANDOM_PREFIX,
    T5_TOKENS,
    TOKENIZER_DIR,
)


@dataclass
class LoadedModel:
    model: nn.Module  # a T5ForConditionalGeneration
    tokenizer: object
    name: str
    real_vocab: int  # embedding rows that are real tokens (the rest is padding, never sampled)

    @property
    def d_model(self) -> int:
        return self.model.config.d_model


def embedded_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


def load_tokenizer(name: str, revision: str | None = None):
    """The tokenizer `load_model(name)` would give, without building the model (OSError where a hub
    id's tokenizer cannot be loaded)."""
    if name in EMBEDDED_MODELS or name.startswith(RANDOM_PREFIX):
        return embedded_tokenizer()
    from transformers import AutoTokenizer

    from workers.model_files import folder_problem

    problem = folder_problem(Path(name).expanduser()) if Path(name).expanduser().is_dir() else None
    if problem:  # e.g. no tokenizer files: transformers would hand back an empty tokenizer
        raise OSError(f"model folder {name!r}: {problem}")
    try:
        return AutoTokenizer.from_pretrained(name, revision=revision)
    except (OSError, ValueError) as err:
        raise OSError(f"could not load the tokenizer of {name!r}: {err}") from err


def _build(config_args: dict, tokenizer, device: str | None) -> nn.Module:
    """A T5 from config with seeded random weights. transformers 5 forces tie_word_embeddings=True
    on T5Config, so a v1.1 shape (untied lm_head) is untied here by hand."""
    from transformers import T5Config, T5ForConditionalGeneration

    args = dict(config_args)
    tied = args.get("tie_word_embeddings", True)  # False (v1.1) also turns off decoder-output scaling
    config = T5Config(pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id, **args)
    with torch.random.fork_rng(devices=[]), torch.device(device or "cpu"):
        torch.manual_seed(EMBEDDED_SEED)
        model = T5ForConditionalGeneration(config)
        if not tied:
            # its own draw, as T5's init gives an untied head: N(0, initializer_factor)
            head = torch.empty_like(model.get_input_embeddings().weight).normal_(0.0, config.initializer_factor)
            model.lm_head.weight = nn.Parameter(head)
            model.config.tie_word_embeddings = False
    return model


def _load_embedded_weights(model: nn.Module, name: str) -> None:
    """The learned weights of an embedded model, checked against the sha256 its preset pins."""
    import hashlib

    from safetensors.torch import load

    path, digest = EMBEDDED_WEIGHTS[name]
    if not path.is_file():
        raise FileNotFoundError(f"the weights of {name!r} are missing ({path}); rebuild them with "
                                "`python -m scripts.pretrain_tiny_t5`")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise ValueError(f"{path} does not match the sha256 that workers/presets.py pins for {name!r}; "
                         "restore it from git, or rebuild it with `python -m scripts.pretrain_tiny_t5` and update the pin")
    state = {k: v.float() for k, v in load(data).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}:
        raise ValueError(f"{path} does not fit {name!r}: missing {missing}, unexpected {unexpected}")


def load_model(name: str, device: str | None = None, revision: str | None = None,
               random_weights: bool = False) -> LoadedModel:
    """`device="meta"` builds an offline model without memory (for counting parameters); `revision`:
    the hub revision (branch, tag or commit) of a hub id; `random_weights`: an embedded model with its
    seeded initial weights even where it has learned ones (for the script that pretrains it)."""
    if name in EMBEDDED_MODELS:
        tok = embedded_tokenizer()
        args = {**EMBEDDED_MODELS[name], "vocab_size": -(-len(tok) // 64) * 64}
        model = _build(args, tok, device)
        if name in EMBEDDED_WEIGHTS and not random_weights and device != "meta":
            _load_embedded_weights(model, name)
        return LoadedModel(model, tok, name, len(tok))
    if name.startswith(RANDOM_PREFIX):
        arch = name[len(RANDOM_PREFIX):]
        if arch not in ARCHITECTURES:
            raise ValueError(f"no architecture preset {arch!r}; choose one of: {', '.join(ARCHITECTURES)}")
        return LoadedModel(_build(ARCHITECTURES[arch], embedded_tokenizer(), device), embedded_tokenizer(), name,
                           T5_TOKENS)
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    from workers.checkpoint_heads import restore_untied_head
    from workers.model_files import folder_problem, tokenizer_problem

    folder = Path(name).expanduser()
    problem = folder_problem(folder) if folder.is_dir() else None
    if problem:
        raise ValueError(f"model folder {name!r}: {problem}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, revision=revision)
        model = T5ForConditionalGeneration.from_pretrained(name, revision=revision)
        restore_untied_head(model, name)  # transformers 5 ties T5v1.1's separate lm_head
    except OSError as err:
        raise OSError(
            f"could not load model {name!r}: {err}\nUse an embedded model ({', '.join(EMBEDDED_MODELS)}), "
            f"a random-weight preset ({RANDOM_PREFIX}<id>), a local directory with weights, or a hub id "
            "with network access (unset HF_HUB_OFFLINE)."
        ) from err
    problem = tokenizer_problem(name, len(tokenizer), model.get_input_embeddings().num_embeddings)
    if problem:
        raise ValueError(problem)
    return LoadedModel(model, tokenizer, name, len(tokenizer))


def set_dropout(model: nn.Module, enabled: bool) -> None:
    """Dropout off: every dropout in the model is inactive even in train mode. On: the model's rates."""
    rate = model.config.dropout_rate if enabled else 0.0
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = rate
        elif isinstance(getattr(module, "dropout", None), float):  # T5Attention keeps a float rate
            module.dropout = rate


def freeze(model: nn.Module) -> None:
    for p in model.parameters():
        p.requires_grad_(False)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Unique parameters (a tied weight counts once)."""
    seen = {id(p): p for p in module.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in seen.values())
