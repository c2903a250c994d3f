"""The planner's input widths: a step is as wide as its widest row (bucketed when compiled), read from
the data the trials will read, and priced by the width curve the throughput table measured."""

from __future__ import annotations

import json
import random

import pytest

from orchestrator.cli.cost import estimate, format_plan
from orchestrator.spec import parse_spec
from orchestrator.tune.input_widths import Curve, Profile, read_lengths, row_widths, step_widths
from orchestrator.tune.pack_time import MemberLoad, Speeds, pack_time
from workers.batching import batches, encode
from workers.data import load_examples
from workers.models import load_tokenizer
from workers.shapes import encoder_bucket, encoder_widths
from workers.tasks import get_task

WORDS = "the a cat dog sat on mat river garden story about near by sea city home bird lamp".split()


def _sst2_folder(root, lengths: list[int], seed: int | None = 0) -> None:
    """A local sst2 copy in the hub's schema whose sentences have `lengths` words (seed None: the same
    words in every sentence of a length)."""
    rng = random.Random(seed)
    (root / "sst2").mkdir(parents=True)
    for split, n in (("train", len(lengths)), ("validation", 40)):
        with open(root / "sst2" / f"{split}.jsonl", "w") as fh:
            for i in range(n):
                words = lengths[i] if split == "train" else lengths[i % len(lengths)]
                text = " ".join(rng.choice(WORDS) for _ in range(words)) if seed is not None else " ".join(WORDS)[:words * 4]
                fh.write(json.dumps({"sentence": text,
                                     "label": i % 2, "idx": i}) + "\n")


def test_a_steps_width_is_the_widest_of_its_rows_bucketed_when_compiled():
    profile = Profile.of([5] * 3 + [40], prompt=10, widest=266)  # widths 15 (3/4) and 50 (1/4)
    assert dict(row_widths(profile, False)) == pytest.approx({15: 0.75, 50: 0.25})
    assert dict(step_widths(((profile, 2),), False)) == pytest.approx({15: 0.75 ** 2, 50: 1 - 0.75 ** 2})
    assert dict(step_widths(((profile, 2),), True)) == pytest.approx({32: 0.75 ** 2, 64: 1 - 0.75 ** 2})
    other = Profile.of([100], prompt=10, widest=266)  # one member of long inputs makes every step wide
    assert dict(step_widths(((profile, 32), (other, 1)), True)) == {128: 1.0}
    assert dict(row_widths(Profile.full(266), True)) == {266: 1.0}  # never past the widest input


def test_the_planned_step_width_is_what_the_workers_batches_are(tmp_path):
    """The expected bucketed width of a pack's steps, planned from read_lengths, against the widths the
    worker's own batching gives the same data (an epoch's shuffled batches of 4 members, stacked)."""
    rng = random.Random(1)
    _sst2_folder(tmp_path, [max(1, int(rng.lognormvariate(2.5, 0.7))) for _ in range(1200)])
    lengths, why = read_lengths("sst2", "tiny-t5-lm-adapt", str(tmp_path), "reference", 64)
    assert why == "read" and max(lengths) == 64 and min(lengths) < 10  # truncated as the trials truncate
    planned = step_widths(((Profile.of(lengths, 10, 74), 32),) * 4, True)
    tokenizer = load_tokenizer("tiny-t5-lm-adapt")
    task = get_task("sst2")
    data = encode(tokenizer, load_examples(task, "train", str(tmp_path)), 64, 4)
    epochs = [batches(data, 32, tokenizer.pad_token_id, shuffle_seed=seed) for seed in range(4)]
    seen = [encoder_bucket(10 + max(b["input_ids"].shape[1] for _, b in step), 74) for step in zip(*epochs)]
    assert sum(w * p for w, p in planned) == pytest.approx(sum(seen) / len(seen), rel=0.03)
    assert {w for w, p in planned if p > 0.05} >= set(seen) - {w for w in seen if seen.count(w) < 3}


def test_a_curve_is_relative_to_the_rows_own_width_and_proportional_beyond_the_widest():
    curve = Curve.of({"42": 0.2, "138": 0.5, "266": 1.0}, 266)
    assert curve(266) == 1.0 and curve(42) == pytest.approx(0.2) and curve(10) == pytest.approx(0.2)
    assert curve(90) == pytest.approx(0.35) and curve(532) == pytest.approx(2.0)
    assert Curve()(42) == 1.0  # a row without one costs the same at every width
    assert Curve.of({"42": 1.0, "266": 4.0}, 138)(138) == pytest.approx(1.0)  # between its measured points


FLAT = Curve()


def _member(profile, curve=FLAT, eval_curve=FLAT, batch=32, eval_examples=0):
    return MemberLoad("m", "prompt_tuning", batch, 100, 2, eval_examples, 0.01, 0.01, 266, 0, 64, profile, curve,
                      eval_curve)


def test_a_pack_of_short_inputs_is_priced_by_the_curve_at_its_steps_width_and_compiles_what_it_reaches():
    short = Profile.of([20] * 9 + [50], 10, 266)  # widths 30 and 60: steps of 4 x 32 rows reach 64 nearly always
    curve = Curve.of({"32": 0.1, "64": 0.25, "266": 1.0}, 266)
    speeds = Speeds({1: 1.0, 4: 4.0}, compiled=True, compile_s=10.0)
    full = pack_time([_member(None)] * 4, speeds)
    same = pack_time([_member(short)] * 4, speeds)
    priced = pack_time([_member(short, curve)] * 4, speeds)
    assert same.parts["train"] == pytest.approx(full.parts["train"])  # no curve: 1x at every width
    widths = dict(step_widths(((short, 32),) * 4, True))
    assert priced.parts["train"] == pytest.approx(full.parts["train"] * (0.1 * widths[32] + 0.25 * widths[64]))
    assert full.parts["compile"] == len(encoder_widths(266)) * 10.0  # unread lengths: every bucket up to the widest
    assert same.parts["compile"] == 10.0  # 200 steps, all but ~0 at width 64: one shape


def test_evaluation_is_priced_at_each_examples_width_alone_and_together():
    profile = Profile.of([5] * 3 + [40], 10, 266)  # widths 15 and 50
    curve = Curve.of({"15": 0.1, "50": 0.5, "266": 1.0}, 266)
    per_epoch = 100 * 0.01 * (0.75 * 0.1 + 0.25 * 0.5)  # sorted by width: 3/4 of the examples at 15 tokens
    alone = pack_time([_member(profile, eval_curve=curve, eval_examples=100)], Speeds({1: 1.0}))
    assert alone.parts["eval"] == pytest.approx(2 * per_epoch)
    together = pack_time([_member(profile, eval_curve=curve, eval_examples=100)] * 2, Speeds({1: 1.0}, {1: 1.0, 2: 2.0}))
    assert together.parts["eval"] == pytest.approx(2 * 2 * per_epoch / 2.0)
    compiled = pack_time([_member(profile, eval_curve=curve, eval_examples=100)] * 2,
                         Speeds({1: 1.0, 2: 2.0}, {1: 1.0, 2: 2.0}, compiled=True))
    bucketed = 100 * 0.01 * (0.75 * curve(32) + 0.25 * curve(64))  # a compiled pack's passes: width buckets
    assert compiled.parts["eval"] == pytest.approx(2 * 2 * bucketed / 2.0) and bucketed > per_epoch


SPEC = """methods: [prompt_tuning]
tasks: [sst2]
models: [tiny-t5-lm-adapt]
dropout: [off]
optuna: {{trials_per_cell: 4}}
training: {{epochs: 2, data: {data}, max_source_tokens: 128}}
resources: {{gpus_per_trial: 1, pack_size: 4, compile: true}}
"""


def _table(by_width: dict | None, architecture: str = "tiny-t5-lm-adapt", pack_by_width: dict | None = None) -> dict:
    row = {"architecture": architecture, "precision": "fp32", "method": "prompt_tuning", "source_tokens": 256,
           "train_examples_per_s": 100.0, "eval_examples_per_s": 1e9}
    if by_width:
        row["train_step_s_by_width"] = by_width
    packing = {"train_speedup_over_solo_eager": {"compiled": {"1": 1.0, "4": 4.0}}, "compile_s_per_shape": 0.0}
    if pack_by_width:
        packing["compiled_step_s_by_width"] = {architecture: pack_by_width}
    return {"provenance": {"device": "test"}, "rows": [row], "packing": packing}


def test_sweep_plan_reads_a_local_folders_widths_and_prices_them_by_the_tables_curve(tmp_path):
    _sst2_folder(tmp_path, [12] * 400, seed=None)  # every input the same: one step width
    spec = parse_spec(SPEC.format(data=str(tmp_path)))
    tokens, = set(read_lengths("sst2", "tiny-t5-lm-adapt", str(tmp_path), "reference", 128)[0])
    width = encoder_bucket(10 + tokens, 138)
    curve = {"42": 0.25, "74": 0.4, "138": 0.6, "266": 1.0}
    flat, priced = estimate(spec, _table(None)), estimate(spec, _table(curve))
    ratio = priced["schedule"]["train_hours"] / flat["schedule"]["train_hours"]
    assert ratio == pytest.approx(Curve.of(curve, 266)(width), rel=1e-6) and ratio < 1
    text = format_plan(spec, "spec.yaml", flat)
    assert "input widths read from sst2" in text
    assert "seconds by input width: training and evaluation on tiny-t5-lm-adapt (the inputs read" in text
    # the spec's packs are compiled: a row's curve is one eager trial's, and the plan says it stands in
    assert "a compiled pack's seconds by input width on tiny-t5-lm-adapt (planned by one eager trial's curve" in (
        format_plan(spec, "spec.yaml", priced))


def test_a_compiled_pack_is_priced_by_its_architectures_compiled_pack_curve_where_measured(tmp_path):
    _sst2_folder(tmp_path, [12] * 400, seed=None)
    spec = parse_spec(SPEC.format(data=str(tmp_path)))
    tokens, = set(read_lengths("sst2", "tiny-t5-lm-adapt", str(tmp_path), "reference", 128)[0])
    width = encoder_bucket(10 + tokens, 138)
    solo, pack = {"42": 0.5, "74": 0.7, "138": 0.85, "266": 1.0}, {"42": 0.1, "74": 0.2, "138": 0.4, "266": 0.8}
    flat = estimate(spec, _table(None))
    priced = estimate(spec, _table(solo, pack_by_width=pack))
    ratio = priced["schedule"]["train_hours"] / flat["schedule"]["train_hours"]
    assert ratio == pytest.approx(Curve.of(pack, 266)(width), rel=1e-6)  # the pack's curve, relative to its 266
    assert ratio != pytest.approx(Curve.of(solo, 266)(width), rel=1e-3)
    text = format_plan(spec, "spec.yaml", priced)
    assert "a compiled pack's seconds by input width" not in text
    assert "seconds by input width: evaluation on tiny-t5-lm-adapt (the inputs read" in text  # the row has no evaluation curve
    # a row without its own curve: its pack's training is still priced by the pack curve, and the note says
    # that only its evaluation is planned at one width
    unpriced_row = estimate(spec, _table(None, pack_by_width=pack))
    assert unpriced_row["schedule"]["train_hours"] == pytest.approx(priced["schedule"]["train_hours"], rel=1e-9)
    assert "seconds by input width: evaluation on tiny-t5-lm-adapt (the inputs read" in format_plan(spec, "spec.yaml", unpriced_row)
    # another architecture's pack curve does not price this one's packs; eager packs keep the solo curve
    other = _table(solo, pack_by_width=pack)
    other["packing"]["compiled_step_s_by_width"] = {"google/t5-base-lm-adapt": pack}
    assert estimate(spec, other)["schedule"]["train_hours"] == pytest.approx(
        flat["schedule"]["train_hours"] * Curve.of(solo, 266)(width), rel=1e-6)
    eager = parse_spec(SPEC.format(data=str(tmp_path)).replace("compile: true", "compile: false"))
    flat_eager = estimate(eager, {**_table(None), "packing": {}})
    assert estimate(eager, {**_table(solo, pack_by_width=pack), "packing": {
        "compiled_step_s_by_width": {"tiny-t5-lm-adapt": pack}}})["schedule"]["train_hours"] == pytest.approx(
        flat_eager["schedule"]["train_hours"] * Curve.of(solo, 266)(tokens + 10), rel=1e-6)


def test_hub_inputs_are_planned_at_full_length_unless_read_and_the_plan_says_so():
    spec = parse_spec(SPEC.format(data="hub"))
    est = estimate(spec, _table({"42": 0.25, "138": 0.6, "266": 1.0}))
    assert any("full length (an upper bound) for sst2: hub data (`sweep plan --read-hub-data`" in line
               for line in est["widths"])
    # full length is max_source_tokens + the prompt: 138 tokens, priced by the curve there
    alone = estimate(spec, _table(None))
    assert est["schedule"]["train_hours"] == pytest.approx(alone["schedule"]["train_hours"] * 0.6, rel=1e-6)


def test_reading_hub_data_that_is_not_here_is_a_note_not_a_failure():
    spec = parse_spec(SPEC.format(data="hub").replace("tiny-t5-lm-adapt", "random:google/t5-small-lm-adapt"))
    est = estimate(spec, _table(None, "google/t5-small-lm-adapt"), read_hub=True)  # offline: the hub's sst2 cannot be downloaded
    assert any("full length (an upper bound) for sst2: its data could not be read (could not load nyu-mll/glue"
               in line for line in est["widths"]), est["widths"]
    assert est["total_hours"] > 0
