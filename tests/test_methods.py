"""Every registered method: shapes, gradients, parameter counts, weight-decay groups."""

from __future__ import annotations

import pytest
import torch

from workers.assembly import assemble
from workers.methods import METHOD_CONFIGS, get_method_config
from workers.methods.modules import METHOD_MODULES
from workers.methods.sampling import sample_token_ids
from workers.models import count_parameters, load_model
from workers.prompt_model import PromptedT5
from workers.tasks import get_task

PROMPT_METHODS = sorted(METHOD_MODULES)


def source_prompts(cfg, d: int = 64, seed: int = 7) -> dict | None:
    """Trained-looking source prompts for a method that mixes them (ATTEMPT): seeded, at the
    embedding table's scale."""
    if not cfg.needs_sources:
        return None
    gen = torch.Generator().manual_seed(seed)
    return {task: torch.randn(cfg.n_tokens, d, generator=gen) * 0.5 for task in cfg.sources}


def _build(name: str, task: str | None = None, **params):
    cfg = get_method_config(name, params)
    built = assemble("tiny-t5", cfg, dropout=False, task=get_task(task) if task else None,
                     source_prompts=source_prompts(cfg))
    return built.loaded, cfg, built.model.method


def test_registries_agree():
    assert set(METHOD_MODULES) == {name for name, cls in METHOD_CONFIGS.items() if cls.trains_prompt}


@pytest.mark.parametrize("name", PROMPT_METHODS)
def test_prompt_shape_and_only_method_gets_gradients(name):
    loaded, cfg, method = _build(name)
    prompt = method()
    assert prompt.shape == (cfg.n_tokens, loaded.d_model)
    model = PromptedT5(loaded.model, method)
    tok = loaded.tokenizer
    enc = tok(["sentence: a lovely story", "sentence: a dull story about the cat"], padding=True, return_tensors="pt")
    labels = tok(["positive", "negative"], padding=True, return_tensors="pt").input_ids
    labels[labels == tok.pad_token_id] = -100
    loss = model(enc.input_ids, enc.attention_mask, labels)
    loss.backward()
    assert all(p.grad is None for p in loaded.model.parameters())
    trained = [p for p in method.parameters() if p.requires_grad]
    assert trained and all(p.grad is not None and p.grad.abs().sum() > 0 for p in trained)
    assert count_parameters(model, trainable_only=True) == count_parameters(method)


@pytest.mark.parametrize("name", PROMPT_METHODS)
def test_param_groups_cover_every_trainable_parameter_once(name):
    _, cfg, method = _build(name)
    grouped = [p for g in method.param_groups(cfg.weight_decay) for p in g["params"]]
    assert sorted(map(id, grouped)) == sorted(id(p) for p in method.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", PROMPT_METHODS)
def test_prompt_extends_encoder_input_and_mask(name):
    loaded, cfg, method = _build(name)
    model = PromptedT5(loaded.model, method)
    ids = torch.tensor([[5, 6, 7, 1], [5, 6, 1, 0]])
    inputs = model._encoder_inputs(ids, (ids != 0).long())
    assert inputs["inputs_embeds"].shape == (2, cfg.n_tokens + 4, loaded.d_model)
    assert inputs["attention_mask"][:, : cfg.n_tokens].eq(1).all()
    assert inputs["attention_mask"][1, -1] == 0


def test_superpos_parameter_count_and_initialisation():
    loaded, cfg, method = _build("superpos_prompt", m=16, n_tokens=4)
    e = loaded.d_model
    assert count_parameters(method) == 4 * (e * 16 + 16)
    emb = loaded.model.get_input_embeddings().weight
    expected = emb[method.token_ids].T
    for i in range(4):  # every E_i starts as the same m sampled embeddings
        assert torch.equal(method.E[i], expected)
    assert torch.allclose(method(), torch.einsum("ndm,nm->nd", method.E, method.pprime))


def test_superpos_embeddings_get_no_weight_decay():
    _, cfg, method = _build("superpos_prompt", m=8)
    groups = {id(p): g["weight_decay"] for g in method.param_groups(cfg.weight_decay) for p in g["params"]}
    assert groups[id(method.E)] == 0.0
    assert groups[id(method.pprime)] == cfg.weight_decay == 1e-5


def test_superpos_softmax_variant_is_a_convex_mix():
    _, _, method = _build("superpos_prompt", m=8, softmax=True)
    weights = method.pprime.softmax(-1)
    assert torch.allclose(method(), torch.einsum("ndm,nm->nd", method.E, weights))


def test_sampled_ids_are_unique_real_tokens_and_fixed_by_seed():
    ids = sample_token_ids(100, vocab_size=550, seed=3, exclude=(0, 1, 2))
    assert len(set(ids.tolist())) == 100
    assert ids.max() < 550 and not set(ids.tolist()) & {0, 1, 2}
    assert torch.equal(ids, sample_token_ids(100, 550, 3, exclude=(0, 1, 2)))
    assert not torch.equal(ids, sample_token_ids(100, 550, 4, exclude=(0, 1, 2)))
    assert sample_token_ids(5, 550, 0, first_k=10).max() < 10


def test_sampling_more_than_the_vocabulary_names_the_fix():
    with pytest.raises(ValueError, match="lower m"):
        sample_token_ids(600, vocab_size=550, seed=0)


@pytest.mark.parametrize("name", sorted(METHOD_CONFIGS))
def test_config_rejects_unknown_option_by_name(name):
    with pytest.raises(ValueError, match="unknown option.*bogus.*allowed"):
        get_method_config(name, {"bogus": 1})


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="m must be a positive integer"):
        get_method_config("superpos_prompt", {"m": 0})
    with pytest.raises(ValueError, match="lr must be > 0"):
        get_method_config("prompt_tuning", {"lr": -1})
    with pytest.raises(ValueError, match="lr must be a number, got 'fast'"):
        get_method_config("residual_prompt", {"lr": "fast"})
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        get_method_config("nope")


def test_paper_defaults():
    assert (get_method_config("prompt_tuning").lr, get_method_config("prompt_tuning").weight_decay) == (0.01, 0.01)
    sp = get_method_config("superpos_prompt")
    assert (sp.lr, sp.weight_decay, sp.m, sp.n_tokens, sp.softmax) == (0.01, 1e-5, 128, 10, False)


def test_embedded_model_has_untied_head_and_is_deterministic():
    a, b = load_model("tiny-t5"), load_model("tiny-t5")
    assert a.model.lm_head.weight.data_ptr() != a.model.get_input_embeddings().weight.data_ptr()
    assert torch.equal(a.model.lm_head.weight, b.model.lm_head.weight)


def test_residual_prompt_is_mlp_plus_skip_with_one_shared_mlp():
    loaded, cfg, method = _build("residual_prompt", bottleneck=16, n_tokens=4)
    d = loaded.d_model
    assert len(method.mlps) == 1
    assert count_parameters(method) == 4 * d + (d * 16 + 16) + (16 * d + d) + 2 * d
    assert torch.allclose(method(), method.mlps[0](method.prompt) + method.prompt)
    _, _, separate = _build("residual_prompt", bottleneck=16, n_tokens=4, separate_mlps=True)
    assert len(separate.mlps) == 4


def test_full_finetune_trains_every_model_weight_and_has_no_prompt():
    built = assemble("tiny-t5", get_method_config("full_finetune"), dropout=True)
    assert built.model.method is None
    assert built.trainable_parameters == count_parameters(built.loaded.model) > 0
    assert get_method_config("full_finetune").lr == 1e-5


def test_prompt_tuning_class_label_and_text_initialisation():
    loaded, cfg, method = _build("prompt_tuning", task="sst2", init="class_labels", n_tokens=4)
    emb = loaded.model.get_input_embeddings().weight
    tok = loaded.tokenizer
    for row, word in enumerate(["negative", "positive"]):
        ids = tok(word, add_special_tokens=False)["input_ids"]
        assert torch.allclose(method.prompt[row], emb[ids].mean(0))
    _, _, text = _build("prompt_tuning", init="text", init_text="the cat", n_tokens=3)
    ids = tok("the cat", add_special_tokens=False)["input_ids"]
    assert torch.equal(text.prompt[0], emb[ids[0]]) and torch.equal(text.prompt[len(ids) % 3], emb[ids[0]])


@pytest.mark.parametrize(
    "method, arch, expected",
    [
        ("superpos_prompt", "google/t5-small-lm-adapt", 656_640),
        ("superpos_prompt", "google/t5-base-lm-adapt", 984_320),
        ("residual_prompt", "google/t5-base-lm-adapt", 206_720),
        ("prompt_tuning", "google/t5-base-lm-adapt", 7_680),
        ("attempt", "google/t5-base-lm-adapt", 161_280),  # 7,680 + 76,800 + 76,800 (n 10, G 100)
        ("attempt", "google/t5-small-lm-adapt", 107_520),
    ],
)
def test_trainable_parameters_match_the_paper(method, arch, expected):
    built = assemble(f"random:{arch}", get_method_config(method), dropout=True, device="meta")
    assert built.trainable_parameters == expected


@pytest.mark.parametrize(
    "arch, expected",
    [("google/t5-small-lm-adapt", 76_961_152), ("google/t5-base-lm-adapt", 247_577_856)],
)
def test_architecture_presets_match_the_papers_model_sizes(arch, expected):
    assert count_parameters(load_model(f"random:{arch}", device="meta").model) == expected
