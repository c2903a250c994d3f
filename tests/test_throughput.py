"""The throughput benchmark's code path on the tiny model (its figures come from a GPU, never from here)."""

from __future__ import annotations

import json

from scripts.benchmarks.throughput import main


def test_throughput_table_has_a_row_per_method_and_its_provenance(tmp_path):
    out = tmp_path / "throughput.json"
    table = main(["--models", "tiny-t5", "--methods", "prompt_tuning", "superpos_prompt", "--steps", "1",
                  "--warmup", "0", "--batch-size", "4", "--source-tokens", "16", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(table))
    assert {r["method"] for r in saved["rows"]} == {"prompt_tuning", "superpos_prompt"}
    for row in saved["rows"]:
        assert row["train_examples_per_s"] == 4 / row["train_step_s"] and row["precision"] == "fp32"
    assert saved["provenance"]["device"].startswith("cpu") and saved["provenance"]["date"]
