"""ATTEMPT's prompt, computed by hand from the official code's recipe, and its options and errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tests.test_methods import source_prompts
from workers.artefacts import encode, load_prompt, prompt_sha256
from workers.assembly import assemble
from workers.methods import get_method_config


def _attempt(sources=None, **params):
    cfg = get_method_config("attempt", {"sources": ["qqp", "sst2", "mnli"], "n_tokens": 5, **params})
    built = assemble("tiny-t5", cfg, dropout=False, source_prompts=sources or source_prompts(cfg))
    return built, cfg


def _inputs(built):
    tok = built.loaded.tokenizer
    enc = tok(["sentence: a lovely story", "question: is it? passage: a dull story about the cat, long"],
              padding=True, return_tensors="pt")
    return built.loaded.model.get_input_embeddings()(enc.input_ids), enc.attention_mask


def test_the_prompt_is_the_target_plus_an_input_dependent_mix():
    built, cfg = _attempt()
    method = built.model.method
    embeds, mask = _inputs(built)
    with torch.no_grad():
        method.down.weight.normal_(0, 0.5)  # away from the init, so the weights differ per input
        method.up.weight.normal_(0, 0.5)
        pooled = embeds.masked_fill(mask.unsqueeze(-1) == 0, float("-inf")).max(1).values
        x = F.layer_norm(F.silu(pooled @ method.down.weight.T) @ method.up.weight.T, (64,))
        prompts = torch.cat([method.sources, method.prompt.unsqueeze(0)])  # k sources and the target
        a = (x @ prompts.max(1).values.T / (64 * math.e)).softmax(-1)
        expected = method.prompt + torch.einsum("bk,knd->bnd", a, prompts)
        got = method.prompt_for(embeds, mask)
    assert got.shape == (2, cfg.n_tokens, 64)
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(got[0], got[1])  # each input gets its own prompt
    assert a.shape == (2, 4) and torch.allclose(a.sum(-1), torch.ones(2))


def test_masked_pooling_ignores_padding_and_official_pooling_does_not():
    for pooling, same in (("masked", True), ("official", False)):
        built, _ = _attempt(pooling=pooling)
        method, tok = built.model.method, built.loaded.tokenizer
        with torch.no_grad():
            method.down.weight.normal_(0, 0.5)
            method.up.weight.normal_(0, 0.5)
        short = tok(["sentence: a lovely story"], return_tensors="pt")
        padded = tok(["sentence: a lovely story"], padding="max_length", max_length=40, return_tensors="pt")
        emb = built.loaded.model.get_input_embeddings()
        with torch.no_grad():
            a = method.attention(emb(short.input_ids), short.attention_mask)
            b = method.attention(emb(padded.input_ids), padded.attention_mask)
        assert torch.allclose(a, b) == same, pooling


def test_temperature_target_init_and_what_trains():
    built, cfg = _attempt()
    method = built.model.method
    assert method.temperature == pytest.approx(64 * math.e)
    assert _attempt(temperature=2087)[0].model.method.temperature == 2087.0
    first = _attempt(target_init="first_source")[0].model.method
    assert torch.equal(first.prompt, first.sources[0])
    trained = {n for n, p in method.named_parameters() if p.requires_grad}
    assert trained == {"prompt", "down.weight", "up.weight"}  # sources are frozen buffers, the norm has no weights
    assert "sources" in method.state_dict()
    assert abs(method.down.weight.std().item() - 0.01) < 0.002
    grouped = [p for g in method.param_groups(cfg.weight_decay) for p in g["params"]]
    assert sorted(map(id, grouped)) == sorted(id(p) for p in method.parameters() if p.requires_grad)
    assert (cfg.lr, cfg.weight_decay) == (0.3, 1e-5)


def test_missing_misshapen_or_unpinned_sources_are_clear_errors():
    cfg = get_method_config("attempt", {"sources": ["qqp", "sst2"], "n_tokens": 5})
    with pytest.raises(ValueError, match="no source prompt for sst2.*TrialConfig.source_prompts"):
        assemble("tiny-t5", cfg, dropout=False, source_prompts={"qqp": torch.zeros(5, 64)})
    with pytest.raises(ValueError, match=r"source prompt of qqp is \(4, 64\).*same n_tokens"):
        assemble("tiny-t5", cfg, dropout=False, source_prompts={"qqp": torch.zeros(4, 64), "sst2": torch.zeros(5, 64)})
    given = {"qqp": torch.ones(5, 64), "sst2": torch.zeros(5, 64)}
    pinned = get_method_config("attempt", {"sources": ["qqp", "sst2"], "n_tokens": 5,
                                           "source_sha256": {t: prompt_sha256(v) for t, v in given.items()}})
    assemble("tiny-t5", pinned, dropout=False, source_prompts=given)  # the pinned ones: fine
    with pytest.raises(ValueError, match="given for sst2 is not the pinned one"):
        assemble("tiny-t5", pinned, dropout=False, source_prompts={**given, "sst2": torch.ones(5, 64)})
    for bad, message in (({"sources": []}, "non-empty list"), ({"sources": ["qqp", "qqp"]}, "distinct"),
                         ({"temperature": 0}, "positive number"), ({"pooling": "mean"}, "pooling must be one of"),
                         ({"source_sha256": {"x": "y"}}, "name exactly the sources"),
                         ({"sources": ["qqp", "sst3"]}, "unknown task 'sst3'; did you mean 'sst2'")):
        with pytest.raises(ValueError, match=message):
            get_method_config("attempt", bad)


def test_a_source_prompt_loads_from_an_artefact_file_and_from_a_peft_adapter(tmp_path):
    from safetensors.torch import save_file

    prompt = torch.randn(5, 64)
    (tmp_path / "p.safetensors").write_bytes(encode(prompt))
    (tmp_path / "adapter").mkdir()
    save_file({"prompt_embeddings": prompt}, str(tmp_path / "adapter" / "adapter_model.safetensors"))
    for path in (tmp_path / "p.safetensors", tmp_path / "adapter"):
        loaded = load_prompt(str(path))
        assert torch.equal(loaded, prompt) and prompt_sha256(loaded) == prompt_sha256(prompt)
    with pytest.raises(FileNotFoundError, match="no prompt at"):
        load_prompt(str(tmp_path / "nothing"))
