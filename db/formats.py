"""The paper's tables as text: terminal text, Markdown, LaTeX or CSV (db/tables.py builds them), with
the best of each column marked as the table's numbers say (`numbers.attrs["best"]`)."""

from __future__ import annotations

import pandas as pd

from db.tables import DAGGER, one_decimal

FORMATS = ("text", "markdown", "latex", "csv")
NOISE_LABELS = {True: "within noise", False: "differs", None: "n/a (one seed)"}


def _labels(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.copy()
    if "within_noise" in shown:
        shown["within_noise"] = [NOISE_LABELS[None if pd.isna(v) else bool(v)] for v in shown["within_noise"]]
    if "p" in shown:
        shown["p"] = shown["p"].map(lambda v: "" if pd.isna(v) else ("<0.001" if v < 0.001 else f"{v:.3f}"))
    if "m" in shown:
        shown["m"] = shown["m"].map(lambda v: "-" if pd.isna(v) else str(int(v)))
    if "dropout" in shown:
        shown["dropout"] = shown["dropout"].map({True: "on", False: "off"})
    if "options" in shown and not shown["options"].astype(bool).any():
        shown = shown.drop(columns="options")
    return shown


def _best(table: pd.DataFrame, numbers: pd.DataFrame | None, mark) -> pd.DataFrame:
    """Mark the best cells of each column (the paper's bold), as main_table found them."""
    best = None if numbers is None else numbers.attrs.get("best")
    if best is None:
        return table
    marked = table.copy()
    for col in best.columns:
        for i in best.index[best[col]]:
            if marked.at[i, col]:
                marked.at[i, col] = mark(marked.at[i, col])
    return marked


def render(table: pd.DataFrame, numbers: pd.DataFrame | None, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if table.empty:
        return "(no rows)"
    if fmt == "csv":  # the numbers, labelled as the text table labels them
        return _labels(numbers if numbers is not None else table).to_csv(index=False).rstrip("\n")
    numeric = [c for c in table.columns if pd.api.types.is_float_dtype(table[c]) and c != "p"]
    shown = _labels(table)
    for col in numeric:
        shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else one_decimal(v))
    if fmt == "text":
        return _best(shown, numbers, lambda v: f"*{v}").to_string(index=False)
    if fmt == "markdown":
        shown = _best(shown, numbers, lambda v: f"**{v}**")
        header = "| " + " | ".join(shown.columns) + " |"
        rule = "|" + "|".join("---" for _ in shown.columns) + "|"
        return "\n".join([header, rule, *("| " + " | ".join(map(str, r)) + " |" for r in shown.itertuples(index=False))])
    shown = _best(shown, numbers, lambda v: f"\\textbf{{{v}}}")
    body = [" & ".join(str(v).replace("_", "\\_").replace("±", "$\\pm$").replace(DAGGER, "$^\\dagger$")
                       for v in r) + " \\\\" for r in shown.itertuples(index=False)]
    columns = " & ".join(c.replace("_", "\\_") for c in shown.columns)
    return "\n".join([f"\\begin{{tabular}}{{{'l' * len(shown.columns)}}}", "\\toprule", columns + " \\\\",
                      "\\midrule", *body, "\\bottomrule", "\\end{tabular}"])
