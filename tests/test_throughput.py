"""The throughput benchmark's code path on the tiny model (its figures come from a GPU, never from here)."""

from __future__ import annotations

import json

from scripts.benchmarks.throughput import main


def test_throughput_table_has_a_row_per_method_and_its_provenance(tmp_path):
    out = tmp_path / "throughput.json"
    table = main(["--models", "tiny-t5", "--methods", "prompt_tuning", "superpos_prompt", "attempt", "--steps", "1",
                  "--warmup", "0", "--batch-size", "4", "--source-tokens", "16", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(table))
    assert {r["method"] for r in saved["rows"]} == {"prompt_tuning", "superpos_prompt", "attempt"}  # attempt: stand-in sources
    for row in saved["rows"]:
        assert row["train_examples_per_s"] == 4 / row["train_step_s"] and row["precision"] == "fp32"
        # evaluation at a trial's own batch (TrialConfig's 64), not the training batch: the planner prices it so
        assert row["eval_batch_size"] == 64 and row["eval_examples_per_s"] == 64 / row["eval_batch_s"]
    assert saved["provenance"]["device"].startswith("cpu") and saved["provenance"]["date"]


def test_widths_time_each_row_at_each_length_keyed_by_encoder_width(tmp_path):
    out = tmp_path / "throughput.json"
    table = main(["--models", "tiny-t5", "--methods", "prompt_tuning", "full_finetune", "--steps", "1", "--warmup", "0",
                  "--batch-size", "4", "--source-tokens", "48", "--widths", "8", "16", "--out", str(out)])
    prompt, finetune = table["rows"]
    assert list(prompt["train_step_s_by_width"]) == ["18", "26", "58"]  # 10 prompt tokens + 8, 16, 48
    assert list(finetune["eval_batch_s_by_width"]) == ["8", "16", "48"]
    assert prompt["train_step_s_by_width"]["58"] == prompt["train_step_s"]  # the row's own width is its figure
    assert all(s > 0 for row in table["rows"] for key in ("train_step_s_by_width", "eval_batch_s_by_width")
               for s in row[key].values())


def test_a_second_run_replaces_its_own_rows_and_keeps_the_others(tmp_path):
    out = tmp_path / "throughput.json"
    common = ["--models", "tiny-t5", "--steps", "1", "--warmup", "0", "--batch-size", "4", "--source-tokens", "16",
              "--out", str(out)]
    main(["--methods", "prompt_tuning", "full_finetune", *common])
    first = {r["method"]: r for r in json.loads(out.read_text())["rows"]}
    main(["--methods", "full_finetune", *common])
    rows = json.loads(out.read_text())["rows"]
    assert sorted(r["method"] for r in rows) == ["full_finetune", "prompt_tuning"]  # one row each: replaced, kept
    kept = next(r for r in rows if r["method"] == "prompt_tuning")
    assert kept["train_step_s"] == first["prompt_tuning"]["train_step_s"] and kept["date"]


def test_a_row_is_saved_with_its_eager_figures_before_its_compile_starts():
    """A GPU step cut short while compiling full fine-tuning keeps the row's eager rates and curve."""
    from scripts.benchmarks.throughput import measure

    class Stop(Exception):
        pass

    saved = []

    def save(row):
        saved.append(dict(row))
        raise Stop  # as if the step's time ran out at the compile that follows

    try:
        measure("tiny-t5", "full_finetune", "fp32", "cpu", 4, 16, 1, 0, compile=True, widths=(8,), saved=save)
    except Stop:
        pass
    row, = saved
    assert row["train_examples_per_s"] > 0 and list(row["train_step_s_by_width"]) == ["8", "16"]
    assert "compiled_train_examples_per_s" not in row
