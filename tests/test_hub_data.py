"""`data: hub` is checked before a sweep starts: offline, every dataset must be in the cache; online, the
hub must answer and every dataset must resolve. Before, a closed or silent hub (HF_ENDPOINT) let the
sweep open its store and start Ray, and every trial then failed after about 23 s of retries (closed)
or waited (silent: the first trial was still waiting after 600 s). The online cases run in a child
process pointed at a stand-in hub (tests/fake_hub.py says why)."""

from __future__ import annotations

import subprocess

import datasets.config

from orchestrator.spec import hub_data, parse_spec
from tests.conftest import REPO
from tests.fake_hub import answering_hub, closed_port, hub_env, run_python, silent_hub
from tests.sweep_cli import CLI

SPEC = ("methods: [prompt_tuning]\ntasks: [sst2, cb]\nmodels: [tiny-t5-lm-adapt]\ndropout: [off]\n"
        "optuna: {trials_per_cell: 1}\ntraining: {epochs: 1, data: hub}\nray: {num_cpus: 1}\n")
FIXES = "or use data: demo or a local directory laid out like the hub's"


def _superpos(url: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=REPO, env=hub_env(url),
                          timeout=300)


def test_a_closed_hub_stops_the_sweep_before_the_store_or_ray(tmp_path):
    (tmp_path / "hub.yaml").write_text(SPEC)
    with closed_port() as url:
        out = _superpos(url, "sweep", "run", tmp_path / "hub.yaml", "--db", tmp_path / "s.db")
    assert out.returncode == 2, out.stderr[-3000:]
    assert out.stderr.strip() == (
        f"superpos: error: spec.training.data: hub: the Hugging Face hub at {url} does not answer (ConnectError: "
        "[Errno 111] Connection refused); check the network (and HF_ENDPOINT); where the datasets are in the local "
        f"cache, set HF_DATASETS_OFFLINE=1 to read them from there; {FIXES}")
    assert "Started a local Ray instance" not in out.stdout and not (tmp_path / "s.db").exists()


def test_a_silent_hub_is_given_up_after_one_probe():
    code = ("import json; from orchestrator.spec import hub_data, parse_spec; hub_data.HUB_PROBE_S = 0.5; "
            f"print(json.dumps(hub_data.hub_data_problems(parse_spec({SPEC!r}))))")
    with silent_hub() as url:
        said = run_python(code, url)
    assert said == [f"spec.training.data: hub: the Hugging Face hub at {url} does not answer (no answer within 0.5 s); "
                    "check the network (and HF_ENDPOINT); where the datasets are in the local cache, set "
                    f"HF_DATASETS_OFFLINE=1 to read them from there; {FIXES}"]


def test_a_hub_that_answers_without_the_datasets_names_each_task(tmp_path):
    (tmp_path / "hub.yaml").write_text(SPEC)
    with answering_hub() as (url, asked):
        out = _superpos(url, "sweep", "run", tmp_path / "hub.yaml", "--db", tmp_path / "s.db")
    assert out.returncode == 2, out.stderr[-3000:]
    line = out.stderr.strip()
    assert line.startswith(f"superpos: error: spec.training.data: hub datasets that cannot be loaded from {url} (check "
                           f"the network and spec.training.revisions, {FIXES}): sst2 (nyu-mll/glue/sst2: FileNotFoundError")
    assert "cb (aps/super_glue/cb: " in line and not (tmp_path / "s.db").exists()
    # the probe, then each dataset's own files were asked of this hub, as the trials would ask
    assert any(p.startswith("/api/datasets?") for p in asked)
    assert any("/datasets/nyu-mll/glue/" in p for p in asked) and any("/datasets/aps/super_glue/" in p for p in asked)


def test_offline_the_cache_is_what_is_checked_and_the_hub_is_not_asked(monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    hub_data.hub_silence.cache_clear()
    [line] = hub_data.hub_data_problems(parse_spec(SPEC))
    assert line == ("spec.training.data: hub datasets not in the local cache while offline: sst2 (nyu-mll/glue/sst2), "
                    "cb (aps/super_glue/cb); download them once with network access (unset HF_DATASETS_OFFLINE there), "
                    f"{FIXES}")
    assert hub_data.hub_silence.cache_info().currsize == 0  # no probe
    assert hub_data.hub_data_problems(parse_spec(SPEC.replace("data: hub", "data: demo"))) == []


def test_plan_reading_a_closed_hub_notes_it_instead_of_retrying_each_task(tmp_path):
    (tmp_path / "hub.yaml").write_text(SPEC.replace("tiny-t5-lm-adapt", "random:google/t5-small-lm-adapt"))
    with closed_port() as url:
        out = _superpos(url, "sweep", "plan", tmp_path / "hub.yaml", "--read-hub-data")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (f"inputs taken at full length (an upper bound) for cb, sst2: the Hugging Face hub at {url} does not answer "
            "(ConnectError: [Errno 111] Connection refused)") in out.stdout, out.stdout
