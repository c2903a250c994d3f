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


def test_cb_macro_f1_averages_over_all_three_classes():
    """No 'neutral' in the gold labels and one predicted: the 3-class macro F1 (the paper's), not 2."""
    cb = get_task("cb")  # labels: entailment, contradiction, neutral
    result = score_predictions(cb, [0, 0, 1, 2], [0, 0, 1, 1], None)
    # per class F1: entailment 1, contradiction 2/3 (P 1, R 1/2), neutral 0 (one false positive)
    assert result["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_an_invalid_output_is_a_label_of_its_own_in_every_metric():
    """The README's rule, as the reference scores strings: never the gold label, a class of its own in
    the Matthews correlation, no class in F1."""
    from sklearn.metrics import f1_score, matthews_corrcoef

    cola = get_task("cola")
    gold = [0, 1, 1, 0, 1, 1, 0, 1, 0, 1]
    preds = [0, 1, 1, 0, 1, 0, 0, 1, -1, -1]
    result = score_predictions(cola, preds, gold, None)
    assert result["matthews"] == pytest.approx(matthews_corrcoef(gold, [0, 1, 1, 0, 1, 0, 0, 1, 2, 2]))
    assert result["invalid_rate"] == 0.2
    mrpc = get_task("mrpc")
    result = score_predictions(mrpc, [1, -1, -1, 0], [1, 1, 0, 0], None)
    assert result["accuracy"] == 0.5
    assert result["f1"] == pytest.approx(f1_score([1, 1, 0, 0], [1, 0, 0, 0]))  # invalid: no positive call


def test_reference_matching_normalises_case_punctuation_and_articles():
    rte, boolq = get_task("rte"), get_task("boolq")
    assert parse_prediction(rte, "Not_Entailment.") == 1 and parse_prediction(rte, "the entailment") == 0
    assert parse_prediction(boolq, " TRUE ") == 1 and parse_prediction(boolq, "maybe") == -1
    legacy = get_task("rte", "keyvalue")
    assert parse_prediction(legacy, "Not_Entailment.") == -1 and parse_prediction(legacy, "not_entailment") == 1


def test_reference_formats_of_each_task():
    from workers.data import format_input, format_target

    assert format_input(get_task("cola"), {"sentence": "It rains."}) == "It rains."
    assert format_input(get_task("cola", "keyvalue"), {"sentence": "It rains."}) == "sentence: It rains."
    wic = {"start1": 0, "end1": 3, "sentence1": "Run fast.", "start2": 4, "end2": 7, "sentence2": "A run.", "word": "run"}
    assert format_input(get_task("wic"), wic) == ("start1: 0 end1: 3 sentence1: Run fast. start2: 4 end2: 7 "
                                                  "sentence2: A run. word: run")
    assert format_input(get_task("wic", "keyvalue"), wic) == "word: run sentence1: Run fast. sentence2: A run."
    assert get_task("copa").label_words == ("false", "true") and get_task("copa", "keyvalue").label_words == ("0", "1")
    assert format_target(get_task("stsb"), 3.75) == "3.7" and format_target(get_task("stsb", "keyvalue"), 3.75) == "3.8"
    assert format_target(get_task("stsb"), 5) == "5.0" and format_target(get_task("stsb"), 0.4) == "0.4"
    qnli = {"question": "Who?", "sentence": "Ann did."}  # the hub's columns; the reference's strings say text1/text2
    assert format_input(get_task("qnli"), qnli) == "text1: Who? text2: Ann did."
    assert format_input(get_task("qnli", "reference_hub_fields"), qnli) == "question: Who? sentence: Ann did."
    assert format_input(get_task("qnli", "keyvalue"), qnli) == "question: Who? sentence: Ann did."


def test_unknown_template_set_is_named():
    with pytest.raises(ValueError, match="unknown template set 'paper'; choose one of: reference, reference_hub_fields, keyvalue"):
        get_task("rte", "paper")


@pytest.mark.parametrize("template", ["reference", "reference_hub_fields", "keyvalue"])
def test_every_label_word_fits_in_what_is_generated(template):
    """The target length of each task is raised where a label word needs more tokens, so neither
    training targets nor greedy generation can cut a label word."""
    from workers.evaluation import target_tokens
    from workers.models import embedded_tokenizer

    tok = embedded_tokenizer()
    for name in TASKS:
        task = get_task(name, template)
        budget = target_tokens(task, tok)
        assert budget >= task.target_max_tokens
        for word in task.label_words:
            assert len(tok(word)["input_ids"]) <= budget, (name, word)  # with </s>
