"""Pure chart and analysis functions for the dashboard: DataFrames in, Altair charts or frames out.
No Streamlit here, so they can be tested and reused in a notebook."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from dashboard.labels import method_label
from db.queries import is_score


def _labels(frame: pd.DataFrame, name) -> pd.Series:
    """One label per row: `name(row)` for the method part, then the options and the dropout setting."""
    options = frame["options"] if "options" in frame else pd.Series("", index=frame.index)
    return pd.Series([f"{name(r)}{f' ({o})' if o else ''}, dropout {'on' if r.dropout else 'off'}"
                      for r, o in zip(frame.itertuples(), options)], index=frame.index)


def _series_label(frame: pd.DataFrame) -> pd.Series:
    """In the paper's words (Simple PT, SuperPos PT (m=32)), as the curves' legends."""
    return _labels(frame, lambda r: method_label(r.method, r.m))


SHADES = {  # each method one colour family (ColorBrewer), dark to light; its variants take its shades
    "prompt_tuning": ["#08519c", "#3182bd", "#6baed6", "#9ecae1"],
    "superpos_prompt": ["#a63603", "#e6550d", "#fd8d3c", "#fdae6b"],
    "residual_prompt": ["#006d2c", "#31a354", "#74c476", "#a1d99b"],
    "full_finetune": ["#54278f", "#756bb1", "#9e9ac8", "#bcbddc"],
    "attempt": ["#a50f15", "#de2d26", "#fb6a4a", "#fc9272"],
}
GREYS = ["#252525", "#636363", "#969696", "#bdbdbd"]
DASHES = {"off": [1, 0], "on": [6, 3]}  # a curve with dropout on is dashed: its colour is its method's, one shade over


def _on_off(dropout) -> str:
    return "on" if dropout else "off"


def _dropout_dash() -> alt.StrokeDash:
    """Dashed where dropout is on; no legend of its own: the colour legend's labels name the dropout."""
    return alt.StrokeDash("dropout:N", title="dropout", legend=None,
                          scale=alt.Scale(domain=list(DASHES), range=list(DASHES.values())))


def _panels(chart: alt.Chart, field: str, columns: int) -> alt.FacetChart:
    """Small multiples, one panel per `field` value, `columns` a row: each panel its own y scale, and its
    own x axis labels (a facet draws them under the bottom row only, so the upper panels' epochs or m
    could not be read without scrolling to the last row)."""
    return (chart.facet(facet=alt.Facet(field, title=None), columns=columns)
            .resolve_scale(y="independent").resolve_axis(x="independent"))


def series_colours(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(series labels in a natural order, a colour each): a method's series share its colour family,
    darker for larger m, so the colours follow the method and the legend reads in order."""
    rows = frame.assign(series=_series_label(frame)).drop_duplicates("series")
    rows = rows.assign(m_sort=rows["m"].astype(float).fillna(0) if "m" in rows else 0.0)
    labels, colours = [], []
    for method, group in rows.sort_values(["method", "m_sort", "series"]).groupby("method", sort=False):
        shades = SHADES.get(method, GREYS)
        labels += group["series"].tolist()
        colours += [shades[(len(group) - 1 - k) % len(shades)] for k in range(len(group))]
    return labels, colours


def learning_curve_chart(curves: pd.DataFrame, metric: str) -> alt.FacetChart:
    """The paper's Fig. 2a/b: per task, one line per (method, m, options, dropout): the metric per epoch of
    each cell's chosen trial, averaged over its seeds, with a band from the lowest to the highest seed."""
    percent = is_score(metric)
    data = curves.assign(series=_series_label(curves), epoch=curves["step"],
                         value=curves["value"] * (100 if percent else 1),
                         dropout=curves["dropout"].map(_on_off))
    summary = (data.groupby(["series", "dropout", "task", "epoch"], as_index=False)["value"]
               .agg(mean="mean", low="min", high="max", seeds="count"))
    labels, colours = series_colours(curves)
    base = alt.Chart(summary).encode(
        x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        color=alt.Color("series:N", title=None, scale=alt.Scale(domain=labels, range=colours),
                        legend=alt.Legend(orient="top", columns=2, labelLimit=0, symbolOpacity=1)))
    band = base.mark_area(opacity=0.2).encode(
        y=alt.Y("low:Q", title=f"{metric} (%)" if percent else metric, axis=alt.Axis(format=".1f" if percent else ".3~g")),
        y2="high:Q")
    line = base.mark_line(point=True).encode(
        y="mean:Q", tooltip=["series", "task", "epoch", "mean", "low", "high", "seeds"],
        strokeDash=_dropout_dash())
    return _panels((band + line).properties(width=380, height=240), "task:N", columns=2)


def _row_label(frame: pd.DataFrame) -> pd.Series:
    """A comparison-table row in the table's own words: method id, m, options, dropout."""
    return _labels(frame, lambda r: f"{r.method}{f' m={int(r.m)}' if pd.notna(r.m) else ''}")


def average_bar_chart(table: pd.DataFrame) -> alt.Chart:
    """The average column of a comparison table as bars, one per row, labelled as the table's rows."""
    data = table.assign(series=_row_label(table))
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("average:Q", title="average task score (%)"),
        y=alt.Y("series:N", title=None, sort="-x", axis=alt.Axis(labelLimit=400)),
        color=alt.Color("model:N"), tooltip=["model", "series", "average"])


def cosine_by_token(snapshots: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """Fig. 2d: for each prompt token i, the cosine similarity of the learned p'_i between tasks
    (one trial per task: the first row per task). Returns {token index: task x task frame}."""
    per_task = snapshots.drop_duplicates("task").set_index("task")["array"]
    if len(per_task) < 2:
        return {}
    stacked = np.stack(per_task.to_list())  # (tasks, n, m)
    unit = stacked / np.clip(np.linalg.norm(stacked, axis=-1, keepdims=True), 1e-12, None)
    return {i: pd.DataFrame(unit[:, i] @ unit[:, i].T, index=per_task.index, columns=per_task.index)
            for i in range(stacked.shape[1])}


def cluster_order(matrix: pd.DataFrame) -> list[str]:
    """Tasks ordered by average-linkage clustering on 1 - cosine, so similar tasks sit together (the
    paper's clustered heat maps)."""
    if len(matrix) < 3:
        return list(matrix.index)
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    distance = (1 - matrix.to_numpy()).clip(min=0)
    np.fill_diagonal(distance, 0)
    distance = (distance + distance.T) / 2
    return [matrix.index[i] for i in leaves_list(linkage(squareform(distance, checks=False), method="average"))]


def similarity_heatmap(matrix: pd.DataFrame, title: str, legend: bool = True) -> alt.LayerChart:
    """One prompt token's task x task cosine similarities, clustered, with the values written in the cells."""
    order = cluster_order(matrix)
    data = matrix.rename_axis("task_a").reset_index().melt("task_a", var_name="task_b", value_name="cosine")
    base = alt.Chart(data, title=title).encode(x=alt.X("task_a:N", title=None, sort=order),
                                               y=alt.Y("task_b:N", title=None, sort=order))
    cells = base.mark_rect().encode(
        color=alt.Color("cosine:Q", scale=alt.Scale(domain=[-1, 1], scheme="redblue"), legend=alt.Legend() if legend
                        else None), tooltip=["task_a", "task_b", alt.Tooltip("cosine:Q", format=".2f")])
    values = base.mark_text(fontSize=10).encode(text=alt.Text("cosine:Q", format=".2f"))
    return cells + values


def m_ablation_chart(points: pd.DataFrame) -> alt.Chart:
    """Fig. 2c: score vs m (log2 axis, ticks at the m measured) per task and the average; ours solid with a
    band of ±1 std over seeds, the paper's dashed."""
    ms = sorted(int(m) for m in points["m"].unique())
    points = points.assign(low=points["score"] - points["std"].fillna(0), high=points["score"] + points["std"].fillna(0))
    x = alt.X("m:Q", scale=alt.Scale(type="log", base=2, domain=[ms[0], ms[-1]]), title="m (superposed embeddings)",
              axis=alt.Axis(values=ms, format="d"))
    base = alt.Chart(points).encode(x=x, color=alt.Color("series:N", title=None, legend=alt.Legend(
        orient="top", labelLimit=0, symbolOpacity=1)))
    band = base.mark_area(opacity=0.15).encode(y=alt.Y("low:Q", title="score (%)"), y2="high:Q")
    # no dash legend: the colour legend names the source, and a dash legend drew both sources as one black dot
    line = base.mark_line(point=True).encode(y="score:Q", strokeDash=alt.StrokeDash("source:N", legend=None),
                                             tooltip=["series", "task", "m", alt.Tooltip("score:Q", format=".1f"),
                                                      alt.Tooltip("std:Q", format=".1f"), "n"])
    return _panels((band + line).properties(width=210, height=180), "task:N", columns=3)


def lr_search_chart(search: pd.DataFrame) -> alt.HConcatChart:
    """Per cell: the objective of each tried learning rate (log axis; the chosen trial larger), and the
    optimisation history (objective per trial number, best so far as a line)."""
    points = alt.Chart(search).mark_point(filled=True).encode(
        x=alt.X("lr:Q", scale=alt.Scale(type="log"), title="learning rate"),
        y=alt.Y("objective:Q", title="peak validation score (%)"),
        color=alt.Color("cell:N", legend=alt.Legend(orient="bottom", columns=1, labelLimit=600)),
        size=alt.Size("chosen:N", scale=alt.Scale(range=[40, 220]), title="chosen"),
        tooltip=["cell", "number", "lr", "objective", "state", "chosen"])
    history = alt.Chart(search).encode(x=alt.X("number:Q", title="trial number", axis=alt.Axis(tickMinStep=1, format="d")),
                                       color=alt.Color("cell:N", legend=None))
    lines = history.mark_line().encode(y=alt.Y("best_so_far:Q", title="objective (points) and best so far (line)"))
    dots = history.mark_point().encode(y="objective:Q", tooltip=["cell", "number", "lr", "objective"])
    return alt.hconcat(points.properties(width=360, height=260), (lines + dots).properties(width=360, height=260))


def trial_chart(metrics: pd.DataFrame) -> alt.FacetChart:
    """Every metric of one trial per epoch, one small panel per key; scores in percent, as on every page."""
    score = metrics["key"].map(is_score)
    shown = metrics.assign(value=metrics["value"].where(~score, metrics["value"] * 100),
                           key=metrics["key"].where(~score, metrics["key"] + " (%)"))
    panel = (alt.Chart(shown).mark_line(point=True)
             .encode(x=alt.X("step:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d")),
                     y=alt.Y("value:Q", title=None, axis=alt.Axis(format=".4~g")),  # "~g": 0 read "0.000000", 20 "2e+1"
                     tooltip=["key", "step", "value"])
             .properties(width=220, height=140))  # 3 a row: a 4th ran past the page's right edge, cut
    return _panels(panel, "key:N", columns=3)


def importance_chart(found: pd.DataFrame) -> alt.Chart:
    """Per task, a bar per grid dimension and scope: its share of the score's variance among all the
    task's trials, or among one method's trials for that method's options (db/importance.py)."""
    labelled = found.assign(dimension=[p if s == "all" else f"{p} (within {s})" for p, s in zip(found["param"],
                                                                                               found["scope"])],
                            order=range(len(found)))  # per_task's: `all` first, each scope largest first
    return alt.Chart(labelled).mark_bar().encode(
        x=alt.X("importance:Q", title="share of the score's variance", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("dimension:N", title=None, sort=alt.EncodingSortField("order", op="min"),
                axis=alt.Axis(labelOverlap=False, labelLimit=0)),
        color=alt.Color("scope:N", title="trials compared", legend=alt.Legend(orient="bottom")),
        row=alt.Row("task:N", title=None),
        tooltip=["task", "scope", "param", alt.Tooltip("importance:Q", format=".3f"), "trials"],
    ).properties(height=alt.Step(22), width=420).resolve_scale(y="independent")


def prompt_norms(prompts: pd.DataFrame) -> pd.DataFrame:
    """Long: per reported trial (db.artefacts.prompts rows) and prompt token, the token's L2 norm, with
    the cell's series label."""
    rows = [{"series": label, "dropout": _on_off(r.dropout), "seed": r.seed, "token": i + 1, "norm": float(v)}
            for label, r in zip(_series_label(prompts), prompts.itertuples())
            for i, v in enumerate(np.linalg.norm(r.array, axis=1))]
    return pd.DataFrame(rows, columns=["series", "dropout", "seed", "token", "norm"])


def prompt_norms_chart(prompts: pd.DataFrame) -> alt.Chart:
    """Per prompt token, the L2 norm of each cell's prompt (mean over seeds), one line per cell; the
    colours follow the method families of every other chart."""
    labels, colours = series_colours(prompts)
    norms = prompt_norms(prompts).groupby(["series", "dropout", "token"], as_index=False)["norm"].mean()
    return alt.Chart(norms).mark_line(point=True).encode(
        x=alt.X("token:O", title="prompt token", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("norm:Q", title="L2 norm", axis=alt.Axis(format=".4~g")),  # ".2f" wrote 40 as "40.00"
        color=alt.Color("series:N", title=None, scale=alt.Scale(domain=labels, range=colours),
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=0, symbolType="stroke")),
        strokeDash=_dropout_dash(),
        tooltip=["series", "token", alt.Tooltip("norm:Q", format=".3f")],
    ).properties(height=300)


def token_similarity_heatmap(prompt: np.ndarray, title: str) -> alt.LayerChart:
    """One prompt's token x token cosine similarities, in token order, values written in the cells."""
    unit = prompt / np.maximum(np.linalg.norm(prompt, axis=1, keepdims=True), 1e-12)
    tokens = [str(i + 1) for i in range(len(prompt))]
    data = pd.DataFrame(unit @ unit.T, index=tokens, columns=tokens).rename_axis("token_a").reset_index() \
        .melt("token_a", var_name="token_b", value_name="cosine")
    base = alt.Chart(data, title=title).encode(x=alt.X("token_a:O", title=None, sort=tokens),
                                               y=alt.Y("token_b:O", title=None, sort=tokens))
    cells = base.mark_rect().encode(color=alt.Color("cosine:Q", scale=alt.Scale(domain=[-1, 1], scheme="redblue")),
                                    tooltip=["token_a", "token_b", alt.Tooltip("cosine:Q", format=".2f")])
    return cells + base.mark_text(fontSize=9).encode(text=alt.Text("cosine:Q", format=".2f"))
