"""WordNet 3.0 as a lexical knowledge base (senses, glosses, sense keys)."""

from cohesive.lexicon.locate import locate_wordnet
from cohesive.lexicon.wordnet import Lexicon, Sense, in_wordnet_order, key_pos, lexicon, wordnet_pos

__all__ = ["Lexicon", "Sense", "in_wordnet_order", "key_pos", "lexicon", "locate_wordnet", "wordnet_pos"]
