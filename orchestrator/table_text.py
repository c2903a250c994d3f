"""Render the comparison table for a terminal."""

from __future__ import annotations

import pandas as pd

ROW_COLUMNS = ("model", "method", "m", "options", "dropout")


def format_table(table: pd.DataFrame, std: pd.DataFrame | None = None, n: pd.DataFrame | None = None) -> str:
    """Scores with one decimal; 'mean±std' where a cell has several seeds (the footer says n). `std`
    and `n` are shaped like `table` (db.queries.comparison_tables)."""
    if table.empty:
        return "(no completed trials yet)"
    shown = table.copy()
    shown["m"] = shown["m"].map(lambda v: "-" if pd.isna(v) else str(int(v)))
    shown["dropout"] = shown["dropout"].map({True: "on", False: "off"})
    if "options" in shown and not shown["options"].astype(bool).any():
        shown = shown.drop(columns="options")
    numeric = [c for c in shown.columns if c not in ROW_COLUMNS]
    for col in numeric:
        values = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
        if std is not None and col in std:
            values = [v if pd.isna(s) or not v else f"{v}±{s:.1f}" for v, s in zip(values, std[col])]
        shown[col] = values
    text = shown.to_string(index=False)
    if n is not None:
        counts = n.drop(columns=[c for c in ROW_COLUMNS if c in n]).stack()
        if len(counts) and counts.max() > 1:
            text += f"\n(mean±std over seeds; n = {int(counts.min())}" + (
                f"-{int(counts.max())}" if counts.max() != counts.min() else "") + " per cell)"
    return text
