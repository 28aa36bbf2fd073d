"""Sense-frequency prior: a trained model's scores plus `weight * log P(sense | lemma, POS)`.

P(sense | lemma, POS) comes from WordNet's tag counts (index.sense, counted on SemCor and the
Brown corpus, the same statistics behind the first-sense baseline), add-one smoothed over the
instance's candidates. A SemCor-trained model sees only part of SemCor on a CPU budget; the prior
brings back the rest of SemCor's sense distribution. The weight is tuned on the dev set (SemEval-2007)
and saved beside the model as `prior.json`; weight 0 gives the model alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cohesive.atomic import write_json
from cohesive.errors import CohesiveError
from cohesive.files import read_json
from cohesive.lexicon.wordnet import Lexicon
from cohesive.wsd.data import PairSet
from cohesive.wsd.scorer import score
from cohesive.wsd.types import Prediction

PRIOR_FILE = "prior.json"
WEIGHT_GRID = tuple(round(0.05 * i, 2) for i in range(201))  # 0, 0.05, ..., 10


def log_prior(pairs: PairSet, lexicon: Lexicon) -> np.ndarray:
    """Per pair, log of the add-one smoothed share of its sense's tag count among the instance's candidates."""
    sense_counts = np.array([lexicon.sense(k).tag_count for k in pairs.gloss_keys], dtype=np.float64)
    counts = sense_counts[pairs.pair_gloss] + 1
    totals = np.bincount(pairs.pair_instance, weights=counts, minlength=len(pairs.instance_ids))
    return (np.log(counts) - np.log(totals[pairs.pair_instance])).astype(np.float32)


def with_prior(pairs: PairSet, scores: np.ndarray, weight: float, lexicon: Lexicon) -> np.ndarray:
    """The model's scores, plus the weighted log prior when `weight` is not 0."""
    return scores + weight * log_prior(pairs, lexicon) if weight else scores


def tune_weight(pairs: PairSet, scores: np.ndarray, gold: Mapping[str, Sequence[str]],
                lexicon: Lexicon) -> tuple[float, dict[float, float]]:
    """The grid weight with the best dev F1 (the smallest one on ties) and F1 for every weight tried."""
    prior = log_prior(pairs, lexicon)
    table = {}
    for weight in WEIGHT_GRID:
        predicted = choose(pairs, scores + weight * prior)
        table[weight] = score(gold, {i: [p.key] for i, p in predicted.items()}).f1
    best = max(table, key=lambda w: (table[w], -w))
    return best, table


def write_weight(directory: Path, weight: float, dev: str, table: dict[float, float]) -> None:
    record = {"weight": weight, "dev": dev, "dev_f1_by_weight": {str(w): round(f, 4) for w, f in table.items()}}
    write_json(Path(directory) / PRIOR_FILE, record)


def read_weight(directory: Path) -> float:
    """The tuned weight saved with a model; 0 (model alone) when none was tuned."""
    path = Path(directory) / PRIOR_FILE
    if not path.is_file():
        return 0.0
    try:
        return float(read_json(path, keys=["weight"])["weight"])
    except (ValueError, TypeError):
        raise CohesiveError(f"{path} is not a valid prior file (expected {{\"weight\": number, ...}})") from None


def choose(pairs: PairSet, scores: np.ndarray) -> dict[str, Prediction]:
    """Per instance, the candidate with the highest score and its softmax probability over the
    candidates, with the runner-up candidate and its probability."""
    answers = {}
    for i, instance_id in enumerate(pairs.instance_ids):
        lo, hi = pairs.offsets[i], pairs.offsets[i + 1]
        if hi == lo:
            continue
        segment = scores[lo:hi] - scores[lo:hi].max()
        probabilities = np.exp(segment) / np.exp(segment).sum()
        ranked = np.argsort(-segment, kind="stable")[:2]
        keys = [pairs.gloss_keys[pairs.pair_gloss[lo + r]] for r in ranked]
        second = (keys[1], float(probabilities[ranked[1]])) if len(ranked) > 1 else (None, None)
        answers[instance_id] = Prediction(keys[0], float(probabilities[ranked[0]]), *second)
    return answers
