"""The official GLUE dev metrics (scikit-learn / scipy), as plain floats."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats
from sklearn import metrics as skm

from cohesive.corpora.glue import task_spec

Values = Sequence[float] | np.ndarray


def accuracy(predictions: Values, labels: Values) -> float:
    return float(skm.accuracy_score(labels, predictions))


def f1(predictions: Values, labels: Values) -> float:
    """F1 of the positive class (1), as GLUE reports it for MRPC and QQP."""
    return float(skm.f1_score(labels, predictions, pos_label=1, zero_division=0.0))


def mcc(predictions: Values, labels: Values) -> float:
    """Matthews correlation (CoLA); 0 when a prediction or label column is constant."""
    return float(skm.matthews_corrcoef(labels, predictions))


def pearson(predictions: Values, labels: Values) -> float:
    return _correlation(stats.pearsonr, predictions, labels)


def spearman(predictions: Values, labels: Values) -> float:
    return _correlation(stats.spearmanr, predictions, labels)


def _correlation(function: Callable, predictions: Values, labels: Values) -> float:
    """A constant input has no correlation: 0 (scipy would warn and return nan)."""
    x, y = np.asarray(predictions, dtype=float), np.asarray(labels, dtype=float)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(function(x, y)[0])


METRICS: dict[str, Callable[[Values, Values], float]] = {
    "accuracy": accuracy, "f1": f1, "mcc": mcc, "pearson": pearson, "spearman": spearman}


def task_metrics(task: str, predictions: Values, labels: Values) -> dict[str, float]:
    """Every official metric of `task`: class indices for classification, scores for regression."""
    return {name: METRICS[name](predictions, labels) for name in task_spec(task).metrics}
