"""Task metrics (scikit-learn / scipy), keyed by the ids that the task table names.

Each metric takes predictions and gold labels (label indices, or floats for STS-B), the group of each
example (MultiRC questions) and the task's full label set. An invalid generation arrives as -1 and
is a label of its own (the rule is spelled out in workers.evaluation.score_predictions); regression
predictions arrive as NaN when invalid and score as 0.0. A metric that is undefined (e.g.
correlation of a constant) is 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np


def accuracy(pred, gold, groups=None, labels=None) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(gold)))


def f1(pred, gold, groups=None, labels=None) -> float:
    """Binary F1 of label 1; an invalid output (-1) predicts neither label."""
    from sklearn.metrics import f1_score

    return float(f1_score(gold, pred, labels=[1], average="micro", zero_division=0))


def macro_f1(pred, gold, groups=None, labels=None) -> float:
    """Macro F1 over the task's whole label set (CB: 3 classes, also when a class is absent from the
    gold labels), as the paper's CB F1; the present labels only when no label set is given."""
    from sklearn.metrics import f1_score

    labels = list(labels) if labels else sorted(set(gold) | set(pred))
    return float(f1_score(gold, pred, average="macro", labels=labels, zero_division=0))


def matthews(pred, gold, groups=None, labels=None) -> float:
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(gold, pred))


def _correlation(fn, pred, gold) -> float:
    pred = np.nan_to_num(np.asarray(pred, dtype=float), nan=0.0)  # an invalid output scores as 0.0
    if np.std(pred) == 0 or np.std(gold) == 0:
        return 0.0
    value = float(fn(pred, gold)[0])
    return 0.0 if math.isnan(value) else value


def pearson(pred, gold, groups=None, labels=None) -> float:
    from scipy.stats import pearsonr

    return _correlation(pearsonr, pred, gold)


def spearman(pred, gold, groups=None, labels=None) -> float:
    from scipy.stats import spearmanr

    return _correlation(spearmanr, pred, gold)


def exact_match(pred, gold, groups: Sequence[str] | None = None, labels=None) -> float:
    """MultiRC EM: the share of questions whose every answer option is right."""
    right: dict[str, bool] = defaultdict(lambda: True)
    for p, g, q in zip(pred, gold, groups or range(len(pred))):
        right[q] = right[q] and p == g
    return float(np.mean(list(right.values())))


METRICS: dict[str, Callable[..., float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "f1a": f1,  # MultiRC F1a: binary F1 over all answer options
    "macro_f1": macro_f1,
    "matthews": matthews,
    "pearson": pearson,
    "spearman": spearman,
    "em": exact_match,
}
