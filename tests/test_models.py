"""Model loading: presets match the published architectures, and a checkpoint's untied lm_head stays
untied through save and load (transformers 5 would tie it: see workers/checkpoint_heads.py)."""

from __future__ import annotations

import pytest
import torch

from workers.models import count_parameters, load_model


@pytest.mark.parametrize("shard", [None, "100KB"], ids=["single-file", "sharded"])
def test_untied_checkpoint_reloads_untied_and_identical(tmp_path, shard):
    original = load_model("tiny-t5")
    kwargs = {"max_shard_size": shard} if shard else {}
    original.model.save_pretrained(tmp_path, **kwargs)
    original.tokenizer.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path))
    m = loaded.model
    assert m.lm_head.weight.data_ptr() != m.shared.weight.data_ptr()
    assert torch.equal(m.shared.weight, original.model.shared.weight)
    assert torch.equal(m.lm_head.weight, original.model.lm_head.weight)
    assert m.encoder.embed_tokens.weight is m.shared.weight and m.decoder.embed_tokens.weight is m.shared.weight
    assert count_parameters(m) == count_parameters(original.model)
    ids, dec = torch.tensor([[5, 6, 7, 1]]), torch.tensor([[0, 5]])
    with torch.no_grad():
        a = original.model.eval()(input_ids=ids, decoder_input_ids=dec).logits
        b = m.eval()(input_ids=ids, decoder_input_ids=dec).logits
    assert torch.allclose(a, b)


@pytest.mark.parametrize("arch, untied", [("google/t5-base-lm-adapt", True), ("google-t5/t5-small", False)])
def test_presets_follow_v1_1_and_v1_0_conventions(arch, untied):
    model = load_model(f"random:{arch}", device="meta").model
    assert model.config.scale_decoder_outputs is (not untied)  # v1.0 scales decoder outputs, v1.1 does not
    assert (model.lm_head.weight is not model.shared.weight) is untied


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="no architecture preset 'google/t5-tiny'.*google/t5-small-lm-adapt"):
        load_model("random:google/t5-tiny")
