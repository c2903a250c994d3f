"""A local model folder that no trial could use is refused before a sweep starts, and a trial that loads
one says why: weights cut short (an interrupted download), a shard the index names that is missing, a
folder without tokenizer files (transformers 5 then builds an empty 104-token T5 tokenizer without a
word, and a prompt would train on text read as unknown characters), a tokenizer that is not the model's."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.fake_hub import answering_hub, run_python, silent_hub
from tests.sweep_cli import cli, spec_file
from workers.model_files import folder_problem, safetensors_problem, tokenizer_problem


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from workers.models import load_model

    folder = tmp_path_factory.mktemp("model") / "tiny"
    loaded = load_model("tiny-t5")
    loaded.model.save_pretrained(folder)
    loaded.tokenizer.save_pretrained(folder)
    return folder


def _copy(saved, tmp_path):
    return shutil.copytree(saved, tmp_path / "model")


def test_a_saved_model_folder_passes_and_loads(saved):
    from workers.models import load_model

    assert folder_problem(saved) is None
    assert load_model(str(saved)).real_vocab == len(load_model("tiny-t5").tokenizer)


def test_weights_cut_short_are_named_with_the_sizes(saved, tmp_path):
    weights = _copy(saved, tmp_path) / "model.safetensors"
    size = weights.stat().st_size
    os.truncate(weights, size - 1000)
    assert safetensors_problem(weights) == (f"{weights}: {size - 1000:,} bytes where its header describes {size:,}: "
                                            "the file is cut short (an interrupted download or copy?); fetch it again")
    os.truncate(weights, 100)
    assert "not a complete safetensors file" in safetensors_problem(weights)
    weights.write_bytes((20).to_bytes(8, "little") + b"not json at all, no!")
    assert "header is not readable JSON" in safetensors_problem(weights)


def test_a_shard_the_index_names_must_be_there(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert "names shards that are not in the folder: model-00001-of-00002.safetensors, model-00002" in folder_problem(folder)


def test_a_folder_without_a_tokenizer_is_refused_and_a_trial_would_not_train_on_an_empty_one(saved, tmp_path):
    from workers.models import load_model

    folder = _copy(saved, tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    assert "no tokenizer (tokenizer.json or spiece.model)" in folder_problem(folder)
    with pytest.raises(ValueError, match="no tokenizer"):
        load_model(str(folder))
    from workers.models import load_tokenizer

    with pytest.raises(OSError, match="no tokenizer"):  # what `sweep plan` tokenizes the inputs with
        load_tokenizer(str(folder))


def test_a_tokenizer_file_that_does_not_load_is_a_problem_not_a_crash(saved, tmp_path):
    from orchestrator.spec.preflight import _model_problem

    folder = _copy(saved, tmp_path)
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": ')
    assert _model_problem(0, str(folder)).startswith(f"spec.models[0]: {folder}: its config or tokenizer does not load (")
    assert _model_problem(0, str(saved)) is None


def test_a_path_that_holds_no_model_is_named_as_a_path_and_a_hub_failure_says_why(tmp_path, monkeypatch):
    """A mistyped folder was "cannot be fetched (OSError)": the hub's reason (here, a repo id it cannot
    take) was dropped, and a path was read as a repo id."""
    from orchestrator.spec.preflight import _model_problem

    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights.bin").write_text("")
    assert _model_problem(0, "./no-such/t5") == (f"spec.models[0]: './no-such/t5' is no folder on this machine "
                                                 f"({tmp_path}/no-such/t5); point it at a folder saved with save_pretrained")
    assert _model_problem(1, "~/no-such-model").startswith("spec.models[1]: '~/no-such-model' is no folder on this machine (/")
    assert "'weights.bin' is a file, not a model folder" in _model_problem(0, "weights.bin")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the hub refuses the id before any request
    assert "cannot be fetched (OSError: Repo id must use alphanumeric chars" in _model_problem(0, "my models/t5 base")


def test_a_tokenizer_is_the_models_only_if_it_fills_its_embedding_table_but_for_padding():
    assert tokenizer_problem("google/t5-base-lm-adapt", 32_100, 32_128) is None  # T5 pads its table to 128s
    assert "has 104 tokens but the model's embedding table has 576 rows" in tokenizer_problem("m", 104, 576)
    assert tokenizer_problem("m", 577, 576) is not None  # tokens without a row


def test_sweep_run_refuses_a_model_folder_before_anything_starts(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "vocab_size": 32_128}))  # another model's table
    spec = spec_file(tmp_path, f"""
        methods: [prompt_tuning]
        tasks: [rte]
        models: [{folder}]
        training: {{{{epochs: 1}}}}
        ray: {{{{num_cpus: 1, storage_path: {{storage}}}}}}
    """)
    out = cli("sweep", "run", spec, "--db", tmp_path / "r.db")
    assert out.returncode == 2, out.stderr
    assert f"spec.models[0]: '{folder}': its tokenizer has" in out.stderr and "embedding table has 32,128 rows" in out.stderr
    assert "Started a local Ray instance" not in out.stdout + out.stderr
    assert not (tmp_path / "r.db").exists()  # refused before the store opened


def test_a_hub_that_never_answers_is_given_up(tmp_path):
    """A hub (HF_ENDPOINT) that takes connections and never answers kept the model check waiting past
    300 s (huggingface_hub's own timeout did not end it): one probe gives up on it, 10 s as shipped,
    0.5 s here, for every model of the spec at once."""
    code = ("import json; from orchestrator.spec import hub_data, preflight; hub_data.HUB_PROBE_S = 0.5; "
            "said = [preflight._model_problem(i, n) for i, n in enumerate(['someone/some-t5', 'someone/other-t5'])]; "
            "print(json.dumps([said, hub_data.hub_silence.cache_info().misses]))")
    with silent_hub() as url:
        said, probes = run_python(code, url)
    for i, name in enumerate(["someone/some-t5", "someone/other-t5"]):
        assert said[i].startswith(
            f"spec.models[{i}]: '{name}' cannot be fetched: the Hugging Face hub at {url} does not answer (no answer "
            "within 0.5 s); check the network (and HF_ENDPOINT); where it is in the local Hugging Face cache, set "
            "HF_HUB_OFFLINE=1")
    assert probes == 1


def test_a_hub_that_answers_its_api_and_then_stalls_on_the_file_is_given_up():
    """The probe passes; the model's config.json never comes: the load itself is bounded (60 s as
    shipped, 1 s here), and it was this hub that was asked for the file."""
    code = ("import json; from orchestrator.spec import preflight; preflight.HUB_ANSWER_S = 1.0; "
            "print(json.dumps(preflight._model_problem(0, 'someone/some-t5')))")
    with answering_hub(stall_files_s=5) as (url, asked):
        said = run_python(code, url)
    assert said.startswith(
        "spec.models[0]: 'someone/some-t5' cannot be fetched (TimeoutError: no answer within 1 s); use an embedded")
    assert "/api/datasets?limit=1" in asked and any("/someone/some-t5/resolve/main/config.json" in p for p in asked)
