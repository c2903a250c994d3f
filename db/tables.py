"""The paper's tables, from a sweep or from the imported paper numbers: one implementation for the
terminal (`superpos table`) and the dashboard.

Every table starts from one long frame of task scores per row (model x method x options x dropout)
and task: the mean over seeds, its std and n, the metrics behind it, and whether the run produced no
valid label (the paper's dagger). Kinds:

- main: the paper's Table 1 layout: two-metric tasks as "a/b", the task score's mean±std (n) where
  there are several seeds, a dagger where no output was a valid label, the best of each column marked
  (with the rows within its seeds' noise, db/noise.py; none when every row ties, never a dagger);
- standardized: the paper's Table 2 (each task min-max scaled to 0..100 over the rows, then the mean
  and the population std over tasks);
- versus: ours beside the paper's on the rows and tasks both have, the difference per cell and the
  average over those tasks only; or beside another sweep (`against`): both means with their std and n,
  the difference with its 95% interval, and whether it is within the seeds' noise (db/noise.py).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Engine

from db import queries
from db.noise import tied_with_best, welch
from db.queries import ROW_KEYS, read_frame
from db.reference import PAPER_M
from workers.methods import METHOD_CONFIGS
from workers.tasks import TASKS

KINDS = ("main", "standardized", "versus")
DAGGER = "†"
NOT_RUN = "-"  # a source-mixing method's row, on a task it does not run (its source tasks)
_PLAIN = METHOD_CONFIGS["prompt_tuning"]  # what an unknown method id (an older store's) is treated as
REPORTED = {"peak": "score", "final": "score_final"}


def one_decimal(value: float) -> str:
    """A score with one decimal, halves rounded away from zero (as SQL's ROUND and the paper round; Python's
    format would give 56.25 -> 56.2): the one rounding rule of every table."""
    return str(Decimal(repr(float(value))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))  # cell_results columns: <name>_mean, <name>_std

# per cell and metric: the mean over the chosen trial and its replicas, at the reported split
_CELL_METRICS = text("""
SELECT rt.cell_id, rs.metric, AVG(rs.value) AS value
FROM reported_trials rt
JOIN cells c ON c.id = rt.cell_id
JOIN reported_scores rs ON rs.trial_id = rt.trial_id AND rs.selection = :selection
WHERE c.sweep_id = :sweep_id
GROUP BY rt.cell_id, rs.metric
""")


def _metric_text(task: str, metrics: dict[str, float]) -> str:
    names = TASKS[task].metrics if task in TASKS else ()
    values = [metrics.get(name) for name in names]
    if len(names) > 1 and all(v is not None and v == v for v in values):
        return "/".join(one_decimal(v) for v in values)
    return ""


def sweep_scores(engine: Engine, sweep_id: int, selection: str = "peak") -> pd.DataFrame:
    """Long frame: ROW_KEYS, task, score, std, n, invalid, metrics (text 'a/b' for two-metric tasks)."""
    cells = queries.cell_results(engine, sweep_id)
    if cells.empty:
        return pd.DataFrame(columns=[*ROW_KEYS, "task", "score", "std", "n", "invalid", "metrics"])
    per_metric = read_frame(engine, _CELL_METRICS, selection=selection, sweep_id=sweep_id)
    by_cell: dict[int, dict[str, float]] = {}
    for row in per_metric.itertuples():
        by_cell.setdefault(int(row.cell_id), {})[row.metric] = None if row.value is None else 100 * row.value
    column = REPORTED[selection]
    out = cells[[*ROW_KEYS, "task"]].copy()
    out["score"] = cells[f"{column}_mean"] * 100
    out["std"] = cells[f"{column}_std"] * 100
    out["n"] = cells["n_seeds"]
    metrics = [by_cell.get(int(c), {}) for c in cells["cell_id"]]
    out["invalid"] = [m.get("invalid_rate") == 100.0 for m in metrics]
    out["metrics"] = [_metric_text(t, m) for t, m in zip(cells["task"], metrics)]
    return out.reset_index(drop=True)


def paper_scores(engine: Engine, model: str | None = None) -> pd.DataFrame:
    """The same long frame from the imported Table 1 (one run per row: no std)."""
    ref = queries.reference_results(engine, "paper_table1")
    if model is not None and not ref.empty:
        ref = ref[ref["model"] == model]
    if ref.empty:  # nothing imported, or not this model (e.g. the demo's tiny-t5)
        return pd.DataFrame(columns=[*ROW_KEYS, "task", "score", "std", "n", "invalid", "metrics"])
    rows = []
    for (m, method, dropout, task), group in ref.groupby(["model", "method", "dropout", "task"]):
        values = dict(zip(group["metric"], group["value"]))
        rows.append({"model": m, "method": method, "m": PAPER_M.get(method, pd.NA),
                     "options": "", "dropout": dropout == "on", "task": task,
                     "score": sum(values.values()) / len(values), "std": float("nan"), "n": 1,
                     "invalid": (group["note"] == "invalid_output=yes").any(), "metrics": _metric_text(task, values)})
    out = pd.DataFrame(rows)
    out["m"] = out["m"].astype("Int64")
    return out


def appendix_table(engine: Engine) -> pd.DataFrame:
    """The paper's Table 3 (appendix: T5 v1.0 base, prompt lengths, softmax, numbers others reported):
    one row per model, method, variant, dropout and who reported it; task scores (metrics averaged)."""
    ref = queries.reference_results(engine, "paper_table3")
    if ref.empty:
        return ref
    ref = ref.assign(reported_by=ref["note"].str.removeprefix("reported by: "))
    keys = ["model", "method", "variant", "dropout", "reported_by"]
    table = ref.groupby([*keys, "task"], dropna=False)["value"].mean().unstack("task")
    table.columns.name = None
    return table[[t for t in TASKS if t in table.columns]].reset_index()


def _wide(scores: pd.DataFrame, value: str) -> pd.DataFrame:
    table = scores.groupby([*ROW_KEYS, "task"], dropna=False)[value].first().unstack("task")
    table.columns.name = None
    order = [t for t in TASKS if t in table.columns]
    return table[order]


def score_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Numbers only: task scores (percent) as columns and the average (NaN while a task is missing)."""
    if scores.empty:
        return pd.DataFrame(columns=[*ROW_KEYS, "average"])
    table = _wide(scores.assign(options=scores["options"].fillna("")), "score")
    table["average"] = table.mean(axis=1, skipna=False)
    return table.reset_index().sort_values(ROW_KEYS, ignore_index=True)


def main_table(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cell texts, the numbers behind them) in the paper's layout; the best of each column is found
    on the numbers."""
    numbers = score_table(scores)
    if numbers.empty:
        return numbers, numbers
    keyed = scores.assign(options=scores["options"].fillna("")).set_index([*ROW_KEYS, "task"])
    texts = numbers.copy().astype(object)
    for i, row in numbers.iterrows():
        for task in [c for c in numbers.columns if c in TASKS]:
            key = (*[row[k] for k in ROW_KEYS], task)
            if key not in keyed.index or pd.isna(row[task]):
                # a method that mixes source prompts is not run on its source tasks: the paper's '-'
                texts.at[i, task] = NOT_RUN if METHOD_CONFIGS.get(row["method"], _PLAIN).needs_sources else ""
                continue
            cell = keyed.loc[key]
            shown = cell["metrics"] or one_decimal(cell["score"])
            if cell["invalid"]:
                shown += DAGGER
            if cell["n"] and cell["n"] > 1 and not pd.isna(cell["std"]):
                shown += f" ±{one_decimal(cell['std'])}"
            texts.at[i, task] = shown
        texts.at[i, "average"] = "" if pd.isna(row["average"]) else one_decimal(row["average"])
    if scores["n"].max() > 1:  # how many seeds each row's means and stds are over
        def row_key(frame: pd.DataFrame) -> list[str]:
            return ["|".join(map(str, values)) for values in frame[ROW_KEYS].itertuples(index=False)]

        seeds = scores.assign(row=row_key(scores.assign(options=scores["options"].fillna("")))).groupby("row")["n"]
        low, high = (seeds.min().reindex(row_key(numbers)).tolist(), seeds.max().reindex(row_key(numbers)).tolist())
        texts["seeds"] = [str(int(b)) if a == b else f"{int(a)}-{int(b)}" for a, b in zip(low, high)]
        numbers = numbers.assign(seeds=[int(b) for b in high])
    numbers.attrs["best"] = _best_cells(numbers, keyed)
    return texts, numbers


def _best_cells(numbers: pd.DataFrame, keyed: pd.DataFrame) -> pd.DataFrame:
    """Per task column (and the average): the rows that are its best by the noise rule (db/noise.py:
    the top mean and the rows within its seeds' noise; none when all tie; never a † run)."""
    best = pd.DataFrame(False, index=numbers.index, columns=[c for c in numbers.columns if c in TASKS or
                                                             c == "average"])
    for col in best.columns:
        cells = [keyed.loc[(*[row[k] for k in ROW_KEYS], col)] if col != "average" and
                 (*[row[k] for k in ROW_KEYS], col) in keyed.index else None for _, row in numbers.iterrows()]
        best[col] = tied_with_best(
            [None if pd.isna(v) else float(v) for v in numbers[col]],
            [None if c is None or pd.isna(c["std"]) else float(c["std"]) for c in cells],
            [None if c is None or pd.isna(c["n"]) else int(c["n"]) for c in cells],
            [bool(c is not None and c["invalid"]) for c in cells])
    return best


def versus_table(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Ours, the paper's and the difference on the rows (model, method, dropout; m as in the paper, see
    db/reference.py PAPER_M) and tasks both have; the averages over those tasks only."""
    keys = ["model", "method", "dropout"]
    paper_m = ours["method"].map(PAPER_M)
    ours = ours[(ours["options"].fillna("") == "") & (paper_m.isna() | (ours["m"] == paper_m))]
    merged = ours[[*keys, "task", "score"]].merge(paper[[*keys, "task", "score"]], on=[*keys, "task"],
                                                  suffixes=("_ours", "_paper"))
    if merged.empty:
        return pd.DataFrame(columns=[*keys, "task", "ours", "paper", "difference"])
    merged = merged.rename(columns={"score_ours": "ours", "score_paper": "paper"})
    merged["difference"] = merged["ours"] - merged["paper"]
    averages = merged.groupby(keys, as_index=False)[["ours", "paper", "difference"]].mean().assign(task="average")
    return pd.concat([merged, averages], ignore_index=True).sort_values([*keys, "task"], ignore_index=True)


def versus_sweeps(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Two sweeps' long frames (`sweep_scores`) on the cells both have (row keys and task): each one's
    mean, std and n over seeds, the difference a - b, its 95% interval and p-value (Welch's t-test,
    db/noise.py), and whether it is within the seeds' noise (None: a side has one seed)."""
    keys = [*ROW_KEYS, "task"]
    merged = a.assign(options=a["options"].fillna(""))[[*keys, "score", "std", "n"]].merge(
        b.assign(options=b["options"].fillna(""))[[*keys, "score", "std", "n"]], on=keys, suffixes=("_a", "_b"))
    columns = [*keys, "mean_a", "std_a", "n_a", "mean_b", "std_b", "n_b", "difference", "low", "high", "p",
               "within_noise"]
    if merged.empty:
        return pd.DataFrame(columns=columns)
    merged = merged.rename(columns={"score_a": "mean_a", "score_b": "mean_b"})
    tests = [welch(r.mean_a, r.std_a, r.n_a, r.mean_b, r.std_b, r.n_b) for r in merged.itertuples()]
    merged["difference"] = merged["mean_a"] - merged["mean_b"]
    for name in ("low", "high", "p"):
        merged[name] = [float("nan") if t is None else getattr(t, name) for t in tests]
    merged["within_noise"] = pd.array([None if t is None else t.within_noise for t in tests], dtype="boolean")
    return merged[columns].sort_values(keys, ignore_index=True)


def _filter(scores: pd.DataFrame, filters: dict | None) -> pd.DataFrame:
    """Rows and tasks to keep: {"methods": [...], "tasks": [...], "dropout": [True/False]} (absent: all)."""
    for column, key in (("method", "methods"), ("task", "tasks"), ("dropout", "dropout")):
        if filters and filters.get(key):
            scores = scores[scores[column].isin(filters[key])]
    return scores


def _scores(engine: Engine, source: int | str | None, selection: str, model: str | None,
            filters: dict | None) -> pd.DataFrame:
    """The long frame of a sweep (None: the newest) or of the paper ('paper'), filtered."""
    if source == "paper":
        return _filter(paper_scores(engine, model), filters)
    sweep_id = queries.latest_sweep_id(engine) if source is None else int(source)
    if sweep_id is None:
        return sweep_scores(engine, -1, selection)
    scores = sweep_scores(engine, sweep_id, selection)
    if model is not None:
        scores = scores[scores["model"] == model]
    return _filter(scores, filters)


def scores(engine: Engine, source: int | str | None = None, selection: str = "peak", model: str | None = None,
           filters: dict | None = None) -> pd.DataFrame:
    """Table 1's numbers for a notebook: rows model x method x options x dropout, each task's score in
    percent (the mean over seeds), the average over tasks (NaN while one is missing). `source`: a
    sweep id (None: the newest sweep) or 'paper'; `selection`: peak or final epoch."""
    return score_table(_scores(engine, source, selection, model, filters))


def standardized_scores(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 2 ("standardized overall score") from a table shaped like `scores`: each
    task's score is min-max scaled to 0..100 across the rows, then every row gets the mean and the
    population standard deviation over its tasks. Rows with a missing task are left out (the paper
    leaves ATTEMPT out for that reason), and so is a task on which every row ties: it has no range to
    scale by and says nothing of the rows (scored 0 for all, as it was, it lowered every mean by
    100/tasks and inflated every std; the demo's sst2, 100.0 in every row, did). `tasks`: how many
    tasks the mean is over."""
    tasks = [c for c in table.columns if c not in (*ROW_KEYS, "average", "seeds")]
    rows = table.dropna(subset=tasks).reset_index(drop=True)
    values = rows[tasks].astype(float)
    spread = values.max() - values.min()
    values = values.loc[:, spread > 0]
    scaled = (values - values.min()) / spread[values.columns] * 100
    return rows[ROW_KEYS].assign(standardized_mean=scaled.mean(axis=1), standardized_std=scaled.std(axis=1, ddof=0),
                                 tasks=len(values.columns))


def build(engine: Engine, kind: str, source: int | str, selection: str = "peak", model: str | None = None,
          filters: dict | None = None, against: int | str | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(the table to show, the numbers behind it for marking the best, or None). `filters` keep some
    methods, tasks and dropout settings; averages are over the tasks kept. `against` (versus): another
    sweep's id, else the paper."""
    if kind not in KINDS:
        raise ValueError(f"unknown table kind {kind!r}; choose one of: {', '.join(KINDS)}")
    if kind == "versus" and source == "paper":
        raise ValueError("--kind versus compares a sweep with the paper or another sweep: give --source SWEEP_ID")
    if against is not None and kind != "versus":
        raise ValueError("--against compares two sweeps: use it with --kind versus")
    found = _scores(engine, source, selection, model, filters)
    if kind == "main":
        return main_table(found)
    if kind == "standardized":
        return standardized_scores(score_table(found)), None
    if against is not None and against != "paper":
        return versus_sweeps(found, _scores(engine, int(against), selection, model, filters)), None
    return versus_table(found, _scores(engine, "paper", selection, model, filters)), None
