"""Knowledge-based WSD baselines: WordNet first sense, extended Lesk, SemCor most frequent sense.

Every baseline answers exactly one sense per instance whose lemma WordNet knows, and leaves the
others unanswered (which lowers recall, never precision).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from functools import cache

from nltk.stem import PorterStemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from cohesive.corpora.raganato import Instance, gold_path, iter_instances, read_keys
from cohesive.errors import CohesiveError
from cohesive.lexicon.wordnet import Lexicon, wordnet_pos
from cohesive.wsd.types import BASELINES

CONTENT_POS = {"NOUN", "VERB", "ADJ", "ADV"}
_WORD = re.compile(r"[a-z][a-z'-]+")


class FirstSense:
    """WordNet's first sense (sense number 1), the classic knowledge-based baseline."""

    name = "first-sense"

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon

    def predict(self, instance: Instance) -> str | None:
        senses = self.lexicon.senses(instance.lemma, instance.pos)
        return senses[0].key if senses else None


class MostFrequentSense:
    """The sense seen most often with this lemma and POS in a sense-annotated corpus (SemCor),
    backing off to WordNet's first sense for lemmas the corpus never annotated."""

    name = "mfs"

    def __init__(self, lexicon: Lexicon, counts: dict[tuple[str, str], Counter]):
        self.lexicon = lexicon
        self.counts = counts

    @classmethod
    def from_corpus(cls, lexicon: Lexicon, prefix) -> MostFrequentSense:
        gold = read_keys(gold_path(prefix))
        counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for instance in iter_instances(prefix):
            for key in gold.get(instance.id, []):
                counts[(instance.lemma.lower(), wordnet_pos(instance.pos))][key] += 1
        return cls(lexicon, counts)

    def predict(self, instance: Instance) -> str | None:
        senses = self.lexicon.senses(instance.lemma, instance.pos)
        if not senses:
            return None
        seen = self.counts.get((instance.lemma.lower(), wordnet_pos(instance.pos)))
        if not seen:
            return senses[0].key
        # Ties go to the sense WordNet lists first.
        return max(senses, key=lambda s: (seen.get(s.key, 0), -s.number)).key


class ExtendedLesk:
    """Extended Lesk (Banerjee & Pedersen, simplified): overlap between the sentence's content
    lemmas and each sense's signature (gloss, examples, synonyms, and the glosses of related
    synsets), on Porter stems without stop words; ties go to the more frequent (earlier) sense."""

    name = "lesk"
    RELATIONS = ("hypernyms", "hyponyms", "instance_hypernyms", "part_meronyms", "member_holonyms",
                 "part_holonyms", "member_meronyms", "similar_tos", "also_sees", "attributes",
                 "entailments", "causes", "verb_groups")

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon
        self.stemmer = PorterStemmer()

    def predict(self, instance: Instance) -> str | None:
        senses = self.lexicon.senses(instance.lemma, instance.pos)
        if not senses:
            return None
        context = self._context(instance)
        best = max(senses, key=lambda s: (len(context & self.signature(s.key)), -s.number))
        return best.key

    def _context(self, instance: Instance) -> frozenset[str]:
        words = [t.lemma for i, t in enumerate(instance.sentence.tokens)
                 if i != instance.index and t.pos in CONTENT_POS]
        return frozenset(self._stems(" ".join(words).replace("_", " ")))

    @cache
    def signature(self, sense_key: str) -> frozenset[str]:
        synset = self.lexicon.synset(sense_key)
        related = [synset] + [r for relation in self.RELATIONS for r in getattr(synset, relation)()]
        text = " ".join(
            " ".join([s.definition(), *s.examples(), *(n.replace("_", " ") for n in s.lemma_names())])
            for s in related
        )
        return frozenset(self._stems(text))

    def _stems(self, text: str) -> Iterable[str]:
        return (self._stem(w) for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOP_WORDS)

    @cache
    def _stem(self, word: str) -> str:
        return self.stemmer.stem(word)


def build_baseline(method: str, lexicon: Lexicon, training_prefix=None):
    """The baseline named `method`; `mfs` needs a sense-annotated training corpus prefix."""
    if method == "first-sense":
        return FirstSense(lexicon)
    if method == "lesk":
        return ExtendedLesk(lexicon)
    if method == "mfs":
        return MostFrequentSense.from_corpus(lexicon, training_prefix)
    raise CohesiveError(f"unknown method {method!r}; choose from {', '.join(BASELINES)}")
