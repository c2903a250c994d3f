"""scripts/warm_bytecode.py, which `make install` runs to byte-compile what the product imports: every
module it names exists (a renamed one would fail the install), and it refuses to run where nothing
would be written."""

from __future__ import annotations

import importlib.util

import pytest

from scripts import warm_bytecode


@pytest.mark.parametrize("name", warm_bytecode.TORCH + warm_bytecode.RAY)
def test_every_module_it_imports_is_installed(name):
    assert importlib.util.find_spec(name) is not None, name


def test_it_refuses_where_byte_code_writing_is_off_and_a_wrong_argument(monkeypatch, capsys):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    assert warm_bytecode.main(["torch"]) == 2
    assert "PYTHONDONTWRITEBYTECODE= " in capsys.readouterr().err
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "")
    assert warm_bytecode.main(["tensorflow"]) == 2
    assert "python -m scripts.warm_bytecode torch" in capsys.readouterr().err
