"""Human labels for ids (the one place they live); ids stay snake_case everywhere else."""

from __future__ import annotations

import pandas as pd

METHOD_LABELS = {
    "prompt_tuning": "Simple PT",
    "superpos_prompt": "SuperPos PT",
    "residual_prompt": "Residual PT",
    "full_finetune": "Full fine-tuning",
    "attempt": "ATTEMPT",
}


def method_label(method: str, m=None) -> str:
    label = METHOD_LABELS.get(method, method)
    return label if pd.isna(m) else f"{label} (m={int(m)})"
