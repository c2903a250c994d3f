"""Every registered method: shapes, gradients, parameter counts, weight-decay groups."""

from __future__ import annotations

import pytest
import torch

from workers.methods import METHOD_CONFIGS, get_method_config
from workers.methods.modules import METHOD_MODULES, build_method
from workers.methods.sampling import sample_token_ids
from workers.models import count_parameters, freeze, load_model
from workers.prompt_model import PromptedT5

PROMPT_METHODS = sorted(METHOD_MODULES)


def _build(name: str, **params):
    loaded = load_model("tiny-t5")
    freeze(loaded.model)
    cfg = get_method_config(name, params)
    tok = loaded.tokenizer
    method = build_method(cfg, loaded.model.get_input_embeddings().weight, len(tok), tuple(tok.all_special_ids))
    return loaded, cfg, method


def test_registries_agree():
    assert set(METHOD_CONFIGS) == set(METHOD_MODULES)


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
