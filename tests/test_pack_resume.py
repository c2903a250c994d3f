"""A pack continued from an earlier run's checkpoint (`resume_from`, as after a kill -9 and `sweep
resume`) writes every member's state into each checkpoint it reports, also the members that have
not trained an epoch in this run yet. The store names a report's checkpoint for every member of the
pack, so a member missing from it would start over on the next resume and train its epochs again."""

from __future__ import annotations

import json

import pytest
import torch

from workers.members import member_key
from workers.pack import run_pack
from workers.trial import TrialConfig
from workers.tune_adapter import STATE_FILE, load_state, tune_trainable

pytestmark = pytest.mark.slow  # a real Ray Tune run

TRIAL = {"method": "prompt_tuning", "task": "rte", "model": "tiny-t5", "dropout": False, "epochs": 3,
         "batch_size": 8, "max_train_samples": 16, "max_eval_samples": 8, "eval_mode": "rank"}


def _member(number: int, resume_from: str) -> dict:
    return {"cell_key": "prompt_tuning|rte|tiny-t5|-|dropout=off", "cell_id": 1, "number": number, "role": "search",
            "continuing": True, "resume_from": resume_from, "failures": 0, "replica_of": None,
            "trial": {**TRIAL, "lr": 0.01 * (number + 1), "seed": number}}


def test_a_resumed_packs_first_checkpoint_holds_the_member_that_has_not_reported_yet(tmp_path):
    import ray
    from ray import tune

    from orchestrator.tune.quiet import tune_loggers

    # an earlier run's states: member 0 after epoch 2, member 1 after epoch 1 (the pack was killed between)
    members = [_member(0, ""), _member(1, "")]
    states: dict[tuple[int, int], dict] = {}
    run_pack([TrialConfig.from_dict(m["trial"]) for m in members], lambda i, metrics: None,
             lambda i, state: states.setdefault((i, state["epoch"]), state))
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    keys = [member_key(m) for m in members]
    torch.save({"members": {keys[0]: states[(0, 2)], keys[1]: states[(1, 1)]}, "left": [], "joined": []},
               earlier / STATE_FILE)

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, object_store_memory=200 * 1024**2, log_to_driver=False)
    try:
        tuner = tune.Tuner(tune.with_resources(tune_trainable, {"cpu": 1}),
                           param_space={"members": [_member(0, str(earlier)), _member(1, str(earlier))],
                                        "threads": 1, "cache": True},
                           run_config=tune.RunConfig(storage_path=str(tmp_path / "ray"), name="resumed", verbose=0,
                                                     callbacks=tune_loggers()))  # result.json, as a sweep writes
        [result] = list(tuner.fit())
    finally:
        if started:
            ray.shutdown()
    assert result.error is None, result.error
    checkpoints = sorted((tmp_path / "ray" / "resumed").glob("*/checkpoint_*"))
    reports = [json.loads(line) for line in (checkpoints[0].parent / "result.json").read_text().splitlines()]
    # member 0 trains epoch 3 only, member 1 epochs 2 and 3; each says when it leaves; a checkpoint per report
    assert [(r["member"], r["epoch"], r.get("left")) for r in reports] == [
        (0, 3, None), (0, 3, "complete"), (1, 2, None), (1, 3, None), (1, 3, "complete")]
    assert len(checkpoints) == len(reports)
    first = load_state(checkpoints[0])["members"]  # member 0's epoch 3, before member 1 has saved here
    assert {key: state["epoch"] for key, state in first.items()} == {keys[0]: 3, keys[1]: 1}
    for checkpoint in checkpoints:  # every checkpoint holds both members
        assert set(load_state(checkpoint)["members"]) == set(keys)
