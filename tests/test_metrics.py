"""Metrics and prediction parsing against hand-computed values."""

from __future__ import annotations

import math

import pytest

from workers.evaluation import parse_prediction, score_predictions
from workers.metrics import METRICS
from workers.tasks import TASKS, get_task


def test_every_task_metric_is_registered():
    for task in TASKS.values():
        assert set(task.metrics) <= set(METRICS), task.name


def test_thirteen_tasks_in_the_paper():
    assert set(TASKS) == {"qqp", "qnli", "mnli", "sst2", "stsb", "mrpc", "cola", "multirc", "rte", "cb",
                          "copa", "wic", "boolq"}


def test_invalid_generation_counts_as_wrong():
    rte = get_task("rte")
    preds = [parse_prediction(rte, t) for t in ["entailment", "not_entailment", "banana", " entailment "]]
    assert preds == [0, 1, -1, 0]
    result = score_predictions(rte, preds, [0, 1, 1, 1], None)
    assert result["accuracy"] == 0.5 and result["score"] == 0.5 and result["invalid_rate"] == 0.25


def test_two_metric_task_score_is_the_mean():
    mrpc = get_task("mrpc")
    result = score_predictions(mrpc, [1, 1, 0, 0], [1, 0, 0, 0], None)
    assert result["accuracy"] == 0.75
    assert result["f1"] == pytest.approx(2 / 3)
    assert result["score"] == pytest.approx((0.75 + 2 / 3) / 2)


def test_multirc_exact_match_is_per_question():
    multirc = get_task("multirc")
    result = score_predictions(multirc, [1, 0, 1, 1], [1, 0, 0, 1], ["q1", "q1", "q2", "q2"])
    assert result["em"] == 0.5


def test_stsb_parses_numbers_and_invalid_is_nan():
    stsb = get_task("stsb")
    assert parse_prediction(stsb, "3.4") == 3.4
    assert math.isnan(parse_prediction(stsb, "three"))
    result = score_predictions(stsb, [1.0, 2.0, 3.0, math.nan], [1.2, 2.1, 2.9, 4.0], None)
    from scipy.stats import pearsonr

    assert result["invalid_rate"] == 0.25
    assert result["pearson"] == pytest.approx(pearsonr([1.0, 2.0, 3.0, 0.0], [1.2, 2.1, 2.9, 4.0])[0])


def test_all_invalid_scores_zero_and_flags_it():
    cola = get_task("cola")
    result = score_predictions(cola, [-1, -1, -1], [0, 1, 1], None)
    assert result["score"] == 0.0 and result["invalid_rate"] == 1.0
