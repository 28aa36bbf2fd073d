"""Cross-encoder WSD prediction with an LMGC model: exactly one sense per instance.

Every candidate of an instance is scored in the same batch (batches are whole instances, sorted by
length), glosses are tokenised once per sense, and the answer is the candidate with the highest
P(match). The reported probability is a distribution over the instance's candidates: the softmax
of the pairs' match log-odds (same argmax as P(match), but it sums to one over the senses).
A model folder may carry a tuned sense-frequency prior (`prior.json`, see `cohesive.wsd.prior`),
added to the scores before the choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from cohesive.corpora.raganato import Instance, Sentence, iter_instances, write_keys
from cohesive.errors import CohesiveError
from cohesive.lexicon.wordnet import Lexicon
from cohesive.wsd.pairs import PairCollator, PairEncoder, PairSet, instance_batches
from cohesive.wsd.prior import read_weight, with_prior
from cohesive.wsd.scorer import score


@dataclass(frozen=True)
class Prediction:
    key: str
    probability: float


class Predictor(Protocol):
    """What the cross- and bi-encoder share: pairs from `encoder`, `score` per pair, `predict` per instance."""

    encoder: PairEncoder
    prior_weight: float

    def score(self, pairs: PairSet, desc: str | None = None) -> np.ndarray: ...

    def predict(self, instances: Iterable[Instance], desc: str | None = None) -> dict[str, Prediction]: ...


class CrossEncoder:
    """Scores context-gloss pairs with an LmgcModel."""

    def __init__(self, model, tokenizer, lexicon: Lexicon | None = None, batch_pairs: int = 256,
                 prior_weight: float = 0.0):
        from cohesive.lexicon import lexicon as default_lexicon

        self.model = model
        self.encoder = PairEncoder(tokenizer, lexicon or default_lexicon(), model.max_length, model.max_gloss_tokens)
        self.collate = PairCollator(tokenizer)
        self.batch_pairs = batch_pairs
        self.prior_weight = prior_weight

    @classmethod
    def load(cls, directory: str | Path, batch_pairs: int = 256) -> CrossEncoder:
        from transformers import AutoTokenizer

        from cohesive.wsd.lmgc import LmgcModel

        tokenizer = AutoTokenizer.from_pretrained(str(directory), trust_remote_code=False)
        return cls(LmgcModel.from_pretrained(directory).eval(), tokenizer, batch_pairs=batch_pairs)

    def predict(self, instances: Iterable[Instance], desc: str | None = None) -> dict[str, Prediction]:
        pairs = self.encoder.build(instances, desc=desc)
        return choose(pairs, with_prior(pairs, self.score(pairs, desc), self.prior_weight, self.encoder.lexicon))

    def score(self, pairs: PairSet, desc: str | None = None) -> np.ndarray:
        """Match log-odds (logit 1 - logit 0) of every pair."""
        scores = np.empty(len(pairs), dtype=np.float32)
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode():
            for index in tqdm(list(instance_batches(pairs, self.batch_pairs)), desc=desc, unit=" batch", leave=False,
                              disable=None if desc else True):
                batch = self.collate([pairs[i] for i in index])
                batch.pop("labels", None)
                logits = self.model(**batch).logits.float()
                scores[index] = (logits[:, 1] - logits[:, 0]).numpy()
        self.model.train(was_training)
        return scores

    def f1(self, pairs: PairSet, gold: Mapping[str, Sequence[str]]) -> float:
        """Official-scorer F1 of the current model on pre-built pairs (dev selection)."""
        predicted = choose(pairs, self.score(pairs))
        return score(gold, {i: [p.key] for i, p in predicted.items()}).f1


def choose(pairs: PairSet, scores: np.ndarray) -> dict[str, Prediction]:
    """Per instance, the candidate with the highest score and its softmax probability over the candidates."""
    answers = {}
    for i, instance_id in enumerate(pairs.instance_ids):
        lo, hi = pairs.offsets[i], pairs.offsets[i + 1]
        if hi == lo:
            continue
        segment = scores[lo:hi] - scores[lo:hi].max()
        probabilities = np.exp(segment) / np.exp(segment).sum()
        best = int(np.argmax(segment))
        answers[instance_id] = Prediction(pairs.gloss_keys[pairs.pair_gloss[lo + best]], float(probabilities[best]))
    return answers


def sentence_instances(sentence: Sentence) -> list[Instance]:
    return [Instance(token.id, token.lemma, token.pos, index, sentence) for index, token in sentence.instances]


def load_predictor(directory: str | Path, batch_pairs: int = 256, prior_weight: float | None = None) -> Predictor:
    """A trained cross-encoder (lmgc.json) or bi-encoder (biencoder.json) folder, with the prior
    weight saved beside it unless `prior_weight` is given (0 = the model alone)."""
    from cohesive.wsd.biencoder import META_FILE as BI_META
    from cohesive.wsd.biencoder import BiEncoderPredictor
    from cohesive.wsd.glossbank import META_FILE as BANK_META
    from cohesive.wsd.glossbank import GlossBankPredictor
    from cohesive.wsd.lmgc import META_FILE

    if prior_weight is not None and prior_weight < 0:
        raise CohesiveError(f"prior weight must be >= 0, got {prior_weight}")
    directory = Path(directory)
    if (directory / BANK_META).is_file():
        predictor = GlossBankPredictor.load(directory, batch_pairs)
    elif (directory / BI_META).is_file():
        predictor = BiEncoderPredictor.load(directory, batch_pairs)
    elif (directory / META_FILE).is_file():
        predictor = CrossEncoder.load(directory, batch_pairs)
    else:
        raise CohesiveError(f"{directory} is not a trained WSD model (no {META_FILE} or {BI_META}); "
                            "train one with `cohesive wsd train`")
    predictor.prior_weight = read_weight(directory) if prior_weight is None else prior_weight
    return predictor


def predict_to_file(predictor: Predictor, prefix: Path, output: Path) -> dict[str, Prediction]:
    """Predict every instance of a Raganato dataset in one length-bucketed pass; write a key file."""
    predictions = predictor.predict(iter_instances(prefix), desc=f"predict {prefix.name}")
    write_keys(output, ((i, p.key) for i, p in predictions.items()))
    return predictions
