"""WordNet 3.0 as a lexical knowledge base (senses, glosses, sense keys).

The names below are loaded on first use: importing `cohesive.lexicon.locate` (the cache folder,
WordNet's location) must not import NLTK (~1.5 s), which `cohesive detect` never needs.
"""

import importlib

_HOMES = {"locate_wordnet": "locate", **dict.fromkeys(
    ("Lexicon", "Sense", "in_wordnet_order", "key_pos", "lexicon", "wordnet_pos"), "wordnet")}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
