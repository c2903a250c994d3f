"""Import the paper's published numbers (db/reference_data/*.csv, copied from the paper's tables and
Fig. 2c) into `reference_results`, tagged by source, so tables can show "paper" beside "ours".
Idempotent: importing twice leaves one row per number."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from db.models import ReferenceResult

DATA = Path(__file__).resolve().parent / "reference_data"
METRIC_IDS = {"f1_macro": "macro_f1"}  # the paper's names -> this project's metric ids
FIG2C = ("google/t5-base-lm-adapt", "superpos_prompt", "off")  # what Fig. 2c plots
PAPER_M = {"superpos_prompt": 128}  # Table 1's m for the methods that have one (the others: none)

Row = dict


def _rows(name: str) -> Iterator[dict]:
    with (DATA / name).open(newline="") as fh:
        yield from csv.DictReader(line for line in fh if not line.startswith("#"))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _table1() -> Iterator[Row]:
    for r in _rows("paper_table1.csv"):
        yield dict(model=r["model"], method=r["method"], dropout=r["dropout"], variant="", task=r["task"],
                   metric=METRIC_IDS.get(r["metric"], r["metric"]), value=_number(r["value"]),
                   note="invalid_output=yes" if r["invalid_output"] == "yes" else None)


def _table1_averages() -> Iterator[Row]:
    for r in _rows("paper_table1_averages.csv"):
        yield dict(model=r["model"], method=r["method"], dropout=r["dropout"], variant="", task="average",
                   metric="score", value=_number(r["average"]), note=None)


def _table2() -> Iterator[Row]:
    for r in _rows("paper_table2.csv"):
        for stat in ("mean", "std"):
            yield dict(model=r["model"], method=r["method"], dropout=r["dropout"], variant="", task="standardized",
                       metric=stat, value=_number(r[f"standardized_{stat}"]), note=None)


def _table3() -> Iterator[Row]:
    for r in _rows("paper_table3.csv"):
        variant = f"prompt_tokens={r['prompt_tokens']},softmax={r['softmax'] or '-'}"
        yield dict(model=r["model"], method=r["method"], dropout=r["dropout"] or "", variant=variant, task=r["task"],
                   metric=METRIC_IDS.get(r["metric"], r["metric"]), value=_number(r["value"]),
                   note=f"reported by: {r['source']}")


def _fig2c() -> Iterator[Row]:
    model, method, dropout = FIG2C
    for r in _rows("paper_fig2c_m_ablation.csv"):
        for col, value in r.items():
            if col.startswith("m"):
                yield dict(model=model, method=method, dropout=dropout, variant=f"m={col[1:]}", task=r["task"],
                           metric="score", value=100 * float(value), note="read off the plot, approximate")


SOURCES: dict[str, Callable[[], Iterator[Row]]] = {
    "paper_table1": _table1,
    "paper_table1_averages": _table1_averages,
    "paper_table2": _table2,
    "paper_table3": _table3,
    "paper_fig2c": _fig2c,
}


def import_reference(engine: Engine) -> dict[str, int]:
    """Replace every source's rows in one transaction; returns rows per source."""
    counts = {}
    with Session(engine) as s, s.begin():
        for source, rows in SOURCES.items():
            s.query(ReferenceResult).filter(ReferenceResult.source == source).delete()
            batch = [ReferenceResult(source=source, **row) for row in rows()]
            s.add_all(batch)
            counts[source] = len(batch)
    return counts
