"""The dashboard's frames and charts as pure functions (dashboard/analysis.py, dashboard/charts.py): no
Streamlit, no sweep; the pages themselves are tested in tests/test_dashboard.py and tests/test_browser.py."""

from __future__ import annotations

import pytest


def test_cosine_by_token_compares_tasks_per_token():
    import numpy as np
    import pandas as pd

    from dashboard.charts import cosine_by_token

    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    b = np.array([[2.0, 0.0], [1.0, 0.0]])
    snaps = pd.DataFrame({"task": ["rte", "cb"], "array": [a, b]})
    sims = cosine_by_token(snaps)
    assert set(sims) == {0, 1}
    assert sims[0].loc["rte", "cb"] == pytest.approx(1.0)  # token 1: same direction
    assert sims[1].loc["rte", "cb"] == pytest.approx(0.0)  # token 2: orthogonal
    assert cosine_by_token(snaps.iloc[:1]) == {}


def test_m_ablation_frame_puts_ours_beside_the_paper():
    import pandas as pd

    from dashboard.analysis import m_ablation

    cells = pd.DataFrame({"method": ["superpos_prompt"] * 4, "m": pd.array([4, 8, 4, 8], "Int64"),
                          "task": ["rte", "rte", "cb", "cb"], "model": "tiny-t5", "dropout": False, "options": "",
                          "score_mean": [0.5, 0.6, 0.7, 0.9], "score_std": [0.01, 0.02, None, 0.0],
                          "n_seeds": [2, 2, 1, 2]})
    paper = pd.DataFrame({"task": ["rte", "rte", "average"], "variant": ["m=4", "m=8", "m=4"], "value": [56.7, 65.0, 59.5]})
    points = m_ablation(cells, paper)
    ours_avg = points[(points.source == "ours") & (points.task == "average of 2: cb, rte")].set_index("m")["score"]
    assert ours_avg.to_dict() == pytest.approx({4: 60.0, 8: 75.0})
    assert set(points[points.source == "paper"]["task"]) == {"rte", "average of 1: rte"}  # not cb: not beside ours
    paper_rows = points[(points.source == "paper") & (points.task == "rte")]
    assert sorted(paper_rows["m"]) == [4, 8]  # the paper's own 'average' row is recomputed, not copied
    from dashboard.charts import m_ablation_chart

    layers = m_ablation_chart(points).to_dict()["spec"]["layer"]
    dash = next(layer["encoding"]["strokeDash"] for layer in layers if "strokeDash" in layer["encoding"])
    assert dash["legend"] is None  # a legend of dashes drew "ours" and "paper" as the same black dot
    rte = points[(points.source == "ours") & (points.task == "rte")].set_index("m")
    assert rte["std"].to_dict() == pytest.approx({4: 1.0, 8: 2.0}) and rte["n"].to_dict() == {4: 2, 8: 2}


def test_m_ablation_averages_the_tasks_every_m_has_beside_the_papers_average_of_the_same_tasks():
    """A sweep still running has cb at m = 4 only: an average over the tasks at hand jumped between m
    (cb at 4, not at 8), and ours over rte and cb sat beside the paper's over its seven tasks."""
    import pandas as pd

    from dashboard.analysis import m_ablation

    cells = pd.DataFrame({"method": "superpos_prompt", "m": pd.array([4, 8, 4, 4, 8], "Int64"),
                          "task": ["rte", "rte", "cb", "mrpc", "mrpc"], "model": "tiny-t5", "dropout": False,
                          "options": "", "score_mean": [0.5, 0.6, 0.9, 0.7, 0.8], "score_std": 0.0, "n_seeds": 2})
    paper = pd.DataFrame({"task": ["rte", "rte", "mrpc", "mrpc", "wic", "wic"], "variant": ["m=4", "m=8"] * 3,
                          "value": [56.0, 66.0, 80.0, 82.0, 64.0, 63.0]})
    points = m_ablation(cells, paper)
    averages = {(r.source, r.task, r.m): r.score for r in points.itertuples() if r.task.startswith("average")}
    assert averages == pytest.approx({
        ("ours", "average of 2: mrpc, rte", 4): 60.0, ("ours", "average of 2: mrpc, rte", 8): 70.0,
        ("paper", "average of 2: mrpc, rte", 4): 68.0, ("paper", "average of 2: mrpc, rte", 8): 74.0,
        ("paper", "average of 3: mrpc, rte, wic", 4): 200 / 3, ("paper", "average of 3: mrpc, rte, wic", 8): 211 / 3})


def test_a_trials_metric_panels_fit_the_page_and_label_a_zero_as_zero():
    """Four 220-px panels a row ran past the page's right edge (the 4th cut), and a metric that stays 0
    (val/invalid_rate) had its one tick written "0.000000"; with "~g", Vega picks the precision from the
    tick step, and a percent panel's ticks read "2e+1", "4e+1", "1e+2" (a fixed precision keeps them 20, 40, 100)."""
    import pandas as pd

    from dashboard.charts import trial_chart

    metrics = pd.DataFrame([{"key": k, "step": e, "value": 0.0} for k in ("a", "b", "c", "d", "e") for e in (1, 2)])
    spec = trial_chart(metrics).to_dict()
    assert spec["columns"] == 3 and spec["spec"]["width"] * 3 < 1000
    assert spec["spec"]["encoding"]["y"]["axis"]["format"] == ".4~g"


def test_every_score_a_trial_reports_is_shown_in_percent_and_nothing_else_is():
    """The "Sweeps and trials" page showed the store's 0..1 objective and a trial's metrics as stored,
    while every other page shows percent; the curves took only keys ending in score/accuracy/f1, so a
    CoLA curve (val/matthews) or STS-B's (val/pearson) stayed in 0..1."""
    import pandas as pd

    from dashboard.charts import learning_curve_chart, trial_chart
    from dashboard.views.sweeps import shown_trials
    from db.queries import is_score

    assert all(map(is_score, ["val/score", "peak/score", "val/matthews", "val/pearson", "test/em", "val/f1a"]))
    assert not any(map(is_score, ["train/loss", "peak/epoch", "val/invalid_rate", "time/epoch_seconds"]))
    metrics = pd.DataFrame({"key": ["val/matthews", "train/loss"], "step": [1, 1], "value": [0.25, 0.75]})
    rows = next(iter(trial_chart(metrics).to_dict()["datasets"].values()))
    assert {r["key"]: r["value"] for r in rows} == {"val/matthews (%)": 25.0, "train/loss": 0.75}
    curves = pd.DataFrame({"method": "prompt_tuning", "m": None, "options": "", "dropout": False, "task": "cola",
                           "step": 1, "value": [0.25], "seed": 0})
    spec = learning_curve_chart(curves, "val/matthews").to_dict()
    assert next(iter(spec["datasets"].values()))[0]["mean"] == 25.0
    trials = pd.DataFrame({"trial_id": [1, 2], "m": [None, 8], "objective": [0.5, None], "reported_score": [0.25, 0.125],
                           "lr": [0.3, 0.1]})
    shown = shown_trials(trials)
    assert shown["objective"].tolist()[0] == 50.0 and pd.isna(shown["objective"].tolist()[1])
    assert shown["reported_score"].tolist() == [25.0, 12.5] and shown["lr"].tolist() == [0.3, 0.1]
    assert shown["m"].tolist() == ["-", "8"]


def test_heat_maps_cluster_similar_tasks_together():
    import pandas as pd

    from dashboard.charts import cluster_order

    tasks = ["rte", "sst2", "cb", "cola"]
    sim = pd.DataFrame([[1.0, 0.1, 0.9, 0.0], [0.1, 1.0, 0.0, 0.8], [0.9, 0.0, 1.0, 0.1], [0.0, 0.8, 0.1, 1.0]],
                       index=tasks, columns=tasks)
    order = cluster_order(sim)
    assert abs(order.index("rte") - order.index("cb")) == 1 and abs(order.index("sst2") - order.index("cola")) == 1


def test_the_comparison_chart_names_its_bars_as_the_table_names_its_rows():
    import pandas as pd

    from dashboard.charts import average_bar_chart

    rows = pd.DataFrame({"model": ["tiny-t5"] * 3, "method": ["prompt_tuning", "superpos_prompt", "residual_prompt"],
                         "m": [None, 32, None], "options": ["", "", "bottleneck=16"], "dropout": [False, True, False],
                         "average": [70.0, 72.5, 60.0]})
    bars = average_bar_chart(rows).data["series"].tolist()
    assert bars == ["prompt_tuning, dropout off", "superpos_prompt m=32, dropout on",
                    "residual_prompt (bottleneck=16), dropout off"]


def test_learning_curves_of_one_method_with_and_without_dropout_differ_in_dash_not_only_in_shade():
    """Dropout on and off of one method take neighbouring shades of its colour, too close to tell
    apart (seen in the demo's ATTEMPT curves); the line of dropout on is dashed."""
    import pandas as pd

    from dashboard.charts import DASHES, learning_curve_chart

    curves = pd.DataFrame([{"method": "attempt", "m": None, "options": "", "dropout": dropout, "task": "cb",
                            "step": step, "value": 0.5 + 0.01 * step, "seed": seed}
                           for dropout in (False, True) for step in (1, 2) for seed in (0, 1)])
    spec = learning_curve_chart(curves, "val/score").to_dict()
    line = next(layer for layer in spec["spec"]["layer"] if layer["mark"]["type"] == "line")
    dash = line["encoding"]["strokeDash"]
    assert dash["field"] == "dropout" and dash["scale"] == {"domain": ["off", "on"], "range": [[1, 0], [6, 3]]}
    assert DASHES["on"] != DASHES["off"]
    rows = next(iter(spec["datasets"].values()))
    assert {(r["series"], r["dropout"]) for r in rows} == {("ATTEMPT, dropout off", "off"), ("ATTEMPT, dropout on", "on")}
    assert all(r["seeds"] == 2 for r in rows)


def test_prompt_norms_of_one_method_with_and_without_dropout_are_told_apart_by_dash():
    import numpy as np
    import pandas as pd

    from dashboard.charts import prompt_norms_chart

    prompts = pd.DataFrame([{"method": "prompt_tuning", "m": None, "options": "", "dropout": dropout, "seed": 0,
                             "array": np.full((3, 4), 1.0 + dropout)} for dropout in (False, True)])
    spec = prompt_norms_chart(prompts).to_dict()
    assert spec["encoding"]["strokeDash"]["field"] == "dropout"
    assert spec["encoding"]["y"]["axis"]["format"] == ".4~g"  # 40, not "40.00"; 0.05 still 0.05
    rows = next(iter(spec["datasets"].values()))
    assert {(r["dropout"], r["norm"]) for r in rows} == {("off", 2.0), ("on", 4.0)}  # norms of rows of 1s, 2s


def test_every_panel_of_a_small_multiples_chart_labels_its_own_x_axis():
    """A facet draws its x axis under the bottom row only: on the m ablation page (5 rows of panels) and
    the learning curves (13 tasks, 7 rows) the upper panels' m and epochs could not be read without
    scrolling to the last row. Each panel keeps its own y scale; the x scale stays shared."""
    import pandas as pd

    from dashboard.charts import learning_curve_chart, m_ablation_chart, trial_chart

    curves = pd.DataFrame([{"method": "prompt_tuning", "m": None, "options": "", "dropout": False, "task": task,
                            "step": step, "value": 0.5, "seed": 0} for task in ("rte", "cb", "wic") for step in (1, 2)])
    points = pd.DataFrame([{"series": "ours", "source": "ours", "task": task, "m": m, "score": 50.0, "std": 1.0, "n": 2}
                           for task in ("rte", "cb", "wic", "copa") for m in (4, 8)])
    metrics = pd.DataFrame([{"key": k, "step": e, "value": 0.1} for k in ("a", "b", "c", "d") for e in (1, 2)])
    for chart in (learning_curve_chart(curves, "val/score"), m_ablation_chart(points), trial_chart(metrics)):
        spec = chart.to_dict()
        assert spec["resolve"]["axis"] == {"x": "independent"}, spec["resolve"]
        assert spec["resolve"]["scale"] == {"y": "independent"}
        assert spec["columns"] < 4 and spec["facet"]["title"] is None
