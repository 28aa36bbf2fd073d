"""WSD scoring with exactly the semantics of the Raganato framework's official Java scorer.

Per gold instance with a system answer of n keys, each key in the gold set earns 1/n (`ok`),
each other key 1/n (`notok`); answers for ids not in the gold are ignored; unanswered gold
instances only lower recall. P = ok / (ok + notok), R = ok / |gold|, F1 = 2PR / (P + R).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

from cohesive.lexicon.wordnet import WN_TO_POS, key_pos


@dataclass(frozen=True)
class Score:
    ok: float
    notok: float
    gold: int
    answered: int

    @property
    def precision(self) -> float:
        return self.ok / (self.ok + self.notok) if self.ok + self.notok else 0.0

    @property
    def recall(self) -> float:
        return self.ok / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


def score(gold: Mapping[str, Sequence[str]], predicted: Mapping[str, Sequence[str]]) -> Score:
    """Score `predicted` (id -> answered keys) against `gold` (id -> acceptable keys)."""
    ok = notok = 0.0
    answered = 0
    for instance_id, answers in predicted.items():
        acceptable = gold.get(instance_id)
        if acceptable is None or not answers:
            continue
        answered += 1
        acceptable = set(acceptable)
        hits = sum(1 for key in answers if key in acceptable)
        ok += hits / len(answers)
        notok += (len(answers) - hits) / len(answers)
    return Score(ok=ok, notok=notok, gold=len(gold), answered=answered)


def score_by(gold: Mapping[str, Sequence[str]], predicted: Mapping[str, Sequence[str]],
             group: Callable[[str], str]) -> dict[str, Score]:
    """Scores of the gold subsets that share `group(id)` (e.g. dataset or POS)."""
    subsets: dict[str, dict[str, Sequence[str]]] = defaultdict(dict)
    for instance_id, keys in gold.items():
        subsets[group(instance_id)][instance_id] = keys
    return {name: score(subset, predicted) for name, subset in sorted(subsets.items())}


def dataset_of(instance_id: str) -> str:
    """The dataset an ALL id belongs to (`semeval2007.d000.s000.t000` -> `semeval2007`)."""
    parts = instance_id.split(".")
    return parts[0] if len(parts) > 3 else ""


def gold_pos(gold: Mapping[str, Sequence[str]]) -> Callable[[str], str]:
    """POS of a gold instance, read off its first sense key (NOUN, VERB, ADJ, ADV)."""
    return lambda instance_id: WN_TO_POS[key_pos(gold[instance_id][0])]


@dataclass(frozen=True)
class Report:
    """Overall score plus breakdowns by dataset (for ALL-style ids) and by POS."""

    overall: Score
    by_dataset: dict[str, Score]
    by_pos: dict[str, Score]

    def as_dict(self) -> dict:
        return {
            "overall": self.overall.as_dict(),
            "by_dataset": {k: v.as_dict() for k, v in self.by_dataset.items()},
            "by_pos": {k: v.as_dict() for k, v in self.by_pos.items()},
        }


def report(gold: Mapping[str, Sequence[str]], predicted: Mapping[str, Sequence[str]]) -> Report:
    by_dataset = score_by(gold, predicted, dataset_of)
    return Report(
        overall=score(gold, predicted),
        by_dataset={} if set(by_dataset) == {""} else by_dataset,
        by_pos=score_by(gold, predicted, gold_pos(gold)),
    )


def score_files(gold_key: str, predicted_key: str) -> Report:
    """Score two key files, as the official scorer does (library form of `cohesive wsd score`)."""
    from cohesive.corpora.raganato import read_keys
    from cohesive.errors import DataError

    gold = read_keys(gold_key)
    if not gold:
        raise DataError(f"{gold_key}: no gold keys: nothing to score against")
    return report(gold, read_keys(predicted_key))
