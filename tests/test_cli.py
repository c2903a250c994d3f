"""The `superpos` command line as a user meets it."""

from __future__ import annotations

import json
import subprocess
import sys

from db.migrate import head_revision
from tests.cli_here import superpos as here
from tests.conftest import REPO


def superpos(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True,
                          cwd=cwd or REPO)


def test_help_lists_the_commands():
    out = superpos("--help")
    assert out.returncode == 0
    for command in ("sweep", "table", "dashboard", "trial"):
        assert command in out.stdout


def test_version_and_a_closed_pipe_are_not_errors(tmp_path):
    out = superpos("--version")
    assert out.returncode == 0 and out.stdout.startswith("superpos 0.")
    spec = tmp_path / "wide.yaml"  # 2,500 cells: more lines than a pipe holds, so `head` closes it early
    spec.write_text(f"methods: [superpos_prompt]\ntasks: [rte, cb, copa, wic, boolq]\nm: {list(range(1, 501))}\n")
    piped = subprocess.run(f"set -o pipefail; {sys.executable} -m orchestrator.cli sweep validate {spec} --cells "
                           "| head -1", shell=True, executable="/bin/bash", capture_output=True, text=True, cwd=REPO)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    assert "valid. 2,500 cells (1 method with their option grids x 5 tasks x 1 model" in piped.stdout


def test_validate_prints_the_grid():
    out = superpos("sweep", "validate", "orchestrator/specs/demo.yaml")
    assert out.returncode == 0, out.stderr
    assert "18 cells" in out.stdout and "54 search trials (tpe) + 18 replicas = 72 trials of 10 epochs" in out.stdout
    assert "superpos_prompt|sst2|tiny-t5-lm-adapt|m=8|dropout=off" in out.stdout


def test_bad_spec_fails_before_anything_starts(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("methods: [superpos]\ntasks: [rte]\n")
    out = superpos("sweep", "run", str(spec), "--db", str(tmp_path / "r.db"))
    assert out.returncode == 2
    assert "spec.methods[0]" in out.stderr and "'superpos'" in out.stderr and "superpos_prompt" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "r.db").exists()


def test_submit_refuses_a_spec_that_would_not_join_the_cluster(tmp_path):
    """A null or 'local' address in a job started a Ray of its own on the head (or, before, failed in the
    job's log: "When connecting to an existing cluster, object_store_memory must not be provided")."""
    for address in ("null", "local"):
        spec = tmp_path / f"{address}.yaml"
        spec.write_text(f"methods: [prompt_tuning]\ntasks: [rte]\nray: {{address: {address}}}\n")
        out = here("sweep", "submit", spec, "--address", "http://127.0.0.1:1", "--db", tmp_path / "r.db")
        assert out.returncode == 2 and out.stderr.startswith(f"superpos: error: {spec}: ray.address is {address}, "
                                                             "which starts a local Ray"), out.stderr
        assert "set `ray: {address: auto}`" in out.stderr and not (tmp_path / "r.db").exists()


def test_a_spec_that_starts_its_own_ray_is_refused_as_a_ray_jobs_entrypoint(tmp_path, monkeypatch):
    """`ray job submit -- superpos sweep run demo.yaml`: Ray read null as the cluster's address, then refused
    the local settings; with null read as a local Ray it would start a second Ray there, the cluster idle."""
    spec = tmp_path / "s.yaml"
    spec.write_text("methods: [prompt_tuning]\ntasks: [rte]\nray: {num_cpus: 1}\n")
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", '{"runtime_env": {}, "metadata": {}}')  # as Ray Jobs set it
    out = here("sweep", "run", spec, "--db", tmp_path / "r.db")
    assert out.returncode == 2 and "superpos: error: spec.ray.address: null starts a Ray of this process's own, and " \
        "this runs as a job on a Ray cluster" in out.stderr and "`ray: {address: auto}`" in out.stderr, out.stderr
    assert not (tmp_path / "r.db").exists()


def test_what_auto_would_join_is_checked_before_the_store_opens(tmp_path, monkeypatch):
    """`export RAY_ADDRESS=http://HEAD:8265` (what `ray job submit` takes): Ray refused it in a message whose
    last line alone was printed ("Ray did not connect to auto (2. Set RAY_ADDRESS to ...)"), after the store
    file was made. A RAY_ADDRESS that refuses connections: Ray's client retried, the store file made."""
    import socket

    spec = tmp_path / "s.yaml"
    spec.write_text("methods: [prompt_tuning]\ntasks: [rte]\nray: {address: auto}\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    for address, said in (("http://127.0.0.1:8265", "spec.ray.address: auto joins the cluster that RAY_ADDRESS names, "
                           "and RAY_ADDRESS is http://127.0.0.1:8265, a dashboard's (Jobs API) address: unset it"),
                          (f"127.0.0.1:{port}", f"spec.ray.address: cannot reach 127.0.0.1:{port} (auto: RAY_ADDRESS) "
                           "(Connection refused)")):
        monkeypatch.setenv("RAY_ADDRESS", address)
        out = here("sweep", "run", spec, "--db", tmp_path / "r.db")
        assert out.returncode == 2 and said in out.stderr, out.stderr
        assert not (tmp_path / "r.db").exists()


def test_table_on_missing_database_is_a_clear_error(tmp_path):
    out = here("table", "--db", str(tmp_path / "none.db"))
    assert out.returncode == 2 and "no results database" in out.stderr
    assert not (tmp_path / "none.db").exists()


def test_trial_run_prints_one_json_line_per_epoch(tmp_path):
    cfg = tmp_path / "trial.yaml"
    cfg.write_text("method: superpos_prompt\ntask: sst2\nmethod_params: {m: 8}\nepochs: 2\n"
                   "max_train_samples: 32\nmax_eval_samples: 16\ndropout: false\n")
    out = superpos("trial", "run", str(cfg), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(0 <= r["val/score"] <= 1 for r in rows)
    # the learned p' is summarised, not printed: the terminal stays readable
    assert rows[-1]["snapshot"] == {"pprime": {"shape": [10, 8], "dtype": "float32"}}
    assert max(len(line) for line in out.stdout.splitlines()) < 2000


def test_a_trial_config_that_is_not_one_is_named_in_one_line(tmp_path):
    cases = {"broken.yaml": (b"task: [rte\n", "broken.yaml is not valid YAML"),
             "binary.yaml": (b"\xff\xfe\x00bad", "binary.yaml is not a text (UTF-8) file: byte 0"),
             "word.yaml": (b"hello\n", "a trial config is a mapping of options"),
             "huge.yaml": (b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
                 f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
                 f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n".encode()
                 for i in range(8)), "once its YAML aliases")}  # a billion laughs: bounded as a spec is
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        out = here("trial", "run", str(tmp_path / name))
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, (name, out.stderr)


def test_model_info_matches_the_papers_counts():  # t5-small and t5-base built on the meta device
    out = here("model", "info", "google/t5-base-lm-adapt", "--weights", "random", "--method", "superpos_prompt",
                   "--set", "m=128")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert (info["model_parameters"], info["trainable_parameters"]) == (247_577_856, 984_320)
    small = json.loads(here("model", "info", "google/t5-small-lm-adapt", "--weights", "random").stdout)
    assert (small["model_parameters"], small["trainable_parameters"]) == (76_961_152, 656_640)


def test_model_info_offline_hub_load_is_a_clear_error(capsys):
    from orchestrator.cli import main

    assert main(["model", "info", "google/t5-base-lm-adapt", "--weights", "pretrained"]) == 2  # in-process, offline
    err = capsys.readouterr().err
    assert "could not load model" in err and "random" in err


def test_model_info_by_default_counts_an_uncached_preset_offline_and_names_a_typo(capsys, monkeypatch):
    from orchestrator.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # in-process: the same command without a second interpreter
    assert main(["model", "info", "google/t5-small-lm-adapt"]) == 0  # offline, not cached: its architecture
    out = capsys.readouterr()
    assert json.loads(out.out)["weights"] == "random" and "HF_HUB_OFFLINE" in out.err
    assert main(["model", "info", "tiny-t6"]) == 2
    assert "did you mean 'tiny-t5'" in capsys.readouterr().err


def test_db_upgrade_and_import_reference(tmp_path):
    db = str(tmp_path / "r.db")
    up = here("db", "upgrade", "--db", db)
    assert up.returncode == 0 and f"revision {head_revision()}" in up.stdout
    ref = here("db", "import-reference", "--db", db)
    assert ref.returncode == 0 and "304 rows of paper_table1" in ref.stdout


def test_every_shipped_spec_is_valid():
    import yaml

    from orchestrator.spec import load_spec
    from workers.trial import TrialConfig

    specs = sorted((REPO / "orchestrator" / "specs").glob("*.yaml"))
    assert len(specs) >= 2
    for path in specs:
        raw = yaml.safe_load(path.read_text())
        if "methods" in raw:
            load_spec(path)
        else:
            TrialConfig.from_dict(raw)


def test_trial_help_lists_every_option():
    from dataclasses import fields

    from workers.trial import TrialConfig

    out = here("trial", "run", "--help").stdout
    for f in fields(TrialConfig):
        assert f"  {f.name} " in out
