"""A WordNet synonym spinner, the offline stand-in for SpinBot and SpinnerChief.

Each word is POS-tagged (the project's SemCor perceptron), lemmatised (WordNet morphy), given a
sense (by default in context, by extended Lesk; `sense="first"`: WordNet's first sense, whatever the
sentence says), and replaced by another single-word lemma of that synset, re-inflected to the
original form (lemminflect: `mice` -> `rodents`, `ran` -> `operated`) with the original
capitalisation (lower, Title, UPPER). Modes follow the tools' settings: SpinnerChief changes about
every 4th word by default (`every-4th`) and every 2nd word at its increased frequency
(`every-2nd`); SpinBot changes as many words as it can (`max`).

Names are left alone (capitalised words inside a sentence), and so are stop words and auxiliaries.

`relation="hypernym"` makes a second spinner family: the word is replaced by a lemma of a more
general synset (a noun's or verb's hypernym, an adjective's "similar to" synset) instead of a
synonym, so detectors can be tested on a substitution policy they never saw in training.
`relation="hyponym"` goes the other way, for training: a noun or verb is replaced by a lemma of a
more specific synset (the word most often tagged in SemCor first, counted over all its senses of
that part of speech: common words first, as a thesaurus lists them);
adjectives and adverbs are left alone. Training on it leaves the hypernym spinner's substitutions
unseen (the opposite direction in the same taxonomy, and its adjective changes, by "similar to").

`choice="random"` is another word-choice policy: any of the sense's candidates, drawn with the
paragraph's seeded generator, instead of the first in WordNet order (the synset's most frequent
lemma): a thesaurus tool that varies its picks, for a test cell no training spinner makes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from cohesive.corpora.raganato import Instance, Sentence, Token
from cohesive.errors import CohesiveError
from cohesive.lexicon import in_wordnet_order, lexicon
from cohesive.paraphrase.wordedit import CONTENT_POS, inflect_like, match_case, replace_spans
from cohesive.wsd.tagger import Span, load_tagger, split_sentences, tokenize

#: mode -> a word is changed once at least this many words have passed since the last change.
SPIN_MODES = {"every-12th": 12, "every-4th": 4, "every-3rd": 3, "every-2nd": 2, "max": 1}
SENSE_METHODS = ("first", "lesk")
#: which of a sense's candidate replacements the spinner writes: the first it can inflect, or any, at random.
CHOICES = ("first", "random")
_OPENING = {'"', "'", "(", "[", "``", "`"}


@dataclass(frozen=True)
class Substitution:
    """One changed word: `start`/`end` are character offsets in the original text."""

    start: int
    end: int
    original: str
    replacement: str
    lemma: str
    synonym: str
    pos: str
    sense_key: str
    synset: str


@dataclass(frozen=True)
class Spun:
    text: str
    substitutions: list[Substitution]


class Spinner:
    """`Spinner("every-4th").spin(text, random.Random(0))` -> the spun text and its substitutions."""

    def __init__(self, mode: str = "every-4th", sense: str = "lesk", tagger=None, lex=None, relation: str = "synonym",
                 choice: str = "first"):
        if mode not in SPIN_MODES:
            raise CohesiveError(f"unknown spin mode {mode!r}; choose from {', '.join(SPIN_MODES)}")
        if sense not in SENSE_METHODS:
            raise CohesiveError(f"unknown sense method {sense!r}; choose from {', '.join(SENSE_METHODS)}")
        if relation not in RELATIONS:
            raise CohesiveError(f"unknown spin relation {relation!r}; choose from {', '.join(RELATIONS)}")
        if choice not in CHOICES:
            raise CohesiveError(f"unknown spin word choice {choice!r}; choose from {', '.join(CHOICES)}")
        self.mode, self.step, self.sense, self.relation, self.choice = mode, SPIN_MODES[mode], sense, relation, choice
        self.lex = lex or lexicon()
        self.tagger = tagger or load_tagger()
        self._lesk = None
        if sense == "lesk":
            from cohesive.wsd.baselines import ExtendedLesk

            self._lesk = ExtendedLesk(self.lex)

    def spin(self, text: str, rng: random.Random | None = None) -> Spun:
        """Change a word whenever `step` words have passed since the last change (the count starts at
        a random offset, so the changed positions differ between paragraphs)."""
        rng = rng or random.Random(0)
        since_change = rng.randrange(self.step)
        substitutions = []
        for sentence in self._tagged_sentences(text):
            for index, (span, _, _) in enumerate(sentence.spans):
                if not span[0].isalpha():
                    continue
                since_change += 1
                if since_change < self.step:
                    continue
                substitution = self._substitute(sentence, index, rng)
                if substitution:
                    substitutions.append(substitution)
                    since_change = 0
        return Spun(apply_substitutions(text, substitutions), substitutions)

    def _tagged_sentences(self, text: str) -> list[_Tagged]:
        out = []
        for spans in split_sentences(tokenize(text)):
            tags = [pos for _, pos in self.tagger.tag([word for word, _, _ in spans])]
            lemmas = [self._lemma(word, pos) for (word, _, _), pos in zip(spans, tags)]
            out.append(_Tagged(list(zip(spans, tags, lemmas))))
        return out

    def _lemma(self, word: str, pos: str) -> str | None:
        """The WordNet lemma of a changeable content word, else None."""
        if pos not in CONTENT_POS or not word.isalpha() or word.lower() in ENGLISH_STOP_WORDS:
            return None
        lemma = self.lex.lemmatise(word, pos)
        if not lemma or lemma in ENGLISH_STOP_WORDS or not self.lex.senses(lemma, pos):
            return None
        return lemma

    def _substitute(self, sentence: _Tagged, index: int, rng: random.Random) -> Substitution | None:
        (word, start, end), pos, lemma = sentence.spans[index]
        if lemma is None or (word[0].isupper() and not word.isupper() and not sentence.starts_at(index)):
            return None  # not a content word WordNet knows, or a name
        sense = self._choose_sense(sentence, index)
        usable = self._replacements(word, pos, lemma, sense.key)
        if self.choice == "random":
            options = list(usable)
            chosen = rng.choice(options) if options else None
        else:
            chosen = next(usable, None)
        if chosen is None:
            return None
        synonym, replacement = chosen
        return Substitution(start, end, word, replacement, lemma, synonym, pos, sense.key,
                            self.lex.sense(sense.key).synset)

    def _replacements(self, word: str, pos: str, lemma: str, sense_key: str) -> Iterator[tuple[str, str]]:
        """(candidate lemma, the word it writes) for each of the sense's candidates that can stand in
        the word's inflection and capitalisation, in the relation's order (lazily: `first` stops at one)."""
        for synonym in _CANDIDATES[self.relation](self.lex, sense_key, lemma):
            inflected = inflect_like(word, lemma, synonym, pos)
            # WordNet must read the inflected form back as the synonym: rejects `works` -> `workses`
            if not inflected or inflected == word.lower() or self.lex.lemmatise(inflected, pos) != synonym:
                continue
            replacement = match_case(word, inflected)
            if replacement:
                yield synonym, replacement

    def _choose_sense(self, sentence: _Tagged, index: int):
        _, pos, lemma = sentence.spans[index]
        if self._lesk is None:
            return self.lex.senses(lemma, pos)[0]
        tokens = [Token(word, lem or word, tag) for (word, _, _), tag, lem in sentence.spans]
        instance = Instance("spin", lemma, pos, index, Sentence("s", "d", tokens))
        return self.lex.sense(self._lesk.predict(instance))


@dataclass(frozen=True)
class _Tagged:
    """A sentence's tokens with their POS tag and WordNet lemma (None for words that are never changed)."""

    spans: list[tuple[Span, str, str | None]]

    def starts_at(self, index: int) -> bool:
        """Whether the word at `index` opens the sentence (only quotes or brackets before it)."""
        return all(span[0] in _OPENING for span, _, _ in self.spans[:index])


@lru_cache(maxsize=100_000)
def _synset_lemmas(lex, sense_key: str) -> tuple[str, ...]:
    return tuple(lex.synset(sense_key).lemma_names())


def synonyms(lex, sense_key: str, lemma: str) -> list[str]:
    """Single-word, lower-case lemmas of the sense's synset other than `lemma`, in WordNet order
    (which lists a synset's most frequent lemma first)."""
    return [name for name in _synset_lemmas(lex, sense_key)
            if name.isalpha() and name.islower() and name != lemma.lower()]


def related_lemmas(lex, sense_key: str, lemma: str) -> list[str]:
    """Single-word, lower-case lemmas of the sense's more general synsets: hypernyms (and instance
    hypernyms) of nouns and verbs, "similar to" synsets of adjectives; none for adverbs."""
    synset = lex.synset(sense_key)
    related = in_wordnet_order(synset.hypernyms() + synset.instance_hypernyms() + synset.similar_tos())
    names = dict.fromkeys(name for other in related for name in other.lemma_names())
    return [name for name in names if name.isalpha() and name.islower() and name != lemma.lower()]


def narrower_lemmas(lex, sense_key: str, lemma: str) -> list[str]:
    """Single-word, lower-case lemmas of a noun or verb sense's hyponyms (and instances), the word
    with the most SemCor tags over all its senses of that POS first (a stable sort of WordNet order,
    so ties keep it); none for adjectives and adverbs."""
    synset = lex.synset(sense_key)
    if synset.pos() not in ("n", "v"):
        return []
    narrower = in_wordnet_order(synset.hyponyms() + synset.instance_hyponyms())
    names = dict.fromkeys(name for other in narrower for name in other.lemma_names()
                          if name.isalpha() and name.islower() and name != lemma.lower())
    pos = "NOUN" if synset.pos() == "n" else "VERB"
    return sorted(names, key=lambda name: -sum(s.tag_count for s in lex.senses(name, pos)))


#: relation -> the candidate replacements of a word's sense, in the order the spinner tries them.
_CANDIDATES = {"synonym": synonyms, "hypernym": related_lemmas, "hyponym": narrower_lemmas}
RELATIONS = tuple(_CANDIDATES)


def apply_substitutions(text: str, substitutions: list[Substitution]) -> str:
    return replace_spans(text, [(s.start, s.end, s.replacement) for s in substitutions])


def spin_tagger(sentences: int | None = None):
    """The SemCor POS tagger: the project's cached full tagger, or (`sentences` = n) a quicker one
    trained on the first n SemCor sentences, cached under its own name."""
    if sentences is None:
        return load_tagger()
    from cohesive.wsd.tagger import tagger_file

    path = tagger_file().with_name(f"semcor_perceptron-{sentences}.json")
    return load_tagger(Path(path), max_sentences=sentences)
