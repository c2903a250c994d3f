"""Frames behind the m-ablation and learning-rate pages (pure pandas, no Streamlit)."""

from __future__ import annotations

import pandas as pd


def m_ablation(cells: pd.DataFrame, paper_fig2c: pd.DataFrame) -> pd.DataFrame:
    """Score (%) vs m per task and their average over tasks, ours (SuperPos cells of a sweep) beside the
    paper's Fig. 2c: columns source, series (model, dropout, options), task, m, score, std and n (over
    seeds; the paper's: none)."""
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
    average = (points.groupby(["source", "series", "m"], as_index=False).agg(score=("score", "mean"), n=("n", "min"))
               .assign(task="average", std=float("nan")))
    return pd.concat([points, average], ignore_index=True)


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
