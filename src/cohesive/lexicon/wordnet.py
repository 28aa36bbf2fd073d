"""WordNet 3.0 senses: candidates for a (lemma, POS) in WordNet order, and lookup by sense key.

Sense keys, sense numbers and tag counts come straight from `index.sense` (no NLTK key
reconstruction, whose adjective-satellite handling has had bugs); NLTK reads the synsets.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import nltk
from nltk.corpus.reader import WordNetCorpusReader

from cohesive.errors import CohesiveError
from cohesive.lexicon.locate import locate_wordnet

#: Sense-key `ss_type` digit -> WordNet POS letter (5 = adjective satellite, stored in data.adj).
SS_TYPE_POS = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "s"}
#: Raganato / universal POS tags (and WordNet letters) -> WordNet POS letter.
POS_TO_WN = {"NOUN": "n", "VERB": "v", "ADJ": "a", "ADV": "r", "n": "n", "v": "v", "a": "a", "s": "a", "r": "r"}
WN_TO_POS = {"n": "NOUN", "v": "VERB", "a": "ADJ", "s": "ADJ", "r": "ADV"}


class UnknownPosError(CohesiveError):
    """A POS tag that WordNet has no senses for."""


class UnknownSenseKeyError(CohesiveError):
    """A sense key that is not in WordNet 3.0."""


def wordnet_pos(pos: str) -> str:
    """`NOUN`/`n` -> `n`; satellites (`s`) fold into adjectives, as in WordNet's index files."""
    try:
        return POS_TO_WN[pos]
    except KeyError:
        raise UnknownPosError(f"unknown POS {pos!r}; expected one of NOUN, VERB, ADJ, ADV (or n, v, a, r)") from None


def key_pos(sense_key: str) -> str:
    """The WordNet POS letter of a sense key (`bank%1:14:00::` -> `n`; `%5` satellites -> `a`)."""
    try:
        return wordnet_pos(SS_TYPE_POS[sense_key.split("%", 1)[1][0]])
    except (IndexError, KeyError):
        raise UnknownSenseKeyError(f"{sense_key!r} is not a WordNet sense key") from None


@dataclass(frozen=True)
class Sense:
    """One WordNet sense of a lemma: the unit WSD predicts."""

    key: str
    lemma: str
    pos: str  # n, v, a, r (satellites as a)
    number: int  # WordNet sense number of this lemma (1 = first sense)
    tag_count: int  # SemCor-derived frequency from index.sense
    synset: str  # NLTK name, e.g. bank.n.02
    offset: int
    gloss: str
    examples: tuple[str, ...]


class _WordNet30Reader(WordNetCorpusReader):
    """NLTK's reader without the cross-version synset mapping (used only for multilingual data),
    which re-reads index.sense and costs ~10 s at start-up."""

    def map_wn(self, version="wordnet"):
        return None


class Lexicon:
    """WordNet 3.0 as WSD needs it. Build once per process with :func:`lexicon`."""

    def __init__(self, folder: Path):
        data_root = str(folder.parent.parent)
        if data_root not in nltk.data.path:
            nltk.data.path.insert(0, data_root)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "multilingual functions are not available": not needed
            self.wn = _WordNet30Reader(str(folder), None)
        self.folder = folder
        self._index: dict[str, tuple[int, int, int]] = {}
        self._by_lemma: dict[tuple[str, str], list[str]] = defaultdict(list)
        self._read_sense_index(folder / "index.sense")

    def _read_sense_index(self, path: Path) -> None:
        """index.sense lines: `sense_key synset_offset sense_number tag_cnt`."""
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                key, offset, number, count = line.split()
                self._index[key] = (int(offset), int(number), int(count))
                self._by_lemma[(key.split("%", 1)[0], key_pos(key))].append(key)
        for keys in self._by_lemma.values():
            keys.sort(key=lambda k: self._index[k][1])

    def senses(self, lemma: str, pos: str) -> list[Sense]:
        """All senses of `lemma` with `pos`, in WordNet sense order (empty if WordNet lacks the lemma)."""
        return [self.sense(k) for k in self._by_lemma.get((normalise_lemma(lemma), wordnet_pos(pos)), [])]

    def tag_count(self, lemma: str, pos: str) -> int:
        """SemCor tags of `lemma` with `pos` over all its senses, from `index.sense` alone (no synset read)."""
        keys = self._by_lemma.get((normalise_lemma(lemma), wordnet_pos(pos)), [])
        return sum(self._index[key][2] for key in keys)

    def lemmas(self, pos: str) -> list[str]:
        """Every lemma with a sense of `pos`, sorted."""
        letter = wordnet_pos(pos)
        return sorted(lemma for lemma, p in self._by_lemma if p == letter)

    def has_sense(self, sense_key: str) -> bool:
        return sense_key in self._index

    @cache
    def sense(self, sense_key: str) -> Sense:
        """The sense behind a WordNet 3.0 sense key (adjective satellites included)."""
        if sense_key not in self._index:
            raise UnknownSenseKeyError(f"sense key {sense_key!r} is not in WordNet 3.0")
        offset, number, count = self._index[sense_key]
        synset = self.synset(sense_key)
        return Sense(
            key=sense_key,
            lemma=sense_key.split("%", 1)[0],
            pos=key_pos(sense_key),
            number=number,
            tag_count=count,
            synset=synset.name(),
            offset=offset,
            gloss=synset.definition(),
            examples=tuple(synset.examples()),
        )

    def synset(self, sense_key: str):
        """The NLTK synset of a sense key (for relations such as hypernyms)."""
        offset = self._index[sense_key][0]
        file_pos = SS_TYPE_POS[sense_key.split("%", 1)[1][0]]
        return self.wn.synset_from_pos_and_offset("a" if file_pos == "s" else file_pos, offset)

    def lemmatise(self, word: str, pos: str) -> str | None:
        """WordNet's morphology (morphy): the base form of `word` for `pos`, if WordNet knows one."""
        return self.wn.morphy(word.lower().replace(" ", "_"), wordnet_pos(pos))


def in_wordnet_order(synsets) -> list:
    """Synsets sorted by part of speech and file offset. NLTK returns a synset's relations
    (hypernyms, hyponyms, similar-to...) in the order of a Python set, which changes with the
    process's string-hash seed; anything that picks or truncates among them must sort first to
    give the same answer in every run."""
    return sorted(synsets, key=lambda synset: (synset.pos(), synset.offset()))


def normalise_lemma(lemma: str) -> str:
    """WordNet index form: lower case, spaces as underscores."""
    return lemma.strip().lower().replace(" ", "_")


@cache
def lexicon(path: str | None = None) -> Lexicon:
    """The process-wide lexicon (WordNet located as described in :mod:`cohesive.lexicon.locate`)."""
    return Lexicon(locate_wordnet(path))
