"""A built wheel works outside the source tree: its own files (schema migrations, the paper's numbers,
the tokenizer, demo data, specs) are inside it."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import textwrap

import pytest

from db.migrate import head_revision
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # a wheel installed in a fresh venv


def test_a_wheel_installed_in_a_fresh_venv_runs_the_store_and_a_sweep(tmp_path):
    wheels, source = tmp_path / "wheels", tmp_path / "source"  # a copy: a build leaves build/ behind
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.db*",
                                                                "__pycache__", "*.egg-info", ".*_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(source)], check=True, capture_output=True, cwd=tmp_path)
    venv = tmp_path / "venv"  # without pip of its own (ensurepip: 7 s); this pip installs into it
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": ""}
    wheel = next(wheels.glob("superpos-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, env=env)
    # then the dependencies come from this environment (a path file, so its editable install stays out; written
    # after the install, so that pip does not see this environment's superpos and try to uninstall it)
    packages = next(venv.glob("lib/python*/site-packages"))
    (packages / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()

    def superpos(*args):
        out = subprocess.run([str(venv / "bin" / "superpos"), *args], capture_output=True, text=True, cwd=work,
                             env=env, timeout=300)
        assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-2000:])
        return out.stdout

    where = subprocess.run([str(python), "-c", "import db, workers; print(db.__file__, workers.__file__)"],
                           capture_output=True, text=True, cwd=work, env=env, check=True).stdout
    assert str(REPO) not in where and str(venv) in where  # the wheel's copy, not the source tree
    assert f"revision {head_revision()}" in superpos("db", "upgrade", "--db", "r.db")
    assert "304 rows of paper_table1" in superpos("db", "import-reference", "--db", "r.db")
    (work / "one.yaml").write_text(textwrap.dedent(f"""
        methods: [prompt_tuning]
        tasks: [rte]
        models: [tiny-t5-lm-adapt]   # its weights ship in the wheel
        dropout: [off]
        optuna: {{trials_per_cell: 1}}
        training: {{epochs: 1, max_train_samples: 16, max_eval_samples: 16}}
        ray: {{num_cpus: 1, storage_path: {work / 'ray'}}}
    """))
    assert "wall time:" in superpos("sweep", "plan", "one.yaml")  # the CPU throughput table ships too
    out = superpos("sweep", "run", "one.yaml", "--db", "r.db")
    assert "[  1/1]" in out and "prompt_tuning" in out
