"""Writing a replacement word into a text: in the inflection and case of the word it replaces, and
which entries of a tokenizer's vocabulary are whole words that can be one.

Shared by the spinners, the mask-and-fill generator and the word-level detector's counterfactual
(which writes each suspicious word's WordNet relatives in its place). Only lemminflect is
imported here, so `cohesive detect` does not load the spinner's tagger, WordNet or scikit-learn.
"""

from __future__ import annotations

from functools import lru_cache

import lemminflect

#: The parts of speech WordNet has and the spinners change, in the order their lemmas are looked up.
CONTENT_POS = ("NOUN", "VERB", "ADJ", "ADV")
#: Penn tags to try, in this order, when recognising which inflection a word is (base forms first).
_TAG_ORDER = ("NN", "NNS", "VB", "VBP", "VBZ", "VBG", "VBD", "VBN", "JJ", "JJR", "JJS", "RB", "RBR", "RBS")
_BASE_TAGS = {"NN", "VB", "VBP", "JJ", "RB"}
WORD_START_MARKERS = ("\u0120", "\u2581")  # byte-level BPE `Ġ`, SentencePiece `▁`


@lru_cache(maxsize=100_000)
def inflection_tag(word: str, lemma: str, pos: str) -> str | None:
    """The Penn tag of the inflection a lower-case `word` has for `lemma` (None if unknown). Cached:
    lemminflect copies its whole table of forms on every call, and the counterfactual asks the same
    question for each of a word's WordNet relatives."""
    forms = lemminflect.getAllInflections(lemma, upos=pos) or lemminflect.getAllInflectionsOOV(lemma, upos=pos)
    return next((t for t in _TAG_ORDER if word in forms.get(t, ())), None)


def inflect_like(word: str, lemma: str, synonym: str, pos: str) -> str | None:
    """`synonym` in the inflection that `word` has for `lemma` (None if that inflection is unknown)."""
    lower = word.lower()
    tag = inflection_tag(lower, lemma, pos)
    if tag is None:
        return synonym if lower == lemma.lower() else None
    if tag in _BASE_TAGS:
        return synonym
    return _inflection(synonym, tag)


@lru_cache(maxsize=100_000)
def _inflection(lemma: str, tag: str) -> str | None:
    """`lemma` in the inflection `tag` (cached: lemminflect copies its table of forms on every call)."""
    inflected = lemminflect.getInflection(lemma, tag=tag)
    return inflected[0] if inflected else None


def match_case(original: str, new: str) -> str | None:
    """`new` cased like `original` (lower, Title or UPPER); None for mixed case such as `iPhone`."""
    if original.islower():
        return new.lower()
    if original.isupper() and len(original) > 1:
        return new.upper()
    if original[0].isupper() and (len(original) == 1 or original[1:].islower()):
        return new[0].upper() + new[1:].lower()
    return None


def replace_spans(text: str, replacements: list[tuple[int, int, str]]) -> str:
    """Rebuild `text` with each (start, end) span replaced; offsets refer to the original text."""
    parts, position = [], 0
    for start, end, replacement in sorted(replacements):
        parts += [text[position:start], replacement]
        position = end
    return "".join(parts) + text[position:]


def word_tokens(tokenizer) -> dict[int, str]:
    """Vocabulary entries that are a whole alphabetic word: WordPiece tokens without `##`, or, in
    byte-level-BPE and SentencePiece vocabularies, tokens that start a word (`Ġ`, `▁`). Single
    letters other than `a` and `I` are clitic pieces (`s`, `t`), not words."""
    vocab = tokenizer.get_vocab()
    special = set(tokenizer.all_special_ids)
    marked = any(token.startswith(WORD_START_MARKERS) for token in vocab)
    words = {}
    for token, index in vocab.items():
        if index in special or (marked and not token.startswith(WORD_START_MARKERS)):
            continue
        word = token[1:] if marked else token
        if word.isalpha() and (len(word) > 1 or word.lower() in ("a", "i")):
            words[index] = word
    return words
