"""What the word-level detector asks WordNet about every word, precomputed once per machine.

The token head reads a few lexical and frequency statistics of each word (`LEXICAL_FEATURES`,
`FREQUENCY_FEATURES`) and the counterfactual swaps suspicious words for their WordNet relatives.
NLTK takes about 7 s to load WordNet's indexes and a few milliseconds per new word to read its
synsets, which made these lookups most of `cohesive detect`'s time. They depend on the word alone,
so they are computed once for every word form NLTK's morphology (`morphy`: one suffix rule or an
exception list) can map to a WordNet lemma, about 224,000 forms, and stored in a SQLite table under
the cache folder (`word_table`, about a minute, once per machine). A form outside the table has no
WordNet lemma for any part of speech, so its statistics are those of an unknown word and need no
WordNet at all. The table is keyed by TABLE_VERSION, the nltk, wordfreq and scikit-learn versions
and an explicit `$WORDNET_DIR` (`table_path`); where it cannot be written the same values are
computed from WordNet directly.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

log = logging.getLogger(__name__)

LEXICAL_FEATURES = ("in_wordnet", "log_count", "log_best_synonym_count", "synonym_count_gap", "log_synonyms",
                    "stop_word", "log_pieces")
#: With `frequency_features`: the word's Zipf frequency in general English (`wordfreq`: Wikipedia,
#: subtitles, news, books, web), its lemma's, the most frequent WordNet synonym's and relative's
#: (hypernyms, up to 20 hyponyms) and their gaps to the lemma. SemCor counts are zero for most
#: technical words; multi-register frequencies keep "a rare word where a common relative fits" meaningful
#: outside Brown-corpus prose.
FREQUENCY_FEATURES = ("zipf", "zipf_lemma", "zipf_synonym", "zipf_synonym_gap", "zipf_relative", "zipf_relative_gap")
MAX_HYPONYMS = 20
TABLE_VERSION = 1


@dataclass(frozen=True)
class LemmaFacts:
    """What the features need of one WordNet lemma with one part of speech."""

    pos: str  # NOUN, VERB, ADJ, ADV
    lemma: str
    tag_count: int  # SemCor tags over all its senses
    synonyms: frozenset[str]  # single-word synonyms of any sense
    best_synonym_count: int  # the most SemCor tags any of them has with this POS
    lemma_zipf: float
    synonym_zipf: float  # the most frequent synonym's Zipf frequency (0 if none)
    relative_zipf: float  # the most frequent hypernym's or hyponym's (up to MAX_HYPONYMS per sense)
    relatives: tuple[str, ...]  # lower-case single-word lemmas a spinner could have replaced by this word, in order


# --- the features: from the table, else from WordNet --------------------------------------------


def lexical_features(word: str) -> tuple[float, ...]:
    """LEXICAL_FEATURES of a word but the last (its word pieces, counted per window): WordNet membership, SemCor
    tag count of its lemma, the largest count among its single-word synonyms (any sense, same POS),
    their log gap, the number of synonyms and whether it is a stop word."""
    return _known(word)[0]


def frequency_features(word: str) -> tuple[float, ...]:
    """FREQUENCY_FEATURES of a word (zeros but its own frequency for a word WordNet does not know)."""
    return _known(word)[1]


def wordnet_relatives(observed: str) -> tuple[str, ...]:
    """WordNet lemmas sharing a synset with the observed word, of its more general synsets ("similar
    to" for adjectives) or of up to MAX_HYPONYMS more specific ones per sense, inflected like it and
    written as one word: the words a synonym, hypernym or hyponym spinner could have replaced by it."""
    return inflected_relatives(observed, _lemmas_of(observed))


@functools.lru_cache(maxsize=200_000)
def _known(word: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    table = word_table()
    stop_words = english_stop_words() if table is None else table.stop_words
    if not word.isalpha():
        return features_from(word, (), stop_words)
    if table is None:
        return features_from(word, word_lemma_facts(word), stop_words)
    stored = table.features(word.lower())
    if stored is None:  # outside the table: no WordNet lemma
        return features_from(word, (), stop_words)
    return stored[0] + (float(word.lower() in stop_words),), stored[1]


@functools.lru_cache(maxsize=200_000)
def _lemmas_of(word: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """(POS, lemma, relatives) of each WordNet lemma of the word."""
    table = word_table()
    if table is not None and word.isalpha():
        return table.lemmas(word.lower())
    return tuple((f.pos, f.lemma, f.relatives) for f in word_lemma_facts(word))


def features_from(word: str, facts: tuple[LemmaFacts, ...], stop_words: frozenset[str]) -> tuple[tuple[float, ...], ...]:
    """(LEXICAL_FEATURES but the last, FREQUENCY_FEATURES) of a word whose WordNet lemmas are `facts`."""
    from wordfreq import zipf_frequency

    lower = word.lower()
    own_zipf = zipf_frequency(lower, "en") if word.isalpha() else 0.0
    own = max((f.tag_count for f in facts), default=0)
    best = max((f.best_synonym_count for f in facts), default=0)
    synonyms = frozenset().union(*(f.synonyms for f in facts))
    lexical = (float(bool(facts)), math.log1p(own), math.log1p(best), math.log1p(best) - math.log1p(own),
               math.log1p(len(synonyms)), float(lower in stop_words))
    lemma_zipf = max([own_zipf, *(f.lemma_zipf for f in facts)])
    synonym = max((f.synonym_zipf for f in facts), default=0.0)
    relative = max((f.relative_zipf for f in facts), default=0.0)
    best_zipf = max(synonym, relative)
    return lexical, (own_zipf, lemma_zipf, synonym, synonym - lemma_zipf, best_zipf, best_zipf - lemma_zipf)


def english_stop_words() -> frozenset[str]:
    """The `stop_word` feature's list: scikit-learn's English stop words (stored in the table too,
    so that `detect` need not import scikit-learn)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return ENGLISH_STOP_WORDS


def word_lemma_facts(word: str) -> tuple[LemmaFacts, ...]:
    """The word's WordNet lemma (by `morphy`) for each part of speech that has one with senses."""
    from cohesive.lexicon import lexicon
    from cohesive.paraphrase.wordedit import CONTENT_POS

    lex, lower = lexicon(), word.lower()
    lemmas = ((pos, lex.lemmatise(lower, pos)) for pos in CONTENT_POS)
    return tuple(facts for pos, lemma in lemmas if lemma and (facts := lemma_facts(lemma, pos)) is not None)


@functools.lru_cache(maxsize=200_000)
def lemma_facts(lemma: str, pos: str) -> LemmaFacts | None:
    """The LemmaFacts of a WordNet lemma (None when it has no sense with this POS)."""
    from wordfreq import zipf_frequency

    from cohesive.lexicon import in_wordnet_order, lexicon

    lex = lexicon()
    senses = lex.senses(lemma, pos)
    if not senses:
        return None
    synonyms, best, synonym_zipf, relative_zipf, relatives = set(), 0, 0.0, 0.0, {}
    for sense in senses:
        synset = lex.synset(sense.key)
        for name in synset.lemma_names():
            if name != lemma and name.isalpha():
                synonyms.add(name)
                best = max(best, lex.tag_count(name, pos))
                synonym_zipf = max(synonym_zipf, zipf_frequency(name, "en"))
        hypernyms, hyponyms = synset.hypernyms(), in_wordnet_order(synset.hyponyms())[:MAX_HYPONYMS]
        for other in [*hypernyms, *hyponyms]:
            for name in other.lemma_names():
                if name.isalpha():
                    relative_zipf = max(relative_zipf, zipf_frequency(name, "en"))
        for other in [synset, *in_wordnet_order(hypernyms + synset.similar_tos()), *hyponyms]:
            relatives.update(dict.fromkeys(n for n in other.lemma_names() if n.isalpha() and n.islower()))
    return LemmaFacts(pos, lemma, sum(s.tag_count for s in senses), frozenset(synonyms), best,
                      zipf_frequency(lemma.replace("_", " "), "en"), synonym_zipf, relative_zipf, tuple(relatives))


def inflected_relatives(observed: str, lemmas: tuple[tuple[str, str, tuple[str, ...]], ...]) -> tuple[str, ...]:
    """The relatives of each (POS, lemma, relatives) of the observed word, inflected and cased like it,
    one word each, first occurrence kept."""
    from cohesive.paraphrase.wordedit import inflect_like, match_case

    lower, out = observed.lower(), {}
    for pos, lemma, relatives in lemmas:
        for name in relatives:
            form = inflect_like(lower, lemma, name, pos)
            if form and form != lower and form.isalpha():
                out.setdefault(match_case(observed, form) or form, None)
    return tuple(out)


# --- the table --------------------------------------------------------------------------------------


class WordTable:
    """The precomputed facts: per word form, its features and lemmas; per lemma, its relatives."""

    def __init__(self, path: Path):
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._cache: dict[tuple[str, str], tuple[str, str, tuple[str, ...]]] = {}
        self.stop_words = frozenset(row[0] for row in self._db.execute("SELECT word FROM stop_words"))

    def features(self, lower: str) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """(LEXICAL_FEATURES but the last two, FREQUENCY_FEATURES) of a form, None if it has no WordNet lemma."""
        row = self._db.execute("SELECT * FROM forms WHERE form = ?", (lower,)).fetchone()
        return None if row is None else (tuple(row[1:6]), tuple(row[6:12]))

    def lemmas(self, lower: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        """(POS, lemma, relatives) of each WordNet lemma of a form."""
        row = self._db.execute("SELECT lemmas FROM forms WHERE form = ?", (lower,)).fetchone()
        return () if row is None else tuple(self._relatives(*entry.split(":", 1)) for entry in row[0].split())

    def _relatives(self, pos: str, lemma: str) -> tuple[str, str, tuple[str, ...]]:
        if (pos, lemma) not in self._cache:
            row = self._db.execute("SELECT relatives FROM lemmas WHERE pos = ? AND lemma = ?", (pos, lemma)).fetchone()
            self._cache[pos, lemma] = (pos, lemma, tuple(row[0].split()))
        return self._cache[pos, lemma]


@functools.cache
def word_table() -> WordTable | None:
    """The machine's word table, built on first use (None where the cache folder is not writable:
    the facts then come from WordNet word by word)."""
    path = table_path()
    if not path.is_file():
        log.info("building the word table, once per machine (about a minute): %s", path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            build_table(path, candidate_forms())
        except OSError as exc:
            log.warning("could not write the word table at %s (%s): reading WordNet word by word", path, exc)
            return None
    return WordTable(path)


def table_path() -> Path:
    """The table's file in the cache folder, named by what its contents depend on: the code
    (TABLE_VERSION, MAX_HYPONYMS), the nltk (morphy), wordfreq and scikit-learn (stop words) versions
    and an explicit `$WORDNET_DIR`. Every other source `locate_wordnet` accepts holds the same
    WordNet 3.0 files; not locating it keeps NLTK out of `detect`."""
    from cohesive.lexicon.locate import cache_dir

    stamp = [TABLE_VERSION, MAX_HYPONYMS, *(version(p) for p in ("nltk", "wordfreq", "scikit-learn")),
             os.environ.get("WORDNET_DIR")]
    return cache_dir() / "paraphrase" / f"word-table-{hashlib.sha256(repr(stamp).encode()).hexdigest()[:16]}.sqlite"


def candidate_forms() -> list[str]:
    """Every alphabetic form NLTK's `morphy` can map to a WordNet lemma with senses: the lemmas, each
    with every suffix rule of its POS undone once, and the exception lists' forms. (`morphy` applies
    one rule, never a chain: a test checks it, since the table would otherwise miss forms.)"""
    from cohesive.lexicon import lexicon

    lex = lexicon()
    forms = set()
    for pos in ("n", "v", "a", "r"):
        rules = lex.wn.MORPHOLOGICAL_SUBSTITUTIONS[pos]
        for lemma in lex.lemmas(pos):
            forms.add(lemma)
            forms.update(lemma[:len(lemma) - len(new)] + old for old, new in rules if lemma.endswith(new))
        forms.update(lex.wn._exception_map[pos])
    return sorted(f for f in forms if f.isalpha())


def build_table(path: Path, forms: list[str]) -> None:
    """Compute the facts of `forms` from WordNet and write them to a new SQLite file at `path`
    (atomically: a half-built table is never read)."""
    from tqdm.auto import tqdm

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=".word-table-", suffix=".sqlite")
    os.close(handle)
    try:
        db = sqlite3.connect(scratch)
        db.execute("CREATE TABLE forms (form TEXT PRIMARY KEY, " + ", ".join(f"f{i} REAL" for i in range(11))
                   + ", lemmas TEXT) WITHOUT ROWID")
        db.execute("CREATE TABLE lemmas (pos TEXT, lemma TEXT, relatives TEXT, PRIMARY KEY (pos, lemma)) WITHOUT ROWID")
        db.execute("CREATE TABLE stop_words (word TEXT PRIMARY KEY) WITHOUT ROWID")
        stop_words = english_stop_words()
        db.executemany("INSERT INTO stop_words VALUES (?)", ((w,) for w in sorted(stop_words)))
        lemmas = {}
        for form in tqdm(forms, desc="word table (once per machine)", unit="form", mininterval=2, disable=None):
            facts = word_lemma_facts(form)
            if facts:
                lexical, frequency = features_from(form, facts, stop_words)
                db.execute("INSERT INTO forms VALUES (?" + ", ?" * 12 + ")",
                           (form, *lexical[:5], *frequency, " ".join(f"{f.pos}:{f.lemma}" for f in facts)))
                lemmas.update({(f.pos, f.lemma): " ".join(f.relatives) for f in facts})
        db.executemany("INSERT INTO lemmas VALUES (?, ?, ?)", ((p, lemma, r) for (p, lemma), r in lemmas.items()))
        db.commit()
        db.close()
        os.chmod(scratch, 0o644)
        os.replace(scratch, path)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
