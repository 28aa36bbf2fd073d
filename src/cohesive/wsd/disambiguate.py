"""Raw-text WSD: `disambiguate("He sat on the bank of the river")` -> one WordNet sense per content word.

Pipeline: regex tokens -> SemCor-trained POS tags -> WordNet lemma (morphy) for nouns, verbs,
adjectives and adverbs that WordNet knows -> a trained cross- or bi-encoder picks the sense.
Words WordNet does not know (names, misspellings) are not content words here and are skipped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from cohesive.corpora.raganato import Sentence, Token
from cohesive.errors import CohesiveError
from cohesive.lexicon import lexicon
from cohesive.lexicon.wordnet import Lexicon
from cohesive.wsd.inference import MODEL_ENV, Predictor, default_model, load_predictor, sentence_instances
from cohesive.wsd.tagger import load_tagger, split_sentences, tokenize
from cohesive.wsd.types import Prediction

CONTENT_POS = ("NOUN", "VERB", "ADJ", "ADV")


@dataclass(frozen=True)
class SenseTag:
    """One disambiguated content word; `start`/`end` are character offsets in the input text. The
    runner-up is the second most likely sense (None for a lemma with a single sense)."""

    token: str
    start: int
    end: int
    lemma: str
    pos: str
    key: str
    synset: str
    gloss: str
    probability: float
    runner_up_key: str | None = None
    runner_up_synset: str | None = None
    runner_up_gloss: str | None = None
    runner_up_probability: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def disambiguate(text: str, model: str | Path | Predictor | None = None, tagger=None,
                 progress: bool = False) -> list[SenseTag]:
    """Sense of every content word of `text` (model: a trained model folder, a loaded predictor, or
    None for `$COHESIVE_WSD_MODEL`, else the model shipped with the package); `progress` shows bars
    for long documents. A text without content words gives an empty list."""
    if not text or not text.strip():
        raise CohesiveError("empty text: nothing to disambiguate")
    predictor = model if hasattr(model, "predict") else _load(str(_model_dir(model)))
    lex = lexicon()
    tagger = tagger or load_tagger()
    sentences = [_sentence(n, spans, tagger, lex) for n, spans in enumerate(split_sentences(tokenize(text)))]
    instances = [instance for sentence, _ in sentences for instance in sentence_instances(sentence)]
    answers = predictor.predict(instances, desc="disambiguate" if progress else None)
    offsets = {token.id: span for sentence, spans in sentences
               for token, span in zip(sentence.tokens, spans) if token.id}
    tags = []
    for instance in instances:
        answer, sense = answers[instance.id], lex.sense(answers[instance.id].key)
        word, start, end = offsets[instance.id]
        tags.append(SenseTag(word, start, end, instance.lemma, instance.pos, sense.key, sense.synset, sense.gloss,
                             round(answer.probability, 4), *_runner_up(answer, lex)))
    return tags


def _runner_up(answer: Prediction, lex: Lexicon) -> tuple:
    """Key, synset, gloss and probability of the second-best sense (all None when there is none)."""
    if answer.runner_up is None:
        return None, None, None, None
    sense = lex.sense(answer.runner_up)
    return sense.key, sense.synset, sense.gloss, round(answer.runner_up_probability, 4)


def _sentence(number: int, spans: list, tagger, lex: Lexicon) -> tuple[Sentence, list]:
    """Tagged, lemmatised tokens; content words that WordNet knows become instances."""
    words = [word for word, _, _ in spans]
    tokens = []
    for index, (word, pos) in enumerate(tagger.tag(words)):
        lemma = content_lemma(lex, word, pos)
        tokens.append(Token(word, lemma or word, pos, f"s{number}.t{index}" if lemma else None))
    return Sentence(f"s{number}", "text", tokens), spans


def content_lemma(lex: Lexicon, word: str, pos: str) -> str | None:
    """WordNet's base form of a noun, verb, adjective or adverb, if WordNet has senses for it."""
    if pos not in CONTENT_POS or not any(c.isalpha() for c in word):
        return None
    lemma = lex.lemmatise(word, pos)
    return lemma if lemma and lex.senses(lemma, pos) else None


def _model_dir(model: str | Path | None) -> Path:
    directory = Path(model) if model else default_model()
    if not directory.is_dir():
        raise CohesiveError(f"no trained WSD model at {directory}: pass model=DIR or set ${MODEL_ENV} to a folder "
                            "written by `cohesive wsd train`")
    return directory


@lru_cache(maxsize=2)
def _load(directory: str) -> Predictor:
    return load_predictor(directory)
