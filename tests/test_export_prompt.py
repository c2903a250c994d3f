"""`superpos export prompt`: a trial's stored prompt as a PEFT adapter that real PEFT loads, giving the
trial's own stored validation score (generate mode) and the same predictions and loss as this
product's model fed the same prompt; clear errors for what cannot be exported."""

from __future__ import annotations

import json

import pytest
import torch
from sqlalchemy import text

from db import artefacts
from db.engine import open_store
from orchestrator.cli import main

peft = pytest.importorskip("peft")


def _chosen(url: str, sweep_id: int, method: str) -> dict:
    engine = open_store(url, readonly=True)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT b.trial_id, b.task, c.dropout, b.m, t.config FROM best_trials b "
                                "JOIN cells c ON c.id = b.cell_id JOIN trials t ON t.id = b.trial_id "
                                "WHERE b.sweep_id = :s AND b.method = :m ORDER BY b.trial_id"),
                           {"s": sweep_id, "m": method}).mappings().first()
    return dict(row)


def _peft_evaluation(folder, cfg_json: str):
    """(score, predictions, mean loss) of the PEFT model loaded from `folder` on the trial's own
    validation examples, greedy decoding as the product evaluates."""
    from peft import PeftModel

    from workers.batching import batches
    from workers.evaluation import parse_prediction, score_predictions, target_tokens
    from workers.member import encoded_splits
    from workers.models import load_model
    from workers.tasks import get_task
    from workers.trial import TrialConfig

    cfg = TrialConfig.from_dict(json.loads(cfg_json))
    task = get_task(cfg.task, cfg.template)
    loaded = load_model(cfg.model)
    model = PeftModel.from_pretrained(loaded.model, str(folder)).eval()
    data = encoded_splits(cfg, task, loaded.tokenizer, cache=False)["val"]
    preds, losses = [None] * len(data), []
    with torch.no_grad():
        for idx, batch in batches(data, 8, loaded.tokenizer.pad_token_id):
            out = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                 max_new_tokens=target_tokens(task, loaded.tokenizer), do_sample=False, num_beams=1)
            for i, t in zip(idx, loaded.tokenizer.batch_decode(out, skip_special_tokens=True)):
                preds[i] = parse_prediction(task, t)
            losses.append(model(**batch).loss.item())
    golds = [e.label for e in data.examples]
    return score_predictions(task, preds, golds, None)["score"], preds, losses, (cfg, task, data)


def _ours(prompt, cfg, task, data):
    """This product's model fed `prompt` (a fixed (n, d) matrix): predictions and losses."""
    from workers.assembly import assemble
    from workers.batching import batches
    from workers.evaluation import parse_prediction, target_tokens
    from workers.methods import get_method_config

    built = assemble(cfg.model, get_method_config("prompt_tuning", {"n_tokens": prompt.shape[0]}), False, task)
    with torch.no_grad():
        built.model.method.prompt.copy_(torch.from_numpy(prompt))
    model, tok = built.model.eval(), built.loaded.tokenizer
    preds, losses = [None] * len(data), []
    with torch.no_grad():
        for idx, batch in batches(data, 8, tok.pad_token_id):
            out = model.generate(batch["input_ids"], batch["attention_mask"], max_new_tokens=target_tokens(task, tok))
            for i, t in zip(idx, tok.batch_decode(out, skip_special_tokens=True)):
                preds[i] = parse_prediction(task, t)
            losses.append(model(**batch).item())
    return preds, losses


@pytest.mark.parametrize("method", ["prompt_tuning", "superpos_prompt"])
@pytest.mark.slow  # a real Ray sweep (session fixture)
def test_an_exported_prompt_loads_in_peft_and_reproduces_the_trial(tiny_sweep, tmp_path, method):
    url, sweep_id, _, _ = tiny_sweep
    chosen = _chosen(url, sweep_id, method)
    folder = tmp_path / "adapter"
    args = ["export", "prompt", "--db", url, "--sweep", str(sweep_id), "--method", method, "--task", chosen["task"],
            "--dropout", "on" if chosen["dropout"] else "off", "--out", str(folder)]
    assert main(args) == 0
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= {p.name for p in folder.iterdir()}
    card = (folder / "README.md").read_text()
    assert f"trial {chosen['trial_id']} of sweep {sweep_id}" in card
    assert "base = load_model('tiny-t5').model" in card and "embedded in superpos, sha256" in card  # not on the hub
    score, preds, losses, (cfg, task, data) = _peft_evaluation(folder, chosen["config"])
    engine = open_store(url, readonly=True)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT value FROM scores WHERE trial_id = :t AND split = 'val' "
                                   "AND metric = 'score' AND selection = 'peak'"), {"t": chosen["trial_id"]}).scalar()
    assert score == pytest.approx(stored, abs=1e-9)  # the trial's own stored evaluation at its peak
    prompt = artefacts.tensors(engine, chosen["trial_id"], "peak")["prompt"]
    ours_preds, ours_losses = _ours(prompt, cfg, task, data)
    assert preds == ours_preds
    assert losses == pytest.approx(ours_losses, abs=1e-5)


@pytest.mark.slow  # a real Ray sweep (session fixture)
def test_a_replica_by_seed_exports_and_an_existing_adapter_is_never_overwritten(rich_sweep, tmp_path, capsys):
    url, sweep_id = rich_sweep
    base = ["export", "prompt", "--db", url, "--sweep", str(sweep_id), "--method", "superpos_prompt", "--task", "rte",
            "--m", "4"]
    assert main([*base, "--seed", "1", "--selection", "final", "--out", str(tmp_path / "a")]) == 0
    config = json.loads((tmp_path / "a" / "adapter_config.json").read_text())
    assert config["num_virtual_tokens"] == 10 and config["num_transformer_submodules"] == 1
    assert "seed 1 (replica)" in (tmp_path / "a" / "README.md").read_text()
    before = (tmp_path / "a" / "adapter_model.safetensors").read_bytes()
    capsys.readouterr()
    assert main([*base, "--seed", "0", "--out", str(tmp_path / "a")]) == 2
    assert "already holds an adapter" in capsys.readouterr().err
    assert (tmp_path / "a" / "adapter_model.safetensors").read_bytes() == before
    (tmp_path / "file").write_text("keep")  # a file as --out: named, kept (was: [Errno 17] File exists)
    assert main([*base, "--seed", "0", "--out", str(tmp_path / "file")]) == 2
    assert "is a file; an adapter is a folder" in capsys.readouterr().err and (tmp_path / "file").read_text() == "keep"
    assert main([*base[:-2], "--out", str(tmp_path / "b")]) == 2  # m 4 and m 8: two cells match
    err = capsys.readouterr().err
    assert "2 cells of sweep" in err and "--m 4" in err and "--m 8" in err
    assert main([*base, "--seed", "7", "--out", str(tmp_path / "c")]) == 2
    assert "no reported trial with seed 7; its seeds: 0, 1" in capsys.readouterr().err


def test_full_finetuning_and_a_trial_without_artefacts_are_clear_errors(store, tmp_path):
    from db.peft_export import export_prompt

    url, writer, prompt_trial = store
    sweep = writer.create_sweep("ft", "name: ft", "h2", {"versions": {}})
    cells = writer.add_cells(sweep, [dict(key="ft", method="full_finetune", task="rte", model="tiny-t5", m=None,
                                          dropout=True, seed=0)])
    tuned = writer.start_trial(cells["ft"], 0, "ray-ft-0", {"lr": 1e-5}, 1e-5, 0.01)
    engine = open_store(url, readonly=True)
    with pytest.raises(ValueError, match="full_finetune: it trains the model itself and has no prompt"):
        export_prompt(engine, tuned, tmp_path / "x")
    with pytest.raises(ValueError, match=f"trial {prompt_trial} has no stored peak prompt"):
        export_prompt(engine, prompt_trial, tmp_path / "y")
    with pytest.raises(ValueError, match="no trial 999999 in this store"):
        export_prompt(engine, 999999, tmp_path / "z")
    assert not any((tmp_path / name).exists() for name in "xyz")  # nothing written on an error
