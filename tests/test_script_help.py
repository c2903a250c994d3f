"""Every script's `--help` opens with its docstring's whole first paragraph: a description that
stopped at the docstring's first line break ended mid-sentence (`schedule`: "..., the plan of a")."""

from __future__ import annotations

import ast
import re

import pytest

from scripts import first_paragraph
from tests.conftest import REPO

SCRIPTS = sorted(p for p in (REPO / "scripts").rglob("*.py") if "ArgumentParser(" in p.read_text())


def test_the_first_paragraph_is_joined_onto_one_line():
    assert first_paragraph("\nOne sentence that\nwraps.\n\n    usage: x\n") == "One sentence that wraps."


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_a_scripts_description_is_its_whole_first_paragraph(path):
    source = path.read_text()
    parsers = re.findall(r"ArgumentParser\((.*?)\)\n", source)
    assert parsers and all("description=first_paragraph(__doc__)" in call for call in parsers), parsers
    described = first_paragraph(ast.get_docstring(ast.parse(source), clean=False))
    assert described.endswith((".", ")", "?")), described  # a sentence's end, not a line's
