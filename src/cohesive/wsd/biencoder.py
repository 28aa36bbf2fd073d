"""BEM-style bi-encoder (Blevins & Zettlemoyer 2020): context and gloss encoded separately.

The target is represented by the mean of its sub-word states in the plain sentence (no markers,
so one encoding serves every target of a sentence); a sense by the first-token state of its gloss
(`lemma : gloss`, as in the pairs). The score is their dot product; training is cross-entropy
over each instance's candidates, on the same SemCor instances and candidates as LMGC. Gloss
vectors are cached per sense key, so prediction costs one encoder pass per sentence plus one
per distinct gloss.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from cohesive.corpora.raganato import Instance
from cohesive.lexicon.wordnet import Lexicon
from cohesive.models import resolve_model
from cohesive.wsd.lmgc import LmgcConfig, WsdOutput
from cohesive.wsd.pairs import PairEncoder, PairSet, context_window, single_affixes
from cohesive.wsd.predict import Prediction, choose
from cohesive.wsd.prior import with_prior
from cohesive.wsd.scorer import score

META_FILE = "biencoder.json"


class BiEncoder(nn.Module):
    """Two encoders (context, gloss) initialised from the same checkpoint."""

    def __init__(self, context_encoder: nn.Module, gloss_encoder: nn.Module, max_length: int = 128,
                 max_gloss_tokens: int = 48):
        super().__init__()
        self.context_encoder = context_encoder
        self.gloss_encoder = gloss_encoder
        self.max_length = max_length
        self.max_gloss_tokens = max_gloss_tokens

    def context_vectors(self, context_ids: torch.Tensor, context_mask: torch.Tensor, rows: torch.Tensor,
                        starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """Mean hidden state over each target's tokens [starts, ends) of context row `rows`."""
        hidden = self.context_encoder(input_ids=context_ids, attention_mask=context_mask).last_hidden_state
        positions = torch.arange(hidden.shape[1])
        weights = ((positions >= starts[:, None]) & (positions < ends[:, None])).to(hidden.dtype)
        return torch.einsum("nl,nlh->nh", weights, hidden[rows]) / weights.sum(1, keepdim=True).clamp(min=1)

    def gloss_vectors(self, gloss_ids: torch.Tensor, gloss_mask: torch.Tensor) -> torch.Tensor:
        return self.gloss_encoder(input_ids=gloss_ids, attention_mask=gloss_mask).last_hidden_state[:, 0]

    def forward(self, context_ids, context_mask, rows, starts, ends, gloss_ids, gloss_mask, candidates,
                gold=None) -> WsdOutput:
        """Scores [targets, candidates] (padding at -inf); loss = -log P(gold senses) over the candidates."""
        targets = self.context_vectors(context_ids, context_mask, rows, starts, ends)
        glosses = self.gloss_vectors(gloss_ids, gloss_mask)
        logits = (targets @ glosses.T).gather(1, candidates.clamp(min=0)).masked_fill(candidates < 0, float("-inf"))
        if gold is None:
            return WsdOutput(None, logits)
        loss = (torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~gold, float("-inf")), 1)).mean()
        return WsdOutput(loss, logits, {"bem": loss.detach()})

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        self.context_encoder.save_pretrained(str(directory / "context"))
        self.gloss_encoder.save_pretrained(str(directory / "gloss"))
        meta = {"format": 1, "max_length": self.max_length, "max_gloss_tokens": self.max_gloss_tokens}
        (directory / META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def from_pretrained(cls, name: str | Path, max_length: int = 128, max_gloss_tokens: int = 48) -> BiEncoder:
        """A trained bi-encoder folder, or both encoders initialised from one encoder checkpoint."""
        from transformers import AutoModel

        path = Path(resolve_model(str(name)))
        if (path / META_FILE).is_file():
            meta = json.loads((path / META_FILE).read_text())
            return cls(AutoModel.from_pretrained(str(path / "context"), trust_remote_code=False),
                       AutoModel.from_pretrained(str(path / "gloss"), trust_remote_code=False),
                       meta["max_length"], meta["max_gloss_tokens"])
        return cls(AutoModel.from_pretrained(str(path), trust_remote_code=False),
                   AutoModel.from_pretrained(str(path), trust_remote_code=False), max_length, max_gloss_tokens)


class Batcher:
    """Model inputs for groups of instances of a (marker-free) PairSet: each distinct context window
    and gloss once, the targets' token spans, and the candidates as gloss rows."""

    def __init__(self, pairs: PairSet, tokenizer):
        self.pairs = pairs
        self.prefix, self.suffix = single_affixes(tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def contexts(self, instances: Sequence[int]) -> dict[str, torch.Tensor]:
        p, budget = self.pairs, self.pairs.max_length - len(self.prefix) - len(self.suffix)
        rows: dict[tuple[int, int, int], int] = {}
        sequences, target_rows, starts, ends = [], [], [], []
        for i in instances:
            c = int(p.instance_context[i])
            start, end = p.spans[i]
            lo, hi = context_window(len(p.contexts[c]), start, end, budget)
            if (c, lo, hi) not in rows:
                rows[(c, lo, hi)] = len(sequences)
                sequences.append(np.concatenate([self.prefix, p.contexts[c][lo:hi], self.suffix]))
            target_rows.append(rows[(c, lo, hi)])
            starts.append(start - lo + len(self.prefix))
            ends.append(end - lo + len(self.prefix))
        ids, mask = self._pad(sequences)
        return {"context_ids": ids, "context_mask": mask, "rows": torch.tensor(target_rows),
                "starts": torch.tensor(starts), "ends": torch.tensor(ends)}

    def glosses(self, gloss_indices: Sequence[int]) -> dict[str, torch.Tensor]:
        glosses = self.pairs.glosses
        ids, mask = self._pad([np.concatenate([self.prefix, glosses[g], self.suffix]) for g in gloss_indices])
        return {"gloss_ids": ids, "gloss_mask": mask}

    def __call__(self, instances: list[int]) -> dict[str, torch.Tensor]:
        """A training batch: contexts, the union of their candidates' glosses, candidates and gold."""
        p = self.pairs
        spans = [np.arange(p.offsets[i], p.offsets[i + 1]) for i in instances]
        gloss_rows = {g: r for r, g in enumerate(dict.fromkeys(int(g) for s in spans for g in p.pair_gloss[s]))}
        width = max(len(s) for s in spans)
        candidates = torch.full((len(instances), width), -1, dtype=torch.long)
        gold = torch.zeros((len(instances), width), dtype=torch.bool)
        for row, s in enumerate(spans):
            candidates[row, :len(s)] = torch.tensor([gloss_rows[int(g)] for g in p.pair_gloss[s]])
            gold[row, :len(s)] = torch.from_numpy(p.labels[s] == 1)
        return {**self.contexts(instances), **self.glosses(list(gloss_rows)), "candidates": candidates, "gold": gold}

    def _pad(self, sequences: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in sequences)
        ids = np.full((len(sequences), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(sequences), width), dtype=np.int64)
        for row, s in enumerate(sequences):
            ids[row, :len(s)] = s
            mask[row, :len(s)] = 1
        return torch.from_numpy(ids), torch.from_numpy(mask)


class BiEncoderPredictor:
    """Bi-encoder WSD: gloss vectors cached per sense key, one context pass per sentence."""

    def __init__(self, model: BiEncoder, tokenizer, lexicon: Lexicon | None = None, batch_pairs: int = 256,
                 prior_weight: float = 0.0):
        from cohesive.lexicon import lexicon as default_lexicon

        self.model = model
        self.prior_weight = prior_weight
        self.tokenizer = tokenizer
        self.encoder = PairEncoder(tokenizer, lexicon or default_lexicon(), model.max_length, model.max_gloss_tokens,
                                   marker="")
        self.batch_pairs = batch_pairs
        self._vectors: dict[str, torch.Tensor] = {}

    @classmethod
    def load(cls, directory: str | Path, batch_pairs: int = 256) -> BiEncoderPredictor:
        from transformers import AutoTokenizer

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
                index = np.concatenate([np.arange(pairs.offsets[i], pairs.offsets[i + 1]) for i in chunk])
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


class InstanceIndices(torch.utils.data.Dataset):
    """The bi-encoder trains on instances (all candidates of one in the same softmax)."""

    def __init__(self, lengths: np.ndarray):
        self.lengths = lengths  # context length of each instance (for length-grouped batches)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> int:
        return i


class BiEncoderSystem:
    """Training pieces for `objective: bem`; `batch_size` counts instances."""

    marker = ""

    def __init__(self, config: LmgcConfig, tokenizer):
        self.config = config
        self.tokenizer = tokenizer
        self.model = BiEncoder.from_pretrained(config.model, config.max_length, config.max_gloss_tokens)

    def dataset(self, pairs: PairSet) -> InstanceIndices:
        return InstanceIndices(np.array([len(c) for c in pairs.contexts])[pairs.instance_context])

    def sampler(self, dataset: InstanceIndices, batch_size: int, seed: int):
        from cohesive.wsd.pairs import BucketSampler

        return BucketSampler(dataset.lengths, batch_size, seed=seed)

    def collator(self, pairs: PairSet) -> Batcher:
        return Batcher(pairs, self.tokenizer)

    def dev_scorer(self, instances, gold):
        predictor = BiEncoderPredictor(self.model, self.tokenizer, batch_pairs=self.config.eval_batch_pairs)
        pairs = predictor.encoder.build(instances, desc="dev pairs")
        return lambda model: predictor.f1(pairs, gold)

