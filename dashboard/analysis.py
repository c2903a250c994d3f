"""Frames behind the m-ablation and learning-rate pages (pure pandas, no Streamlit)."""

from __future__ import annotations

import pandas as pd


def m_ablation(cells: pd.DataFrame, paper_fig2c: pd.DataFrame) -> pd.DataFrame:
    """Score (%) vs m per task and their averages over tasks (`_averages`), ours (SuperPos cells of a
    sweep) beside the paper's Fig. 2c: columns source, series (model, dropout, options), task, m, score,
    std and n (over seeds; the paper's: none)."""
    ours = cells[(cells["method"] == "superpos_prompt") & cells["m"].notna()]
    frames = []
    if not ours.empty:
        series = [f"ours: {r.model}, dropout {'on' if r.dropout else 'off'}" + (f", {r.options}" if r.options else "")
                  for r in ours.itertuples()]
        frames.append(pd.DataFrame({"source": "ours", "series": series, "task": ours["task"].values,
                                    "m": ours["m"].astype(int).values, "score": ours["score_mean"].values * 100,
                                    "std": ours["score_std"].astype(float).values * 100,
                                    "n": ours["n_seeds"].values}))
    if not paper_fig2c.empty:
        paper = paper_fig2c[paper_fig2c["task"] != "average"]
        frames.append(pd.DataFrame({"source": "paper", "series": "paper (Fig. 2c, read off the plot)",
                                    "task": paper["task"].values,
                                    "m": paper["variant"].str.removeprefix("m=").astype(int).values,
                                    "score": paper["value"].values, "std": float("nan"), "n": 1}))
    if not frames:
        return pd.DataFrame(columns=["source", "series", "task", "m", "score", "std", "n"])
    points = pd.concat(frames, ignore_index=True)
    return pd.concat([points, *_averages(points)], ignore_index=True)


def _averages(points: pd.DataFrame) -> list[pd.DataFrame]:
    """Each series' average over the tasks it has at every one of its m (a task missing at some m would
    make the curve jump there), in a panel named for those tasks; beside each of our averages, the
    paper's over the same tasks where it has them all (an average over other tasks compares nothing)."""
    def complete(own: pd.DataFrame) -> tuple[str, ...]:
        ms = set(own["m"])
        return tuple(sorted(t for t, rows in own.groupby("task") if set(rows["m"]) == ms))

    def average(own: pd.DataFrame, tasks: tuple[str, ...]) -> pd.DataFrame:
        label = f"average of {len(tasks)}: {', '.join(tasks)}"
        return (own[own["task"].isin(tasks)].groupby(["source", "series", "m"], as_index=False)
                .agg(score=("score", "mean"), n=("n", "min")).assign(task=label, std=float("nan")))

    found, ours_sets = [], set()
    for (source, _), own in points.groupby(["source", "series"], sort=False):
        if tasks := complete(own):
            found.append(average(own, tasks))
            if source == "ours":
                ours_sets.add(tasks)
    paper = points[points["source"] == "paper"]
    paper_tasks = set(complete(paper)) if not paper.empty else set()
    found += [average(paper, tasks) for tasks in sorted(ours_sets)
              if set(tasks) <= paper_tasks and set(tasks) != paper_tasks]
    return found


def lr_search(trials: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """The search trials of a sweep with their cell label, the best objective so far in the cell (by
    trial number) and whether the trial is the cell's chosen one."""
    search = trials[trials["role"] == "search"].copy()
    if search.empty:
        return search.assign(cell="", best_so_far=[], chosen=[])
    search["cell"] = [f"{r.method}{'' if pd.isna(r.m) else f' m={int(r.m)}'}{f' {r.options}' if r.options else ''} | "
                      f"{r.task} | {r.model} | dropout {'on' if r.dropout else 'off'}" for r in search.itertuples()]
    search["objective"] = search["objective"] * 100  # percent, as on every other page
    search["m_sort"] = search["m"].fillna(0).astype(float)
    search = search.sort_values(["method", "task", "m_sort", "cell", "number"]).drop(columns="m_sort")
    search["best_so_far"] = search.groupby("cell", sort=False)["objective"].cummax()
    search["chosen"] = search["trial_id"].isin(best["trial_id"])
    return search.reset_index(drop=True)


def cell_study(rows: pd.DataFrame):
    """One cell's search as an in-memory Optuna study (its finished trials), for Optuna's own plots."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", study_name=str(rows["cell"].iloc[0]))
    done = rows[rows["objective"].notna()].sort_values("number")
    low, high = float(rows["lr"].min()), float(rows["lr"].max())
    distribution = optuna.distributions.FloatDistribution(low, high if high > low else low * 1.0001, log=True)
    study.add_trials([optuna.trial.create_trial(params={"lr": float(r.lr)}, distributions={"lr": distribution},
                                                value=float(r.objective)) for r in done.itertuples()])
    return study
