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
    assert set(timed) == {"list_sweeps", "table", "trials_frame", "metric_keys", "learning_curves"}
    assert "20/20 trials" in capsys.readouterr().out


@pytest.mark.slow  # real Ray trials
def test_orchestration_benchmark_measures_both_cache_settings(capsys):
    from scripts.benchmarks.orchestration import main

    figures = main(["--trials", "4", "--slots", "1"])  # one worker per sweep: its start-up is most of the test
    for name in ("efficiency", "steady_efficiency"):
        assert set(figures[name]) == {"off", "on"}
    for runs in figures["runs"].values():
        run = runs[0]
        assert run["trials"] == 4 and run["training_s"] > 0
        assert run["efficiency"] == pytest.approx(run["training_s"] / run["span_s"])
    assert "caches off" in capsys.readouterr().out


def test_packing_benchmark_cpu_path_and_the_speed_ups_it_writes_for_the_planner(tmp_path):
    import json

    from scripts.benchmarks.pack_steps import CPU, Bench
    from scripts.benchmarks.packing import Results, main, write_speedups

    out = tmp_path / "bench-results.json"
    out.write_text(json.dumps({"earlier": 1}))
    main(["--out", str(out)])
    data = json.loads(out.read_text())
    assert data["earlier"] == 1  # other benchmarks' figures stay
    rows = {r["name"]: r for r in data["packing"]["rows"]}
    assert data["packing"]["cpu_packed_4_over_solo_tokens_per_s"] == pytest.approx(
        rows["cpu_packed_4_eager"]["tokens_per_s"] / rows["cpu_solo_eager"]["tokens_per_s"])
    bench = Bench(CPU, "cpu")  # tokens of a member: its rows x (prompt + source + target)
    assert bench.tokens(bench.members(2)) == 2 * CPU["batch"] * (10 + CPU["source"] + CPU["target"])

    results = Results(tmp_path / "gpu.json", {"device": "test", "torch": "x", "setup": CPU})
    results.data["speedup_over_solo_eager"] = {"solo_eager": 1.0, "solo_compiled": 3.0, "packed_4_eager": 2.0,
                                               "packed_4_compiled": 5.5, "packed_8_eager_superpos": 1.9,
                                               "separate_processes_4": 1.8}
    results.data["rows"] = [{"name": "packed_4_compiled", "compiled": True, "warmup_s": 48.0},
                            {"name": "solo_compiled", "compiled": True, "warmup_s": 55.5},
                            {"name": "solo_eager", "compiled": False, "warmup_s": 0.5}]
    table = tmp_path / "throughput.json"
    table.write_text(json.dumps({"provenance": {"device": "d"}, "rows": [{"a": 1}],
                                 "packing": {"eval_speedup": {"generate": {"1": 1.0, "8": 4.0}},
                                             "compiled_step_s_by_width": {"m": {"74": 0.1, "266": 0.3}},
                                             "provenance": {"compiled_step_s_by_width": "pack_widths"}}}))
    write_speedups(results, table)
    written = json.loads(table.read_text())
    assert written["rows"] == [{"a": 1}] and written["packing"]["provenance"]["device"] == "test"
    assert written["packing"]["train_speedup_over_solo_eager"] == {"eager": {"1": 1.0, "4": 2.0},
                                                                   "compiled": {"1": 3.0, "4": 5.5}}
    assert written["packing"]["compile_s_per_shape"] == 55.5  # the slowest compiled warm-up: the plan's upper bound
    assert written["packing"]["eval_speedup"] == {"generate": {"1": 1.0, "8": 4.0}}  # packed_eval's figures stay
    assert written["packing"]["compiled_step_s_by_width"] == {"m": {"74": 0.1, "266": 0.3}}  # and pack_widths'
    assert written["packing"]["provenance"]["compiled_step_s_by_width"] == "pack_widths"


def test_packed_eval_writes_its_speed_ups_where_the_planner_reads_them(tmp_path):
    import json

    from orchestrator.cli.cost import estimate
    from orchestrator.spec import parse_spec
    from scripts.benchmarks.packed_eval import write_speedups

    table = tmp_path / "throughput.json"
    rows = [{"architecture": "tiny-t5", "precision": "fp32", "method": "prompt_tuning", "train_examples_per_s": 1e12,
             "eval_examples_per_s": 10.0}]
    table.write_text(json.dumps({"provenance": {}, "rows": rows}))
    write_speedups({"members": 4, "model": "m", "task": "mnli", "device_name": "cpu",
                    "generate": {"speedup": 2.0}, "rank": {"speedup": 1.5}}, table)
    written = json.loads(table.read_text())
    assert written["packing"]["eval_speedup"] == {"generate": {"1": 1.0, "4": 2.0}, "rank": {"1": 1.0, "4": 1.5}}
    write_speedups({"members": 2, "model": "m", "task": "mnli", "device_name": "cpu",  # another count: a point more
                    "generate": {"speedup": 1.6}, "rank": {"speedup": 1.2}}, table)
    curves = json.loads(table.read_text())["packing"]
    assert curves["eval_speedup"]["generate"] == {"1": 1.0, "2": 1.6, "4": 2.0}
    assert "2 and 4 members" in curves["eval_provenance"]["inputs"]
    spec3 = parse_spec("methods: [prompt_tuning]\ntasks: [rte]\ndropout: [off]\noptuna: {trials_per_cell: 2}\n"
                       "training: {epochs: 1, data: hub}\nresources: {gpus_per_trial: 1, pack_size: 2}\n")
    assert estimate(spec3, json.loads(table.read_text()))["schedule"]["eval_hours"] == pytest.approx(
        estimate(spec3, {"provenance": {}, "rows": rows})["schedule"]["eval_hours"] / 1.6)
    write_speedups({"members": 4, "model": "m", "task": "mnli", "device_name": "cpu",
                    "generate": {"speedup": 2.5}, "rank": {"speedup": 1.5}}, table)  # the same count: replaced
    assert json.loads(table.read_text())["packing"]["eval_speedup"]["generate"] == {"1": 1.0, "2": 1.6, "4": 2.5}
    spec = parse_spec("methods: [prompt_tuning]\ntasks: [rte]\ndropout: [off]\noptuna: {trials_per_cell: 4}\n"
                      "training: {epochs: 1, data: hub}\nresources: {gpus_per_trial: 1, pack_size: 4}\n")
    together, alone = estimate(spec, written), estimate(spec, {"provenance": {}, "rows": rows})
    assert together["schedule"]["eval_hours"] == pytest.approx(alone["schedule"]["eval_hours"] / 2.0)
    assert not any("packed evaluation" in note for note in together["unmeasured"])


def test_input_widths_benchmark_plans_short_inputs_narrower_than_full_length(tmp_path):
    from scripts.benchmarks.input_widths import planned_epoch, write_folder

    write_folder(tmp_path, examples=96)
    row = {"architecture": "tiny-t5-lm-adapt", "precision": "fp32", "method": "prompt_tuning", "source_tokens": 256,
           "train_examples_per_s": 100.0, "eval_examples_per_s": 100.0,
           "train_step_s_by_width": {"42": 0.1, "74": 0.2, "138": 0.4, "266": 1.0}}
    table = {"provenance": {}, "rows": [row]}
    full = planned_epoch("sst2", tmp_path, table, widths=False)
    assert full == pytest.approx(96 / 100.0)  # 3 full batches at 100 examples/s
    assert planned_epoch("sst2", tmp_path, table, widths=True) < 0.5 * full  # short sentences: narrow steps
    assert planned_epoch("boolq", tmp_path, table, widths=True) > 0.8 * full  # long passages: nearly full width


def test_the_pack_profile_sorts_kernels_into_classes_and_names_the_sdpa_kernel():
    from scripts.benchmarks.profile_pack import summarize

    times = {"sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64": 6.0,
             "void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits>": 2.0,
             "void pytorch_flash::flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel": 3.0,
             "triton_poi_fused_add_mul_rsqrt_0": 1.5, "Memcpy HtoD (Pageable -> Device)": 0.5, "ncclKernel_AllReduce": 1.0}
    out = summarize(times, steps=2)
    assert out["ms_per_step"] == {"matmul": 3.0, "attention backward": 1.5, "attention forward": 1.0,
                                  "fused elementwise": 0.75, "other": 0.5, "copies": 0.25}
    assert out["share"]["matmul"] == pytest.approx(6 / 14) and out["sdpa_kernels"] == ["flash"]
    assert out["slowest"][0]["class"] == "matmul"
    eff = summarize({"fmha_cutlassF_bf16_aligned_64x64_rf_sm80": 1.0}, steps=1)
    assert eff["sdpa_kernels"] == ["memory-efficient"] and eff["ms_per_step"] == {"attention forward": 1.0}


def test_the_compiled_pack_width_curve_is_written_per_architecture_beside_the_other_pack_figures(tmp_path):
    import json

    from scripts.benchmarks.pack_widths import KEY, write

    table = tmp_path / "throughput.json"
    table.write_text(json.dumps({"provenance": {}, "rows": [{"a": 1}],
                                 "packing": {"train_speedup_over_solo_eager": {"compiled": {"8": 5.7}}}}))
    rows = [{"members": 8, "width": 266, "step_s": 0.16, "compiled": True}]
    write(table, "google/t5-base-lm-adapt", rows)  # one width is no curve: nothing written
    assert KEY not in json.loads(table.read_text())["packing"]
    rows += [{"members": 8, "width": 74, "step_s": 0.05, "compiled": True}, {"members": 8, "source_tokens": 128,
                                                                           "skipped": "out of time"}]
    write(table, "google/t5-base-lm-adapt", rows)
    write(table, "google/t5-small-lm-adapt", [{**r, "step_s": 0.1} for r in rows[:2]])
    packing = json.loads(table.read_text())["packing"]
    assert packing[KEY] == {"google/t5-base-lm-adapt": {"266": 0.16, "74": 0.05},
                            "google/t5-small-lm-adapt": {"266": 0.1, "74": 0.1}}
    assert packing["train_speedup_over_solo_eager"] == {"compiled": {"8": 5.7}}  # the pack speed-ups stay
    assert "pack_widths" in packing["provenance"][KEY]


def test_the_benchmarks_short_varied_rows_are_padded_to_their_longest_and_counted_net_of_padding():
    import torch

    from scripts.benchmarks.pack_steps import CPU, Bench, packed_step
    from workers.packed_step import PackStats

    bench = Bench(CPU, "cpu")
    batch = bench.batch(0, median=12)
    lengths = batch["attention_mask"].sum(1)
    assert batch["input_ids"].shape[1] == int(lengths.max()) <= CPU["source"] and len(set(lengths.tolist())) > 3
    assert bool((batch["input_ids"][batch["attention_mask"] == 0] == 0).all())  # pads are pad ids
    pack = bench.members(2, median=12)
    stats = PackStats()
    packed_step(pack, "cpu", False, stats)[0]()
    real = sum(int(b["attention_mask"].sum()) + b["labels"].numel() + len(b["labels"]) * m.method.n_tokens
               for m, _, b in pack)
    assert stats.real == real < stats.slots  # the step counted its real tokens and the padding beside them
    assert stats.steps == 1  # per-step figures divide by the passes counted
    assert torch.equal(bench.batch(0, median=12)["input_ids"], batch["input_ids"])  # seeded
