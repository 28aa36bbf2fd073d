"""Raw text -> tokens and universal POS tags, with no downloadable NLTK data.

Tokens come from a regular expression close to SemCor's (Penn Treebank-style) conventions: clitics
(`n't`, `'s`, `'ll` ...) split off, punctuation apart. Tags come from NLTK's averaged perceptron
trained on SemCor's own POS annotations (the universal tag set that the Raganato framework uses:
NOUN, VERB, ADJ, ADV, ...). Words of SemCor's multi-word units (`took place`) are all given the
unit's tag.

A compact tagger trained on all of SemCor ships with the package (`pretrained/pos/`, see its
README): `load_tagger()` reads it, no training. Rebuild it with
`python -m cohesive.wsd.tagger --output src/cohesive/pretrained/pos/semcor-perceptron.json.gz`.
Taggers are stored as JSON (no pickle): plain JSON (format 1, float weights, the old cache files)
or, for `*.gz` paths, gzip-compressed compact JSON (format 2, see `encode_compact`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import random
import re
import sys
import time
import zlib
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from cohesive.atomic import write_bytes
from cohesive.errors import CohesiveError
from cohesive.lexicon.locate import cache_dir

if TYPE_CHECKING:
    from nltk.tag.perceptron import PerceptronTagger

log = logging.getLogger(__name__)
TAGGER_FORMAT = 1  # plain JSON: NLTK's {feature: {tag: weight}} as is
COMPACT_FORMAT = 2  # gzip JSON: sorted feature list, integer weights (see `encode_compact`)
SHIPPED_TAGGER = Path(__file__).resolve().parent.parent / "pretrained" / "pos" / "semcor-perceptron.json.gz"
SHIPPED_ITERATIONS = 3
SHIPPED_MIN_WEIGHT = 0.5  # |averaged weight| below this is dropped
SHIPPED_DECIMALS = 1  # weights kept to one decimal
_REBUILD = "python -m cohesive.wsd.tagger --output src/cohesive/pretrained/pos/semcor-perceptron.json.gz"
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
    """Where custom (retrained) taggers are cached; `load_tagger()` itself reads the shipped one."""
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
    tagger = _empty_tagger()
    state = random.getstate()
    random.seed(seed)
    try:
        tagger.train(sentences, nr_iter=iterations)
    finally:
        random.setstate(state)
    return tagger


def _empty_tagger() -> PerceptronTagger:
    """An untrained NLTK perceptron (imported here: `tokenize` users, such as `cohesive detect`, need
    no tagger, and NLTK's import costs them ~1.5 s)."""
    from nltk.tag.perceptron import PerceptronTagger

    return PerceptronTagger(load=False)


def pos_accuracy(tagger: PerceptronTagger, sentences: Iterable[list[tuple[str, str]]]) -> tuple[float, int]:
    """(Share of words tagged with their gold tag, number of words) over (word, tag) sentences."""
    correct = total = 0
    for sentence in sentences:
        predicted = tagger.tag([word for word, _ in sentence])
        correct += sum(guess == gold for (_, guess), (_, gold) in zip(predicted, sentence))
        total += len(sentence)
    if not total:
        raise CohesiveError("no POS-tagged words to measure the tagger on")
    return correct / total, total


def encode_compact(tagger: PerceptronTagger, min_weight: float = 0.0, decimals: int = 3) -> dict:
    """Format 2: `features` sorted; per feature, in `weights`, a bit mask over `classes` (bit i: the
    i-th class has a weight) then those weights times `scale` (= 10**decimals) as integers. Weights
    with |w| < `min_weight` (and features left without any) are dropped. NLTK rounds averaged weights
    to 3 decimals, so the defaults lose nothing."""
    if decimals < 0 or min_weight < 0:
        raise CohesiveError(f"decimals and min_weight must not be negative, got {decimals} and {min_weight}")
    classes = sorted(tagger.classes)
    index = {tag: i for i, tag in enumerate(classes)}
    scale = 10**decimals
    features, weights = [], []
    for feature in sorted(tagger.model.weights):
        kept = sorted((index[tag], round(w * scale)) for tag, w in tagger.model.weights[feature].items()
                      if abs(w) >= min_weight)
        kept = [(i, w) for i, w in kept if w]
        if kept:
            features.append(feature)
            weights.append(sum(1 << i for i, _ in kept))
            weights += [w for _, w in kept]
    return {"format": COMPACT_FORMAT, "classes": classes, "tagdict": tagger.tagdict, "scale": scale,
            "min_weight": min_weight, "features": features, "weights": weights}


def decode_compact(data: dict) -> PerceptronTagger:
    classes, scale, flat = data["classes"], data["scale"], data["weights"]
    if not isinstance(scale, int) or scale < 1 or not all(isinstance(c, str) for c in classes):
        raise ValueError("bad scale or classes")
    weights, position = {}, 0
    for feature in data["features"]:
        mask = flat[position]
        if not isinstance(mask, int) or mask < 1 or mask >> len(classes):
            raise ValueError(f"bad class mask at weight {position}")
        position += 1
        row = {}
        for i, tag in enumerate(classes):
            if mask >> i & 1:
                row[tag] = flat[position] / scale
                position += 1
        weights[feature] = row
    if position != len(flat):
        raise ValueError(f"{len(flat) - position} weights left over")
    tagger = _empty_tagger()
    tagger.decode_json_params((weights, dict(data["tagdict"]), classes))
    return tagger


def save_tagger(tagger: PerceptronTagger, path: Path, min_weight: float = 0.0, decimals: int = 3, **about) -> Path:
    """Written atomically, as JSON (no pickle): compact gzip JSON (format 2, pruned/rounded by
    `min_weight`/`decimals`) when `path` ends in `.gz`, else plain JSON (format 1, as is)."""
    path = Path(path)
    if path.name.endswith(".gz"):
        data = {**encode_compact(tagger, min_weight, decimals), **about}
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        return write_bytes(path, gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
    weights, tagdict, classes = tagger.encode_json_obj()
    data = {"format": TAGGER_FORMAT, **about, "classes": sorted(classes), "tagdict": tagdict, "weights": weights}
    return write_bytes(path, json.dumps(data).encode("utf-8"))


def read_tagger(path: Path) -> PerceptronTagger:
    """A tagger saved by `save_tagger` (either format; gzip is recognised by its magic bytes)."""
    path = Path(path)
    fix = f"rebuild it with `{_REBUILD}` or reinstall cohesive" if path.absolute() == SHIPPED_TAGGER else "delete it to retrain"
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        version = data.get("format", TAGGER_FORMAT)
        if version == COMPACT_FORMAT:
            return decode_compact(data)
        if version != TAGGER_FORMAT:
            raise ValueError(f"unknown format {version!r}")
        tagger = _empty_tagger()
        tagger.decode_json_params((data["weights"], data["tagdict"], data["classes"]))
        return tagger
    except (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise CohesiveError(f"{path}: unreadable POS tagger ({reason}); {fix}") from None


@lru_cache(maxsize=4)
def load_tagger(path: Path | None = None, max_sentences: int | None = None, iterations: int = 3) -> PerceptronTagger:
    """No arguments: the tagger shipped with the package (read, never trained). With `path` (or
    `max_sentences`, cached as `semcor_perceptron-N.json` next to `tagger_file()`): read that file,
    or, when absent, train on (the first `max_sentences` of) SemCor and save it there."""
    if path is None and max_sentences is None:
        if not SHIPPED_TAGGER.is_file():
            raise CohesiveError(f"the shipped POS tagger {SHIPPED_TAGGER} is missing; rebuild it with `{_REBUILD}`")
        return read_tagger(SHIPPED_TAGGER)
    path = Path(path) if path is not None else tagger_file().with_name(f"semcor_perceptron-{max_sentences}.json")
    if path.is_file():
        return read_tagger(path)
    log.info("training the POS tagger on SemCor (once; cached at %s)", path)
    sentences = list(tqdm(islice(semcor_tagged(), max_sentences), desc="SemCor POS", unit=" sent", disable=None))
    tagger = train_tagger(sentences, iterations)
    save_tagger(tagger, path, source="semcor", sentences=len(sentences), iterations=iterations)
    return tagger


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cohesive.wsd.tagger",
        description="Train the SemCor POS tagger, save it compactly (gzip JSON) and report its accuracy on "
                    "the framework's gold POS tags. Data: $COHESIVE_DATA (default ./data).")
    parser.add_argument("--output", type=Path, required=True, help="file to write (*.json.gz: compact; *.json: plain)")
    parser.add_argument("--iterations", type=int, default=SHIPPED_ITERATIONS, help="perceptron passes over SemCor")
    parser.add_argument("--min-weight", type=float, default=SHIPPED_MIN_WEIGHT,
                        help="drop weights whose absolute value is below this (compact files only)")
    parser.add_argument("--decimals", type=int, default=SHIPPED_DECIMALS, help="decimals kept per weight (compact files only)")
    parser.add_argument("--sentences", type=int, default=None, help="train on the first N SemCor sentences only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval", default="ALL", help="framework set whose gold POS tags measure accuracy (default ALL)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        build(args)
    except CohesiveError as exc:
        print(f"cohesive: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


def build(args: argparse.Namespace) -> None:
    from cohesive.paths import semcor_prefix, wsd_prefix

    if args.iterations < 1 or (args.sentences is not None and args.sentences < 1):
        raise CohesiveError("--iterations and --sentences must be positive")
    evaluation = list(semcor_tagged(wsd_prefix(args.eval)))  # fails early on missing data
    start = time.perf_counter()
    sentences = list(islice(semcor_tagged(semcor_prefix()), args.sentences))
    full = train_tagger(sentences, args.iterations, args.seed)
    trained = time.perf_counter() - start
    about = {"source": "SemCor 3.0 (Raganato et al. 2017 framework)", "sentences": len(sentences),
             "iterations": args.iterations, "seed": args.seed}
    try:
        path = save_tagger(full, args.output, min_weight=args.min_weight, decimals=args.decimals, **about)
    except OSError as exc:
        raise CohesiveError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    saved = read_tagger(path)
    full_accuracy, words = pos_accuracy(full, evaluation)
    saved_accuracy, _ = pos_accuracy(saved, evaluation)
    print(f"trained on {len(sentences):,} SemCor sentences ({args.iterations} iterations) in {trained:.0f} s")
    print(f"wrote {path}: {path.stat().st_size:,} bytes; {_count(saved):,} weights on {len(saved.model.weights):,} "
          f"features (full tagger: {_count(full):,} on {sum(1 for row in full.model.weights.values() if row):,})")
    print(f"POS accuracy on {args.eval} ({words:,} words): full {100 * full_accuracy:.2f}%, "
          f"saved {100 * saved_accuracy:.2f}%")


def _count(tagger: PerceptronTagger) -> int:
    return sum(len(row) for row in tagger.model.weights.values())


if __name__ == "__main__":
    sys.exit(main())
