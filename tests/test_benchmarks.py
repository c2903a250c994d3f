"""The benchmark code paths run (on the tiny model, so fast); their figures are printed by `make bench`,
never asserted as timings here."""

from __future__ import annotations

import pytest

from scripts.benchmarks.__main__ import bench_bf16_step, bench_eval, bench_superpos, side_by_side


def test_side_by_side_reports_a_median_per_function():
    calls = {"a": 0, "b": 0}

    def bump(name):
        calls[name] += 1

    times = side_by_side({"a": lambda: bump("a"), "b": lambda: bump("b")}, rounds=3, warmup=1)
    assert set(times) == {"a", "b"} and all(t >= 0 for t in times.values())
    assert calls == {"a": 4, "b": 4}


def test_benchmarks_run_on_the_tiny_model():
    superpos = bench_superpos("tiny-t5", rounds=1, batch_size=4, device="cpu")
    assert superpos["prompt_tuning_step_s"] > 0 and superpos["superpos_step_s"] > 0
    assert superpos["overhead"] == pytest.approx(superpos["superpos_step_s"] / superpos["prompt_tuning_step_s"] - 1)
    evaluation = bench_eval("tiny-t5", rounds=1, device="cpu", examples=8)
    assert evaluation["rank_speedup"] == pytest.approx(evaluation["generate_s"] / evaluation["rank_s"])
    step = bench_bf16_step("tiny-t5", device="cpu", rounds=1, batch_size=4)
    assert step["tokens_per_s"] > 0 and step["peak_memory_gib"] is None


def test_peft_benchmark_runs():
    pytest.importorskip("peft")
    from scripts.benchmarks.__main__ import bench_peft

    peft = bench_peft("tiny-t5", rounds=1, batch_size=4, device="cpu")
    assert peft["ratio_ours_over_peft"] == pytest.approx(peft["ours_step_s"] / peft["peft_step_s"])


def test_store_scale_benchmark_fills_and_times_every_dashboard_query(tmp_path, capsys):
    from scripts.benchmarks.store_scale import populate, time_queries

    url = f"sqlite:///{tmp_path / 's.db'}"
    written = populate(url, trials=20, steps=5)
    assert written["rows"] == 100 and written["rows_per_second"] > 0
    timed = time_queries(url, written["sweep_id"], repeats=1)
    assert set(timed) == {"list_sweeps", "comparison_table", "trials_frame", "metric_keys", "learning_curves"}
    assert "20/20 trials" in capsys.readouterr().out


def test_orchestration_benchmark_measures_both_cache_settings(capsys):
    from scripts.benchmarks.orchestration import main

    figures = main(["--trials", "4", "--slots", "2"])
    for name in ("efficiency", "steady_efficiency"):
        assert set(figures[name]) == {"off", "on"}
    for runs in figures["runs"].values():
        run = runs[0]
        assert run["trials"] == 4 and run["training_s"] > 0
        assert run["efficiency"] == pytest.approx(run["training_s"] / (run["span_s"] * 2))
    assert "caches off" in capsys.readouterr().out
