"""Context-gloss pairs (GlossBERT's weak-supervision form) with length-bucketed dynamic padding.

Segment A is the sentence with the target span wrapped in `"`; segment B is `lemma : gloss`, the
target written as its WordNet lemma (underscores as spaces), which is the word the glosses define.
Candidates are the WordNet senses of the target's lemma *with the target's POS* (the LMGC code
also emitted the senses of other POS, which only adds negatives that the POS already rules out).

Sentences and glosses are tokenised once, in batches, without special tokens; a pair is assembled
on demand with the model's own pair template (probed from its tokenizer), so ~2M SemCor pairs
cost one tokenised context per instance and one tokenised gloss per sense. When a pair is too
long, the context is cut to a window around the target, never the target itself.

Batching for the bi-encoders lives here too: `Batcher` (one context row per distinct sentence
window), `InstanceIndices` (BEM), and the gloss-bank trainer's sentence-grouped batches.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from tqdm import tqdm

from cohesive.corpora.raganato import Instance, gold_path, iter_instances, read_keys
from cohesive.distill.mlm import mask_tokens
from cohesive.errors import CohesiveError
from cohesive.lexicon import lexicon
from cohesive.lexicon.wordnet import WN_TO_POS, Lexicon, Sense, wordnet_pos
from cohesive.paths import semcor_prefix, wsd_prefix
from cohesive.wsd.types import WsdTrainConfig

log = logging.getLogger(__name__)
NO_LABEL = -1
_TOKENISE_CHUNK = 4096


class UnknownLemmaError(CohesiveError):
    """A target whose lemma has no WordNet sense for its POS: it has no candidates to choose from."""


def candidate_senses(lexicon: Lexicon, lemma: str, pos: str) -> list[Sense]:
    """The WordNet senses of `lemma` with `pos`, in WordNet order; unknown lemmas are an error."""
    senses = lexicon.senses(lemma, pos)
    if not senses:
        raise UnknownLemmaError(f"WordNet 3.0 has no {WN_TO_POS[wordnet_pos(pos)]} sense for {lemma!r}")
    return senses


def marked_context(words: Sequence[str], start: int, end: int, marker: str = '"') -> tuple[str, int, int]:
    """`words` joined by spaces with `words[start:end]` wrapped in `marker`s.

    Returns the text and the character span of the marked target (markers included)."""
    left, target, right = " ".join(words[:start]), " ".join(words[start:end]), " ".join(words[end:])
    marked = f"{marker} {target} {marker}" if marker else target
    begin = len(left) + 1 if left else 0
    text = " ".join(part for part in (left, marked, right) if part)
    return text, begin, begin + len(marked)


def gloss_segment(sense: Sense) -> str:
    """Segment B: `lemma : gloss` (GlossBERT's weak supervision)."""
    return f"{sense.lemma.replace('_', ' ')} : {sense.gloss}"


@dataclass(frozen=True)
class PairTemplate:
    """Where a tokenizer puts its special tokens around two segments (e.g. [CLS] A [SEP] B [SEP]).

    Transformers 5 tokenizers no longer expose `build_inputs_with_special_tokens`, so the template
    is read off one probe pair. `types` holds the token-type ids of the prefix, segment A, the
    middle, segment B and the suffix (None for models that take no token types)."""

    prefix: tuple[int, ...]
    middle: tuple[int, ...]
    suffix: tuple[int, ...]
    types: tuple[tuple[int, ...], int, tuple[int, ...], int, tuple[int, ...]] | None

    @classmethod
    def from_tokenizer(cls, tokenizer) -> PairTemplate:
        a = tokenizer("cohesive", add_special_tokens=False)["input_ids"]
        b = tokenizer("template", add_special_tokens=False)["input_ids"]
        pair = tokenizer("cohesive", "template")
        ids = pair["input_ids"]
        i = _find(ids, a, 0)
        j = _find(ids, b, i + len(a)) if i >= 0 else -1
        if i < 0 or j < 0:
            raise CohesiveError(f"{type(tokenizer).__name__}: cannot read its sentence-pair template")
        types = None
        if "token_type_ids" in pair and "token_type_ids" in tokenizer.model_input_names:
            t = pair["token_type_ids"]
            types = (tuple(t[:i]), t[i], tuple(t[i + len(a):j]), t[j], tuple(t[j + len(b):]))
        return cls(tuple(ids[:i]), tuple(ids[i + len(a):j]), tuple(ids[j + len(b):]), types)

    @property
    def n_special(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    def build(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Input ids (and token types) of the pair (a, b)."""
        ids = np.concatenate([np.asarray(p, dtype=np.int64) for p in (self.prefix, a, self.middle, b, self.suffix)])
        if self.types is None:
            return ids, None
        prefix, a_type, middle, b_type, suffix = self.types
        types = np.concatenate([np.asarray(prefix, dtype=np.int64), np.full(len(a), a_type, dtype=np.int64),
                                np.asarray(middle, dtype=np.int64), np.full(len(b), b_type, dtype=np.int64),
                                np.asarray(suffix, dtype=np.int64)])
        return ids, types


def single_affixes(tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """The special tokens a tokenizer puts before and after one sequence (e.g. [CLS] ... [SEP])."""
    a = tokenizer("cohesive", add_special_tokens=False)["input_ids"]
    ids = tokenizer("cohesive")["input_ids"]
    i = _find(ids, a, 0)
    if i < 0:
        raise CohesiveError(f"{type(tokenizer).__name__}: cannot read its single-sequence template")
    return np.asarray(ids[:i], dtype=np.int64), np.asarray(ids[i + len(a):], dtype=np.int64)


def _find(haystack: list[int], needle: list[int], start: int) -> int:
    for i in range(start, len(haystack) - len(needle) + 1):
        if haystack[i:i + len(needle)] == needle:
            return i
    return -1


def context_window(length: int, start: int, end: int, budget: int) -> tuple[int, int]:
    """A slice of at most `budget` tokens that keeps [start, end) and centres it in the remaining context."""
    if length <= budget:
        return 0, length
    if end - start >= budget:
        return start, start + budget
    extra = budget - (end - start)
    right = min(length - end, extra - min(start, extra // 2))
    left = min(start, extra - right)
    return start - left, end + right


@dataclass(frozen=True)
class Sampling:
    """SemCor sub-sampling: full SemCor is ~226k instances and ~1.5M pairs with same-POS candidates.

    `instance_share` keeps each instance with that probability; `max_candidates` keeps the gold
    senses plus the first negatives in WordNet order (frequent senses: the hard negatives);
    `negatives_per_positive` then draws that many negatives per gold sense at random."""

    instance_share: float = 1.0
    max_candidates: int | None = None
    negatives_per_positive: int | None = None
    seed: int = 0

    def __post_init__(self):
        if not 0 < self.instance_share <= 1:
            raise CohesiveError(f"instance_share must be in (0, 1], got {self.instance_share}")
        if self.max_candidates is not None and self.max_candidates < 1:
            raise CohesiveError(f"max_candidates must be at least 1, got {self.max_candidates}")
        if self.negatives_per_positive is not None and self.negatives_per_positive < 0:
            raise CohesiveError(f"negatives_per_positive must be >= 0, got {self.negatives_per_positive}")

    def candidates(self, senses: list[Sense], gold: set[str], rng: random.Random) -> list[Sense]:
        positives = [s for s in senses if s.key in gold]
        negatives = [s for s in senses if s.key not in gold]
        if self.max_candidates is not None:
            negatives = negatives[: max(self.max_candidates - len(positives), 0)]
        if self.negatives_per_positive is not None:
            k = self.negatives_per_positive * len(positives)
            if len(negatives) > k:
                negatives = rng.sample(negatives, k)
        kept = {s.key for s in positives + negatives}
        return [s for s in senses if s.key in kept]


@dataclass
class PairSet(Dataset):
    """Pairs stored as (instance, gloss) indices into token tables; items are assembled on access.

    Pairs of an instance are contiguous (`offsets[i]:offsets[i + 1]`); `contexts` are shared by
    instances with the same text (one per sentence when no marker is used)."""

    template: PairTemplate
    max_length: int
    instance_ids: list[str]
    contexts: list[np.ndarray]
    instance_context: np.ndarray  # [instances] -> context index
    spans: np.ndarray  # [instances, 2] token span of the (marked) target in its context
    glosses: list[np.ndarray]
    gloss_keys: list[str]
    pair_instance: np.ndarray  # [pairs]
    pair_gloss: np.ndarray  # [pairs]
    labels: np.ndarray  # [pairs] 1 gold, 0 other, -1 unknown
    offsets: np.ndarray = field(init=False)
    lengths: np.ndarray = field(init=False)

    def __post_init__(self):
        counts = np.bincount(self.pair_instance, minlength=len(self.instance_ids))
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        context_len = np.array([len(c) for c in self.contexts], dtype=np.int64)[self.instance_context]
        gloss_len = np.array([len(g) for g in self.glosses], dtype=np.int64)
        pair_len = context_len[self.pair_instance] + gloss_len[self.pair_gloss] + self.template.n_special
        self.lengths = np.minimum(pair_len, self.max_length)

    def __len__(self) -> int:
        return len(self.pair_instance)

    def __getitem__(self, i: int) -> dict:
        instance, gloss = int(self.pair_instance[i]), self.glosses[self.pair_gloss[i]]
        context = self.contexts[self.instance_context[instance]]
        start, end = self.spans[instance]
        lo, hi = context_window(len(context), start, end, self.max_length - self.template.n_special - len(gloss))
        ids, types = self.template.build(context[lo:hi], gloss)
        return {"input_ids": ids, "token_type_ids": types, "labels": int(self.labels[i])}

    def keys_of(self, instance: int) -> list[str]:
        """The candidate sense keys of an instance, in pair order."""
        return [self.gloss_keys[g] for g in self.pair_gloss[self.offsets[instance]:self.offsets[instance + 1]]]

    def pair_indices(self, instances: Sequence[int]) -> np.ndarray:
        """The indices of every pair of `instances`, instance by instance."""
        return np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in instances] or
                              [np.empty(0, dtype=np.int64)])

    def subset(self, instances: np.ndarray) -> tuple[PairSet, np.ndarray]:
        """The pairs of `instances` (sorted indices) as a PairSet of their own, and the indices of those
        pairs here (so per-pair scores can be sliced instead of recomputed)."""
        instances = np.asarray(instances, dtype=np.int64)
        pair_index = self.pair_indices(instances)
        renumber = np.full(len(self.instance_ids), -1, dtype=np.int64)
        renumber[instances] = np.arange(len(instances))
        subset = PairSet(self.template, self.max_length, [self.instance_ids[i] for i in instances], self.contexts,
                         self.instance_context[instances], self.spans[instances], self.glosses, self.gloss_keys,
                         renumber[self.pair_instance[pair_index]], self.pair_gloss[pair_index], self.labels[pair_index])
        return subset, pair_index


class PairEncoder:
    """Builds PairSets for one tokenizer; gloss token ids are cached per sense key across calls."""

    def __init__(self, tokenizer, lexicon: Lexicon, max_length: int = 128, max_gloss_tokens: int = 64,
                 marker: str = '"'):
        self.tokenizer = tokenizer
        self.lexicon = lexicon
        self.template = PairTemplate.from_tokenizer(tokenizer)
        if max_length - self.template.n_special - max_gloss_tokens < 8:
            raise CohesiveError(f"max_length {max_length} leaves under 8 context tokens next to "
                                f"max_gloss_tokens {max_gloss_tokens}")
        self.max_length = max_length
        self.max_gloss_tokens = max_gloss_tokens
        self.marker = marker
        self._glosses: dict[str, np.ndarray] = {}

    def build(self, instances: Iterable[Instance], gold: dict[str, list[str]] | None = None,
              sampling: Sampling | None = None, desc: str | None = None) -> PairSet:
        """Pairs for `instances`: every candidate sense (or a `sampling` of them, which needs `gold`)."""
        rng = random.Random(sampling.seed if sampling else 0)
        ids, texts, char_spans, context_of, pair_instance, pair_keys, labels = [], [], [], [], [], [], []
        context_index: dict[str, int] = {}
        for instance in tqdm(instances, desc=desc, unit=" inst", leave=False, disable=None if desc else True):
            if sampling is not None and sampling.instance_share < 1 and rng.random() >= sampling.instance_share:
                continue
            senses = candidate_senses(self.lexicon, instance.lemma, instance.pos)
            gold_keys = set(gold.get(instance.id, ())) if gold is not None else set()
            if sampling is not None:
                senses = sampling.candidates(senses, gold_keys, rng)
            text, begin, end = self._context(instance)
            if text not in context_index:
                context_index[text] = len(texts)
                texts.append(text)
            context_of.append(context_index[text])
            char_spans.append((begin, end))
            pair_instance.extend([len(ids)] * len(senses))
            pair_keys.extend(s.key for s in senses)
            labels.extend((int(s.key in gold_keys) if gold is not None else NO_LABEL) for s in senses)
            ids.append(instance.id)
        contexts, offsets = self._tokenise_contexts(texts)
        spans = np.array([_token_span(offsets[c], b, e) for c, (b, e) in zip(context_of, char_spans)],
                         dtype=np.int64).reshape(-1, 2)
        gloss_keys = list(dict.fromkeys(pair_keys))
        gloss_index = {k: i for i, k in enumerate(gloss_keys)}
        return PairSet(self.template, self.max_length, ids, contexts, np.asarray(context_of, dtype=np.int64), spans,
                       self.gloss_ids(gloss_keys), gloss_keys, np.asarray(pair_instance, dtype=np.int64),
                       np.array([gloss_index[k] for k in pair_keys], dtype=np.int64),
                       np.asarray(labels, dtype=np.int64))

    def _context(self, instance: Instance) -> tuple[str, int, int]:
        words = [t.text for t in instance.sentence.tokens]
        return marked_context(words, instance.index, instance.index + 1, self.marker)

    def _tokenise_contexts(self, texts: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Token ids and character start offsets, tokenised in large batches (Rust tokenizers)."""
        ids: list[np.ndarray] = []
        starts: list[np.ndarray] = []
        for chunk in _chunks(texts, _TOKENISE_CHUNK):
            enc = self.tokenizer(chunk, add_special_tokens=False, return_offsets_mapping=True)
            ids.extend(np.asarray(row, dtype=np.int64) for row in enc["input_ids"])
            starts.extend(np.asarray(row, dtype=np.int64).reshape(-1, 2)[:, 0] for row in enc["offset_mapping"])
        return ids, starts

    def gloss_ids(self, keys: list[str]) -> list[np.ndarray]:
        """Token ids of segment B for each sense key (tokenised once per key per encoder)."""
        missing = [k for k in dict.fromkeys(keys) if k not in self._glosses]
        for chunk in _chunks(missing, _TOKENISE_CHUNK):
            texts = [gloss_segment(self.lexicon.sense(k)) for k in chunk]
            enc = self.tokenizer(texts, add_special_tokens=False, truncation=True, max_length=self.max_gloss_tokens)
            self._glosses.update((k, np.asarray(row, dtype=np.int64)) for k, row in zip(chunk, enc["input_ids"]))
        return [self._glosses[k] for k in keys]


def _token_span(starts: np.ndarray, begin: int, end: int) -> tuple[int, int]:
    """Tokens whose first character lies in [begin, end)."""
    return int(np.searchsorted(starts, begin, "left")), int(np.searchsorted(starts, end, "left"))


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class PairCollator:
    """Pads a list of pair items to the longest one; with `mlm_probability` > 0 also masks them (LMGC-M)."""

    def __init__(self, tokenizer, mlm_probability: float = 0.0, seed: int = 0):
        self.tokenizer = tokenizer
        self.pad_id = pad_id(tokenizer)
        self.mlm_probability = mlm_probability
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(item["input_ids"]) for item in items)
        ids = np.full((len(items), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(items), width), dtype=np.int64)
        types = np.zeros((len(items), width), dtype=np.int64)
        for row, item in enumerate(items):
            n = len(item["input_ids"])
            ids[row, :n] = item["input_ids"]
            mask[row, :n] = 1
            if item["token_type_ids"] is not None:
                types[row, :n] = item["token_type_ids"]
        batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        if items[0]["token_type_ids"] is not None:
            batch["token_type_ids"] = torch.from_numpy(types)
        if items[0]["labels"] != NO_LABEL:
            batch["labels"] = torch.tensor([item["labels"] for item in items])
        if self.mlm_probability > 0:
            batch["input_ids"], batch["mlm_labels"] = mask_tokens(batch["input_ids"], self.tokenizer,
                                                                  self.mlm_probability, self.generator)
        return batch


class BucketSampler(Sampler[int]):
    """Shuffled indices in which every run of `batch_size` has similar lengths (less padding).

    A random pool of `pool_batches` batches is sorted by length and cut into batches; the batch
    order is then shuffled, so consecutive DataLoader batches still vary in length."""

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int = 0, pool_batches: int = 50):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.pool = batch_size * pool_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng((self.seed, self.epoch))
        order = rng.permutation(len(self.lengths))
        pools = np.split(order, range(self.pool, len(order), self.pool))
        pools = [p[np.argsort(self.lengths[p], kind="stable")] for p in pools]
        batches = np.split(np.concatenate(pools), range(self.batch_size, len(order), self.batch_size))
        full = len(batches) - (len(batches[-1]) < self.batch_size)
        for b in rng.permutation(full).tolist() + list(range(full, len(batches))):
            yield from batches[b].tolist()


def instance_batches(pairs: PairSet, max_pairs: int) -> Iterator[np.ndarray]:
    """Pair indices in batches of whole instances (all candidates of an instance in one batch),
    instances sorted by their longest pair so each batch pads little."""
    counts = np.diff(pairs.offsets)
    longest = np.zeros(len(counts), dtype=np.int64)
    has_pairs = counts > 0
    longest[has_pairs] = np.maximum.reduceat(pairs.lengths, pairs.offsets[:-1][has_pairs])
    batch: list[int] = []
    size = 0
    for instance in np.argsort(longest, kind="stable").tolist():
        if batch and size + counts[instance] > max_pairs:
            yield pairs.pair_indices(batch)
            batch, size = [], 0
        batch.append(instance)
        size += counts[instance]
    if batch:
        yield pairs.pair_indices(batch)


def training_pairs(config: WsdTrainConfig, tokenizer, marker: str):
    """The sub-sampled training pairs (SemCor or any Raganato corpus with gold keys)."""
    prefix = semcor_prefix() if config.train_data == "semcor" else wsd_prefix(config.train_data)
    encoder = PairEncoder(tokenizer, lexicon(), config.max_length, config.max_gloss_tokens, marker=marker)
    sampling = Sampling(config.instance_share, config.max_candidates, config.negatives_per_positive, config.seed)
    pairs = encoder.build(iter_instances(prefix), read_keys(gold_path(prefix)), sampling, desc=f"pairs {prefix.name}")
    log.info("training on %d instances, %d pairs (%d positive)", len(pairs.instance_ids), len(pairs),
             int(pairs.labels.sum()))
    return pairs


def pad_id(tokenizer) -> int:
    """The tokenizer's padding id (0 for tokenizers that define none; masked out anyway)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def pad_sequences(padding: int, sequences: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id rows padded with `padding` to the longest one (dynamic padding) and their attention mask."""
    width = max(len(s) for s in sequences)
    ids = np.full((len(sequences), width), padding, dtype=np.int64)
    mask = np.zeros((len(sequences), width), dtype=np.int64)
    for row, s in enumerate(sequences):
        ids[row, :len(s)] = s
        mask[row, :len(s)] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


class Batcher:
    """Model inputs for groups of instances of a (marker-free) PairSet: each distinct context window
    and gloss once, the targets' token spans, and the candidates as gloss rows."""

    def __init__(self, pairs: PairSet, tokenizer):
        self.pairs = pairs
        self.prefix, self.suffix = single_affixes(tokenizer)
        self.pad_id = pad_id(tokenizer)

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
        ids, mask = pad_sequences(self.pad_id, sequences)
        return {"context_ids": ids, "context_mask": mask, "rows": torch.tensor(target_rows),
                "starts": torch.tensor(starts), "ends": torch.tensor(ends)}

    def glosses(self, gloss_indices: Sequence[int]) -> dict[str, torch.Tensor]:
        glosses = self.pairs.glosses
        ids, mask = pad_sequences(self.pad_id, [np.concatenate([self.prefix, glosses[g], self.suffix]) for g in gloss_indices])
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


class InstanceIndices(torch.utils.data.Dataset):
    """The bi-encoder trains on instances (all candidates of one in the same softmax)."""

    def __init__(self, lengths: np.ndarray):
        self.lengths = lengths  # context length of each instance (for length-grouped batches)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> int:
        return i


def sentence_batches(pairs: PairSet, batch_instances: int, seed: int, pool_batches: int = 50) -> list[np.ndarray]:
    """Training batches of whole sentences: every target of a sentence shares its one context pass.

    Sentences are shuffled, sorted by length inside random pools (little padding), then cut into
    batches of at least `batch_instances` targets (a sentence is never split)."""
    by_context: dict[int, list[int]] = {}
    for instance, context in enumerate(pairs.instance_context.tolist()):
        if pairs.offsets[instance + 1] > pairs.offsets[instance]:
            by_context.setdefault(context, []).append(instance)
    contexts = np.array(sorted(by_context), dtype=np.int64)
    lengths = np.array([len(pairs.contexts[c]) for c in contexts])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(contexts))
    pool = max(1, pool_batches * max(1, batch_instances // 6))
    batches, current = [], []
    for start in range(0, len(order), pool):
        chunk = order[start:start + pool]
        for c in contexts[chunk[np.argsort(lengths[chunk], kind="stable")]].tolist():
            current.extend(by_context[c])
            if len(current) >= batch_instances:
                batches.append(np.array(current, dtype=np.int64))
                current = []
    if current:
        batches.append(np.array(current, dtype=np.int64))
    return batches


class BatchList(torch.utils.data.Dataset):
    """Pre-made batches as dataset items (the DataLoader takes one item per step)."""

    def __init__(self, batches: list[np.ndarray]):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.batches[i]


class ShuffledSampler(torch.utils.data.Sampler[int]):
    """A seeded permutation per epoch (deterministic, so a resumed run skips exactly the seen batches)."""

    def __init__(self, size: int, seed: int):
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        return iter(np.random.default_rng((self.seed, self.epoch)).permutation(self.size).tolist())


class BankCollator:
    """One pre-made batch -> context inputs, the bank vectors of its candidates, candidates and gold;
    with `mlm_probability` > 0 the contexts are also masked (gloss-bank-m), never at a target's tokens."""

    def __init__(self, pairs: PairSet, tokenizer, bank_matrix: torch.Tensor, sense_ids: torch.Tensor | None = None,
                 mlm_probability: float = 0.0, seed: int = 0):
        self.pairs = pairs
        self.tokenizer = tokenizer
        self.batcher = Batcher(pairs, tokenizer)
        self.bank_matrix = bank_matrix
        self.sense_ids = sense_ids  # per gloss of `pairs`: its row in the model's sense-offset table (-1: none)
        self.mlm_probability = mlm_probability
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, items: list[np.ndarray]) -> dict[str, torch.Tensor]:
        instances = np.concatenate(items)
        p = self.pairs
        counts = np.diff(p.offsets)[instances]
        index = p.pair_indices(instances)
        glosses, local = np.unique(p.pair_gloss[index], return_inverse=True)
        candidates = torch.full((len(instances), int(counts.max())), -1, dtype=torch.long)
        gold = torch.zeros(candidates.shape, dtype=torch.bool)
        rows = np.repeat(np.arange(len(instances)), counts)
        columns = np.arange(len(index)) - np.repeat(np.cumsum(counts) - counts, counts)
        candidates[rows, columns] = torch.from_numpy(local.astype(np.int64))
        gold[rows, columns] = torch.from_numpy(p.labels[index] == 1)
        batch = {**self.batcher.contexts(instances), "gloss_vectors": self.bank_matrix[torch.from_numpy(glosses)],
                 "candidates": candidates, "gold": gold}
        if self.sense_ids is not None:
            batch["gloss_senses"] = self.sense_ids[torch.from_numpy(glosses)]
        if self.mlm_probability > 0:
            eligible = batch["context_mask"].bool() & ~target_tokens(batch)
            batch["context_ids"], batch["mlm_labels"] = mask_tokens(batch["context_ids"], self.tokenizer,
                                                                    self.mlm_probability, self.generator, eligible)
        return batch


def span_mask(starts: torch.Tensor, ends: torch.Tensor, length: int) -> torch.Tensor:
    """[targets, length] True inside each target's token span [starts, ends)."""
    positions = torch.arange(length, device=starts.device)
    return (positions >= starts[:, None]) & (positions < ends[:, None])


def target_tokens(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """[rows, length] True at every token of some target span (those must stay visible to be disambiguated)."""
    ids = batch["context_ids"]
    spans = span_mask(batch["starts"], batch["ends"], ids.shape[1])
    return torch.zeros(ids.shape, dtype=torch.int32).index_add_(0, batch["rows"], spans.to(torch.int32)) > 0
