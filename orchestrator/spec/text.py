"""A spec's text in, its problems out: YAML read within bounds (size, nesting, alias expansion: a
"billion laughs" file is refused before it is expanded), and every problem in one `SpecError`, each
line naming its key in the product's words with long values cut. orchestrator/spec/sweep.py checks what the
keys mean."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


def _cut(problem: str, limit: int = 600) -> str:
    """A problem's line stays readable whatever value it quotes."""
    return problem if len(problem) <= limit else f"{problem[:limit]}... ({len(problem) - limit:,} more characters)"


class SpecError(ValueError):
    """A sweep spec is invalid; the message names each bad key and what would be accepted."""

    def __init__(self, problems: list[str] | str, source: str = "spec"):
        self.problems = [_cut(p) for p in ([problems] if isinstance(problems, str) else problems)]
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{source}: {len(self.problems)} problems\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


MAX_SPEC_BYTES = 256_000  # a spec is a small file; anything larger is refused before it is parsed
MAX_SPEC_VALUES = 50_000  # values once YAML aliases are expanded (a "billion laughs" file expands to billions)
MAX_SPEC_DEPTH = 50  # nesting of mappings and lists
MAX_SHOWN = 120  # characters of a bad value an error message shows


def _short(value: Any) -> str:
    """A value as an error message shows it: its repr, cut to MAX_SHOWN characters."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}... ({len(text):,} characters)"


def _expanded(node: yaml.Node, memo: dict[int, int], depth: int = 0) -> int:
    """How many values `node` stands for once every alias is expanded (shared nodes counted each
    time they are used, each computed once), refusing deep nesting as it goes."""
    if depth > MAX_SPEC_DEPTH:
        raise SpecError(f"the YAML nests deeper than {MAX_SPEC_DEPTH} levels; a sweep spec is a few levels deep")
    if id(node) not in memo:
        children = node.value if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)) else []
        items = [part for pair in children for part in pair] if isinstance(node, yaml.MappingNode) else children
        memo[id(node)] = 1 + sum(_expanded(child, memo, depth + 1) for child in items)
    return memo[id(node)]


def read_text(path: Path, kind: str) -> str:
    """A YAML file's text (a sweep spec's, a trial config's); a file that is not UTF-8 text is named."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"{path} is not a text (UTF-8) file: byte {err.start} cannot be read; a {kind} is YAML") from None


def load_yaml(text: str, source: str) -> Any:
    """yaml.safe_load with bounds: size, nesting and alias expansion are checked on the composed node
    graph (where an alias is one shared node), before anything is expanded."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"{source} is {len(text):,} characters; a sweep spec is a small YAML file (at most "
                        f"{MAX_SPEC_BYTES:,})")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            values = _expanded(root, {})
            if values > MAX_SPEC_VALUES:
                raise SpecError(f"{source} expands to {values:,} values once its YAML aliases (&name / *name) are "
                                f"followed, more than {MAX_SPEC_VALUES:,}; write the values out, or use fewer aliases")
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"{source} is not valid YAML: {err}") from None
    except RecursionError:
        raise SpecError(f"{source} nests too deeply to be a sweep spec") from None
    except ValueError as err:  # e.g. an integer of thousands of digits
        raise SpecError(f"{source} holds a value that cannot be read: {_cut(str(err), 200)}") from None


def _path(loc: tuple) -> str:
    out = "spec"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


UNION_TAG = re.compile(r"^(int|bool|str|float|none|[a-z-]+\[.*\])$")  # pydantic's name of a union's member


def _section(model: type | None, loc: tuple) -> dict:
    """The fields of the section of `model` that holds the key at `loc` ({} where there is none)."""
    section = model
    for part in loc[:-1]:
        field = getattr(section, "model_fields", {}).get(part)
        section = getattr(field, "annotation", None) if field is not None else None
    return getattr(section, "model_fields", {})


def _unknown_key(model: type | None, loc: tuple, hints: dict[tuple, str]) -> str:
    """Why a key is unknown (`hints`, by its place), else with the closest allowed key of its section."""
    key = loc[-1] if loc else ""
    if loc in hints:
        return hints[loc]
    allowed = list(_section(model, loc))
    close = difflib.get_close_matches(str(key), allowed, n=1)
    return "unknown key" + (f"; did you mean {close[0]!r}?" if close else "") + \
        "; see `superpos sweep schema` for the allowed ones"


def schema_problems(err: ValidationError, model: type | None = None, hints: dict[tuple, str] | None = None) -> list[str]:
    """One line per bad key in the product's words: a union's alternatives (pydantic reports each
    under its own tag, e.g. `pack_size.int` and `pack_size.literal['auto']`) become one line; an
    unknown key names the closest allowed one of `model`'s section, or its entry in `hints`."""
    merged: dict[tuple, list[dict]] = {}
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and UNION_TAG.match(p)))
        merged.setdefault(loc, []).append(e)
    problems = []
    for loc, errors in merged.items():
        first = errors[0]
        if first["type"] == "extra_forbidden":
            msg = _unknown_key(model, loc, hints or {})
        elif first["type"] == "string_pattern_mismatch" and loc and loc[-1] in _section(model, loc):
            msg = f"must be {_section(model, loc)[loc[-1]].description}"  # its help lists what a pattern allows
        elif len(errors) > 1:
            wanted = dict.fromkeys(e["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
                                   for e in errors)
            msg = "must be " + " or ".join(wanted)
        else:
            msg = first["msg"].removeprefix("Value error, ")
        shown = first.get("input")
        got = "" if first["type"] in ("missing", "value_error") or isinstance(shown, dict) else f" (got {_short(shown)})"
        problems.append(f"{_path(loc)}: {msg}{got}")
    return problems
