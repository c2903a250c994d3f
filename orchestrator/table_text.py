"""Render the comparison table for a terminal."""

from __future__ import annotations

import pandas as pd


def format_table(table: pd.DataFrame) -> str:
    if table.empty:
        return "(no completed trials yet)"
    shown = table.copy()
    shown["m"] = shown["m"].map(lambda v: "-" if pd.isna(v) else str(int(v)))
    shown["dropout"] = shown["dropout"].map({True: "on", False: "off"})
    numeric = [c for c in shown.columns if c not in ("model", "method", "m", "dropout")]
    for col in numeric:
        shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    return shown.to_string(index=False)
