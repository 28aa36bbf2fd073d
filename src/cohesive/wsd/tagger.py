"""Raw text -> tokens and universal POS tags, with no downloadable NLTK data.

Tokens come from a regular expression close to SemCor's (Penn Treebank-style) conventions: clitics
(`n't`, `'s`, `'ll` ...) split off, punctuation apart. Tags come from NLTK's averaged perceptron
trained offline on SemCor's own POS annotations (the universal tag set that the Raganato
framework uses: NOUN, VERB, ADJ, ADV, ...), cached as JSON under the cache directory. Words of
SemCor's multi-word units (`took place`) are all given the unit's tag.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Iterator
from functools import lru_cache
from itertools import islice
from pathlib import Path

from nltk.tag.perceptron import PerceptronTagger
from tqdm import tqdm

from cohesive.errors import CohesiveError
from cohesive.lexicon.locate import cache_dir

log = logging.getLogger(__name__)
TAGGER_FORMAT = 1
_TOKEN = re.compile(r"""
      [A-Za-z]+(?=n't\b)            # do|n't, does|n't
    | n't\b
    | '(?:s|re|ve|ll|d|m)\b         # clitics
    | \d+(?:[.,:]\d+)*              # numbers, times
    | \w+(?:-\w+)*                  # words, hyphenated compounds
    | \S                            # any other character is a token
""", re.VERBOSE | re.IGNORECASE)
_SENTENCE_END = {".", "!", "?"}

Span = tuple[str, int, int]  # token text, start and end character


def tokenize(text: str) -> list[Span]:
    """Tokens with their character offsets in `text`."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def split_sentences(tokens: list[Span]) -> list[list[Span]]:
    """Sentences end after `.`, `!` or `?` (the model only needs a reasonable context window)."""
    sentences, current = [], []
    for token in tokens:
        current.append(token)
        if token[0] in _SENTENCE_END:
            sentences.append(current)
            current = []
    return sentences + [current] if current else sentences


def tagger_file() -> Path:
    return cache_dir() / "pos" / "semcor_perceptron.json"


def semcor_tagged(prefix: str | Path | None = None) -> Iterator[list[tuple[str, str]]]:
    """SemCor sentences as (word, universal tag) lists; multi-word units split into words."""
    from cohesive.corpora.raganato import read_sentences
    from cohesive.paths import semcor_prefix

    for sentence in read_sentences(prefix or semcor_prefix()):
        yield [(word, token.pos) for token in sentence.tokens for word in token.text.split() if token.pos]


def train_tagger(sentences: list[list[tuple[str, str]]], iterations: int = 5, seed: int = 0) -> PerceptronTagger:
    """An averaged perceptron trained on `sentences` (NLTK shuffles with `random`: seeded, then restored)."""
    if not sentences:
        raise CohesiveError("no POS-tagged sentences to train the tagger on")
    tagger = PerceptronTagger(load=False)
    state = random.getstate()
    random.seed(seed)
    try:
        tagger.train(sentences, nr_iter=iterations)
    finally:
        random.setstate(state)
    return tagger


def save_tagger(tagger: PerceptronTagger, path: Path, **about) -> None:
    """JSON (no pickle), written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    weights, tagdict, classes = tagger.encode_json_obj()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"format": TAGGER_FORMAT, **about, "classes": sorted(classes), "tagdict": tagdict,
                               "weights": weights}))
    tmp.replace(path)


def read_tagger(path: Path) -> PerceptronTagger:
    try:
        data = json.loads(path.read_text())
        tagger = PerceptronTagger(load=False)
        tagger.decode_json_params((data["weights"], data["tagdict"], data["classes"]))
    except (OSError, ValueError, KeyError) as exc:
        raise CohesiveError(f"{path}: unreadable POS tagger ({exc}); delete it to retrain") from None
    return tagger


@lru_cache(maxsize=4)
def load_tagger(path: Path | None = None, max_sentences: int | None = None, iterations: int = 3) -> PerceptronTagger:
    """The cached SemCor tagger; when absent, trained on all of SemCor (~4 min on 2 cores, once) and saved."""
    path = Path(path) if path is not None else tagger_file()
    if path.is_file():
        return read_tagger(path)
    log.info("training the POS tagger on SemCor (once; cached at %s)", path)
    sentences = list(tqdm(islice(semcor_tagged(), max_sentences), desc="SemCor POS", unit=" sent", disable=None))
    tagger = train_tagger(sentences, iterations)
    save_tagger(tagger, path, source="semcor", sentences=len(sentences), iterations=iterations)
    return tagger
