"""Detection metrics: macro-F1 at a threshold, the validation threshold, recall at a fixed FPR.

A text is flagged as paraphrased when its probability is >= the threshold (macro-F1), or strictly
above the FPR threshold (recall at FPR), so ties never push the false-positive rate over its bound.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cohesive.errors import CohesiveError


def macro_f1(labels: Sequence[int], scores: Sequence[float], threshold: float) -> float:
    """Mean of the F1 of class 1 (paraphrased) and of class 0 (original), predicting 1 when score >= threshold.
    A class that is neither predicted nor present scores F1 = 0 (scikit-learn's zero_division=0)."""
    y = np.asarray(labels, dtype=bool)
    predicted = np.asarray(scores, dtype=float) >= threshold
    return float(np.mean([_f1(y, predicted), _f1(~y, ~predicted)]))


def rates_at_threshold(labels: Sequence[int], scores: Sequence[float], threshold: float) -> tuple[float, float]:
    """(recall, false-positive rate) when a score >= threshold is flagged: which side a macro-F1 loses on."""
    y = np.asarray(labels, dtype=bool)
    if y.all() or not y.any():
        raise CohesiveError("recall and false-positive rate need originals and paraphrases")
    flagged = np.asarray(scores, dtype=float) >= threshold
    return float(flagged[y].mean()), float(flagged[~y].mean())


def _f1(gold: np.ndarray, predicted: np.ndarray) -> float:
    true_positives = int(np.sum(gold & predicted))
    denominator = int(np.sum(gold)) + int(np.sum(predicted))
    return 2 * true_positives / denominator if denominator else 0.0


def best_threshold(labels: Sequence[int], scores: Sequence[float]) -> tuple[float, float]:
    """(threshold, macro-F1): the threshold that maximises macro-F1 on these (validation) scores.

    Candidates are midpoints between consecutive distinct scores (and just outside both ends); among
    equally good ones the middle candidate is taken, the one farthest from the data on both sides."""
    values = np.unique(np.asarray(scores, dtype=float))
    if len(values) == 0:
        raise CohesiveError("no validation scores to choose a threshold from")
    candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    f1s = np.array([macro_f1(labels, scores, t) for t in candidates])
    best = np.flatnonzero(f1s == f1s.max())
    chosen = int(best[len(best) // 2])
    return float(candidates[chosen]), float(f1s[chosen])


def recall_at_fpr(labels: Sequence[int], scores: Sequence[float], fpr: float = 0.01) -> tuple[float, float]:
    """(recall, threshold): the share of paraphrases scoring strictly above the threshold that lets
    at most floor(fpr x originals) originals through, i.e. the (m+1)-th highest original score."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    negatives, positives = np.sort(s[~y])[::-1], s[y]
    if len(negatives) == 0 or len(positives) == 0:
        raise CohesiveError("recall at a false-positive rate needs originals and paraphrases")
    allowed = int(np.floor(fpr * len(negatives) + 1e-9))
    threshold = float(negatives[allowed]) if allowed < len(negatives) else float("-inf")
    return float(np.mean(positives > threshold)), threshold
