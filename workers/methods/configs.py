"""Method configs: what each method's knobs are, their defaults and their checks. Imports no torch,
so the orchestrator can validate a sweep spec without building a model.

Defaults of learning rate and weight decay are the paper's (SuperPos-Prompt, PMLR §3, App. A.2).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from typing import Any, ClassVar


@dataclass(frozen=True)
class MethodConfig:
    """Base of every method config. `from_dict` rejects unknown keys by name."""

    name: ClassVar[str]
    has_m: ClassVar[bool] = False  # does the grid's m dimension apply?
    trains_prompt: ClassVar[bool] = True  # False: no prompt; the model itself trains (full fine-tuning)
    needs_sources: ClassVar[bool] = False  # True: it mixes source prompts trained before (ATTEMPT)
    planned_like: ClassVar[str | None] = None  # unmeasured: `sweep plan` uses this method's throughput
    lr: float = 0.01
    weight_decay: float = 0.01

    def __post_init__(self) -> None:
        for key in ("lr", "weight_decay"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"{self.name}: {key} must be a number, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"{self.name}: lr must be > 0, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ValueError(f"{self.name}: weight_decay must be >= 0, got {self.weight_decay!r}")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MethodConfig:
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ValueError(
                f"{cls.name}: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(cls.field_names())}"
            )
        return cls(**values)


def _check_choice(method: str, key: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{method}: {key} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def _check_positive_int(method: str, key: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{method}: {key} must be a positive integer, got {value!r}")


def _check_sampling(config: MethodConfig) -> None:
    """The options every method that samples vocabulary rows shares."""
    if not isinstance(config.sampling_seed, int) or isinstance(config.sampling_seed, bool):
        raise ValueError(f"{config.name}: sampling_seed must be an integer, got {config.sampling_seed!r}")
    if config.sample_first_k is not None:
        _check_positive_int(config.name, "sample_first_k", config.sample_first_k)


@dataclass(frozen=True)
class PromptTuningConfig(MethodConfig):
    """Simple prompt tuning (Lester et al. 2021): a free (n, d_model) prompt matrix."""

    name: ClassVar[str] = "prompt_tuning"
    n_tokens: int = 10
    # sampled_vocab: n unique sampled vocabulary embeddings; class_labels: the task's label words first
    # (mean embedding of each word's pieces), the rest sampled; text: the pieces of init_text, repeated;
    # uniform: U(-a, a) at the embedding table's scale
    init: str = "sampled_vocab"
    init_text: str | None = None
    sampling_seed: int = 0  # which vocabulary rows are sampled; fixed across tasks and runs
    sample_first_k: int | None = None  # sample among the first k ids only (Lester: 5000); None = all real tokens
    INITS: ClassVar[tuple[str, ...]] = ("sampled_vocab", "class_labels", "text", "uniform")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive_int(self.name, "n_tokens", self.n_tokens)
        _check_choice(self.name, "init", self.init, self.INITS)
        if self.init == "text" and not self.init_text:
            raise ValueError(f"{self.name}: init 'text' needs init_text (the words to start from)")
        _check_sampling(self)


@dataclass(frozen=True)
class SuperPosPromptConfig(MethodConfig):
    """SuperPos-Prompt: p_i = E_i p'_i, each E_i (d_model x m) starting from the same m sampled embeddings.

    Weight decay applies to p'_i only; E_i gets none (paper, App. A.2).
    """

    name: ClassVar[str] = "superpos_prompt"
    has_m: ClassVar[bool] = True
    weight_decay: float = 1e-5
    n_tokens: int = 10
    m: int = 128
    sampling_seed: int = 0
    sample_first_k: int | None = None
    pprime_init: str = "uniform"  # U(-1/sqrt(m), 1/sqrt(m)), like nn.Linear's input scale | "zeros"
    softmax: bool = False  # ablation p_i = E_i softmax(p'_i): lost badly in the paper, off by default
    PPRIME_INITS: ClassVar[tuple[str, ...]] = ("uniform", "zeros")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive_int(self.name, "n_tokens", self.n_tokens)
        _check_positive_int(self.name, "m", self.m)
        _check_choice(self.name, "pprime_init", self.pprime_init, self.PPRIME_INITS)
        if not isinstance(self.softmax, bool):
            raise ValueError(f"{self.name}: softmax must be true or false, got {self.softmax!r}")
        _check_sampling(self)


@dataclass(frozen=True)
class ResidualPromptConfig(MethodConfig):
    """Residual Prompt Tuning (Razdaibiedina et al. 2023): p_i = MLP(P_i) + P_i,
    MLP = Linear(d, b) -> ReLU -> Linear(b, d) -> LayerNorm(d), one MLP shared by all tokens."""

    name: ClassVar[str] = "residual_prompt"
    lr: float = 0.3
    weight_decay: float = 0.01
    n_tokens: int = 10
    bottleneck: int = 128
    separate_mlps: bool = False  # one MLP per token instead of one shared
    sampling_seed: int = 0
    sample_first_k: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive_int(self.name, "n_tokens", self.n_tokens)
        _check_positive_int(self.name, "bottleneck", self.bottleneck)
        if not isinstance(self.separate_mlps, bool):
            raise ValueError(f"{self.name}: separate_mlps must be true or false, got {self.separate_mlps!r}")
        _check_sampling(self)


@dataclass(frozen=True)
class FullFinetuneConfig(MethodConfig):
    """Full fine-tuning: no prompt, every weight of the T5 trains (the paper ran it with dropout on)."""

    name: ClassVar[str] = "full_finetune"
    trains_prompt: ClassVar[bool] = False
    lr: float = 1e-5
    weight_decay: float = 0.01  # not stated by the paper; AdamW's usual default


@dataclass(frozen=True)
class AttemptConfig(MethodConfig):
    """ATTEMPT (Asai et al. 2022; the official code's `attn_method: "sub"`): the target prompt plus an
    input-dependent mix of k frozen source prompts and itself,
    x = LayerNorm(W_up SiLU(W_down pool(input embeddings))), a = softmax(pool(P_j) . x / T) over the
    k + 1 prompts, prompt = P_target + sum_j a_j P_j. W_down d->100 and W_up 100->d without bias, N(0, 0.01)
    (std); the LayerNorm's affine weights stay at their initial values (the official code never trains them).

    `sources`: the source tasks in attention order (the paper's: QQP, QNLI, MNLI, SST-2), whose prompts
    the trial receives (TrialConfig.source_prompts); `source_sha256`: each one's content hash, pinned
    (a sweep fills it, so cells with other sources are other cells). `temperature`: "d_model_e"
    (d_model * e: 2087.6 on t5-base, the official configs' fixed 2087; 1391.8 on t5-small, where the
    official code's learned-temperature variant starts too) or a number (e.g. 2087, the configs' constant
    on any model). `pooling`: "masked" (max over the real input tokens) or "official" (max over every
    position, padding included, as the official code does). `target_init`: "sampled_vocab" (n sampled
    vocabulary embeddings, the SuperPos paper's setup) or "first_source" (a copy of the first source
    prompt, the official single-task config). lr 0.3 and weight decay 1e-5 are the paper's.
    """

    name: ClassVar[str] = "attempt"
    needs_sources: ClassVar[bool] = True
    # the same encoder length as prompt tuning; its mix adds ~4 d G + (k + 1) n d FLOPs per example
    # (~0.3 MFLOP on t5-base, against ~10^11 for the T5's forward): planned at prompt tuning's rate
    planned_like: ClassVar[str | None] = "prompt_tuning"
    lr: float = 0.3
    weight_decay: float = 1e-5
    n_tokens: int = 10
    sources: tuple[str, ...] = ("qqp", "qnli", "mnli", "sst2")
    source_sha256: dict | None = None
    temperature: Any = "d_model_e"
    pooling: str = "masked"
    target_init: str = "sampled_vocab"
    sampling_seed: int = 0
    sample_first_k: int | None = None
    BOTTLENECK: ClassVar[int] = 100  # G, fixed by the official code
    POOLINGS: ClassVar[tuple[str, ...]] = ("masked", "official")
    TARGET_INITS: ClassVar[tuple[str, ...]] = ("sampled_vocab", "first_source")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive_int(self.name, "n_tokens", self.n_tokens)
        if isinstance(self.sources, list):
            object.__setattr__(self, "sources", tuple(self.sources))
        if isinstance(self.source_sha256, (list, tuple)):  # as a cell's options carry it: (task, sha256) pairs
            object.__setattr__(self, "source_sha256", {task: sha for task, sha in self.source_sha256})
        if not self.sources or not all(isinstance(t, str) for t in self.sources) or len(set(self.sources)) < len(self.sources):
            raise ValueError(f"{self.name}: sources must be a non-empty list of distinct task ids, got {self.sources!r}")
        from workers.tasks import TASKS  # the task table: data, no torch

        unknown = [t for t in self.sources if t not in TASKS]
        if unknown:
            close = difflib.get_close_matches(unknown[0], TASKS, n=1)
            raise ValueError(f"{self.name}: sources: unknown task {unknown[0]!r}"
                             + (f"; did you mean {close[0]!r}?" if close else f"; tasks: {', '.join(TASKS)}"))
        if self.source_sha256 is not None and (not isinstance(self.source_sha256, dict)
                                               or set(self.source_sha256) != set(self.sources)):
            raise ValueError(f"{self.name}: source_sha256 must name exactly the sources ({', '.join(self.sources)})")
        temperature_ok = self.temperature == "d_model_e" or (
            isinstance(self.temperature, (int, float)) and not isinstance(self.temperature, bool) and self.temperature > 0)
        if not temperature_ok:
            raise ValueError(f"{self.name}: temperature must be 'd_model_e' or a positive number, got {self.temperature!r}")
        _check_choice(self.name, "pooling", self.pooling, self.POOLINGS)
        _check_choice(self.name, "target_init", self.target_init, self.TARGET_INITS)
        _check_sampling(self)
