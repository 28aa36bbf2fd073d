"""Prediction with a trained model of any architecture: exactly one sense per instance.

Cross-encoder (LMGC): every candidate of an instance is scored in the same batch (batches are
whole instances, sorted by length), glosses are tokenised once per sense, and the answer is the
candidate with the highest P(match). Bi-encoders (BEM, gloss bank): one context pass serves every
target of a sentence; gloss vectors are cached per sense key (BEM) or read from the gloss bank.
The reported probability is a softmax over the instance's candidates. A model folder may carry a
tuned sense-frequency prior (`prior.json`, see `cohesive.wsd.prior`), added before the choice.
`load_predictor` opens any model folder; `default_model` is `$COHESIVE_WSD_MODEL` or the model
shipped with the package.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm
from transformers import AutoTokenizer

from cohesive.corpora.raganato import Instance, Sentence, iter_instances, write_keys
from cohesive.errors import CohesiveError
from cohesive.lexicon import lexicon as default_lexicon
from cohesive.lexicon.wordnet import Lexicon
from cohesive.models import load_pretrained
from cohesive.pretrained import shipped
from cohesive.wsd.data import Batcher, PairCollator, PairEncoder, PairSet, instance_batches
from cohesive.wsd.glossbank import GlossBank, GlossBankEncoder, bank_for
from cohesive.wsd.modeling import META_FILE, TRAINING_MARKER, BiEncoder, LmgcModel, read_model_meta
from cohesive.wsd.prior import choose, read_weight, with_prior
from cohesive.wsd.scorer import score
from cohesive.wsd.types import Prediction


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
        self.model = model
        self.encoder = PairEncoder(tokenizer, lexicon or default_lexicon(), model.max_length, model.max_gloss_tokens)
        self.collate = PairCollator(tokenizer)
        self.batch_pairs = batch_pairs
        self.prior_weight = prior_weight

    @classmethod
    def load(cls, directory: str | Path, batch_pairs: int = 256) -> CrossEncoder:
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


class BiEncoderPredictor:
    """Bi-encoder WSD: gloss vectors cached per sense key, one context pass per sentence."""

    def __init__(self, model: BiEncoder, tokenizer, lexicon: Lexicon | None = None, batch_pairs: int = 256,
                 prior_weight: float = 0.0):
        self.model = model
        self.prior_weight = prior_weight
        self.tokenizer = tokenizer
        self.encoder = PairEncoder(tokenizer, lexicon or default_lexicon(), model.max_length, model.max_gloss_tokens,
                                   marker="")
        self.batch_pairs = batch_pairs
        self._vectors: dict[str, torch.Tensor] = {}

    @classmethod
    def load(cls, directory: str | Path, batch_pairs: int = 256) -> BiEncoderPredictor:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), trust_remote_code=False)
        return cls(BiEncoder.from_pretrained(directory).eval(), tokenizer, batch_pairs=batch_pairs)

    def clear_cache(self) -> None:
        """Forget the gloss vectors (needed whenever the gloss encoder changes, e.g. during training)."""
        self._vectors.clear()

    def predict(self, instances: Iterable[Instance], desc: str | None = None) -> dict[str, Prediction]:
        pairs = self.encoder.build(instances, desc=desc)
        return choose(pairs, with_prior(pairs, self.score(pairs, desc), self.prior_weight, self.encoder.lexicon))

    def f1(self, pairs: PairSet, gold: Mapping[str, Sequence[str]]) -> float:
        self.clear_cache()
        predicted = choose(pairs, self.score(pairs))
        return score(gold, {i: [p.key] for i, p in predicted.items()}).f1

    def score(self, pairs: PairSet, desc: str | None = None) -> np.ndarray:
        """Dot product of each pair's target vector and (cached) gloss vector."""
        batcher = Batcher(pairs, self.tokenizer)
        was_training = self.model.training
        self.model.eval()
        scores = np.empty(len(pairs), dtype=np.float32)
        with torch.inference_mode():
            glosses = self._gloss_matrix(pairs, batcher)
            context_len = np.array([len(c) for c in pairs.contexts])[pairs.instance_context]
            order = np.lexsort((pairs.instance_context, context_len))
            size = max(1, self.batch_pairs // 8)
            for start in tqdm(range(0, len(order), size), desc=desc, unit=" batch", leave=False,
                              disable=None if desc else True):
                chunk = order[start:start + size]
                targets = self.model.context_vectors(**batcher.contexts(chunk))
                index = pairs.pair_indices(chunk)
                local = np.repeat(np.arange(len(chunk)), np.diff(pairs.offsets)[chunk])
                scores[index] = (targets[local] * glosses[pairs.pair_gloss[index]]).sum(-1).float().numpy()
        self.model.train(was_training)
        return scores

    def _gloss_matrix(self, pairs: PairSet, batcher: Batcher) -> torch.Tensor:
        """Vectors of `pairs.gloss_keys` (in order), encoding only the ones not cached yet, by length."""
        missing = [g for g, k in enumerate(pairs.gloss_keys) if k not in self._vectors]
        missing.sort(key=lambda g: len(pairs.glosses[g]))
        for start in range(0, len(missing), self.batch_pairs):
            chunk = missing[start:start + self.batch_pairs]
            vectors = self.model.gloss_vectors(**batcher.glosses(chunk))
            self._vectors.update((pairs.gloss_keys[g], v) for g, v in zip(chunk, vectors))
        if not pairs.gloss_keys:
            return torch.empty(0)
        return torch.stack([self._vectors[k] for k in pairs.gloss_keys])


class GlossBankPredictor(BiEncoderPredictor):
    """Prediction: one context pass per sentence (merged LoRA), gloss vectors from the cached bank."""

    def __init__(self, model: GlossBankEncoder, tokenizer, bank: GlossBank, batch_pairs: int = 256,
                 prior_weight: float = 0.0):
        super().__init__(model, tokenizer, bank.pair_encoder.lexicon, batch_pairs, prior_weight)
        self.encoder = bank.pair_encoder
        self.bank = bank

    @classmethod
    def load(cls, directory: str | Path, batch_pairs: int = 256) -> GlossBankPredictor:
        model = GlossBankEncoder.from_pretrained(directory)
        model.context_encoder = model.merged_encoder()
        tokenizer = load_pretrained(AutoTokenizer, model.meta["base"])
        return cls(model.eval(), tokenizer, bank_for(model.meta, tokenizer, default_lexicon()), batch_pairs)

    def _gloss_matrix(self, pairs: PairSet, batcher: Batcher) -> torch.Tensor:
        return self.model.gloss_vectors(self.bank.vectors(pairs.gloss_keys, desc="gloss bank"),
                                        self.model.sense_ids(pairs.gloss_keys))


def sentence_instances(sentence: Sentence) -> list[Instance]:
    return [Instance(token.id, token.lemma, token.pos, index, sentence) for index, token in sentence.instances]


def check_prior_weight(weight: float | None) -> None:
    """None (the tuned weight) or a number >= 0; NaN and negative weights are refused."""
    if weight is not None and not weight >= 0:
        raise CohesiveError(f"prior weight must be a number >= 0, got {weight}")


def load_predictor(directory: str | Path, batch_pairs: int = 256, prior_weight: float | None = None) -> Predictor:
    """A trained model folder of any architecture (see `read_model_meta`), with the prior weight
    saved beside it unless `prior_weight` is given (0 = the model alone)."""
    check_prior_weight(prior_weight)
    directory = Path(directory)
    if (directory / TRAINING_MARKER).exists():
        raise CohesiveError(f"{directory} is being trained, or its training stopped before the end: finish it with "
                            "`cohesive wsd train` (it resumes) or use another model")
    meta = read_model_meta(directory)
    if meta is None:
        raise CohesiveError(f"{directory} is not a trained WSD model (no {META_FILE}); train one with `cohesive wsd train`")
    predictor = PREDICTORS[meta["architecture"]].load(directory, batch_pairs)
    predictor.prior_weight = read_weight(directory) if prior_weight is None else prior_weight
    return predictor


MODEL_ENV = "COHESIVE_WSD_MODEL"
SHIPPED_MODEL = shipped("wsd-minilm")


def default_model() -> Path:
    """`$COHESIVE_WSD_MODEL`, else the model shipped with the package (no training, no network)."""
    return Path(os.environ.get(MODEL_ENV) or SHIPPED_MODEL)


PREDICTORS = {"cross-encoder": CrossEncoder, "bi-encoder": BiEncoderPredictor, "gloss-bank": GlossBankPredictor}


def predict_to_file(predictor: Predictor, prefix: Path, output: Path) -> dict[str, Prediction]:
    """Predict every instance of a Raganato dataset in one length-bucketed pass; write a key file."""
    predictions = predictor.predict(iter_instances(prefix), desc=f"predict {prefix.name}")
    write_keys(output, ((i, p.key) for i, p in predictions.items()))
    return predictions
