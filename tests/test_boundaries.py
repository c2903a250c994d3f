"""Package boundaries (the README's Layout section), checked by parsing imports."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO

FORBIDDEN = {
    "db": {"ray", "torch", "streamlit", "workers", "orchestrator", "dashboard", "transformers"},
    "workers": {"db", "orchestrator", "dashboard", "streamlit", "optuna", "sqlalchemy"},
    "dashboard": {"orchestrator", "workers", "ray", "torch"},
}
# the task table is data (no torch, no I/O): the store's tables read the metric order of each task from it;
# the member protocol is names and pure rules (no torch, no I/O): the store takes the finished states and
# the peak rule from it; the method registry is configs only (no torch): the prompt export asks it which
# methods train a prompt
ALLOWED = {"db": {"workers.tasks", "workers.members", "workers.methods"}}
TORCH_FREE = ["workers/methods/__init__.py", "workers/methods/configs.py", "workers/tasks.py", "workers/presets.py",
              "workers/trial.py", "workers/members.py", "orchestrator/spec/sweep.py", "orchestrator/spec/text.py", "orchestrator/spec/plan.py",
              "orchestrator/spec/stages.py"]


def _modules(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _imports(path) -> set[str]:
    return {name.split(".")[0] for name in _modules(path)}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_forbidden(package):
    for path in (REPO / package).rglob("*.py"):
        bad = {m for m in _modules(path) if m.split(".")[0] in FORBIDDEN[package]} - ALLOWED.get(package, set())
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_ray_is_confined_to_few_modules():
    users = sorted(str(p.relative_to(REPO)) for p in REPO.glob("[!.]*/**/*.py")
                   if "ray" in _imports(p) and "tests" not in p.parts and ".venv" not in p.parts)
    assert users == ["orchestrator/cli/jobs.py", "orchestrator/spec/preflight.py", "orchestrator/spec/ray_token.py",
                     "orchestrator/tune/callback.py",
                     "orchestrator/tune/early_stopping.py", "orchestrator/tune/faults.py", "orchestrator/tune/pack_board.py",
                     "orchestrator/tune/packing.py", "orchestrator/tune/quiet.py", "orchestrator/tune/ray_start.py",
                     "orchestrator/tune/run.py",
                     "orchestrator/tune/searcher.py", "orchestrator/tune/store_fault.py", "orchestrator/tune/tracking.py",
                     "scripts/benchmarks/schedule.py",  # times a new Tune worker's start: it imports what one imports
                     "scripts/warm_bytecode.py",  # `make install`: a local Ray started once, its processes' byte-code
                     "workers/tune_adapter.py"]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_spec_validation_path_imports_no_torch_at_module_level(module):
    tree = ast.parse((REPO / module).read_text())
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            top.add(node.module.split(".")[0])
    assert "torch" not in top and "transformers" not in top


def test_validating_a_spec_loads_no_torch():
    import subprocess
    import sys

    code = ("import sys; from orchestrator.spec import load_spec; "
            f"load_spec({str(REPO / 'orchestrator/specs/demo.yaml')!r}); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


def test_a_foreign_package_of_a_sibling_name_is_refused_by_name(tmp_path):
    """The packages install under their own names (README, Packaging): a `db` found first is named."""
    import subprocess
    import sys

    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "__init__.py").write_text("")
    env = {"PYTHONPATH": f"{tmp_path}:{REPO}", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", "import orchestrator"], cwd=tmp_path, env=env, capture_output=True,
                         text=True)
    assert run.returncode != 0
    assert f"superpos's package 'db' is not the one Python finds ({tmp_path / 'db' / '__init__.py'}" in run.stderr
    ok = subprocess.run([sys.executable, "-c", "import orchestrator"], cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
