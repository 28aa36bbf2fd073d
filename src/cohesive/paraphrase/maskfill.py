"""Neural machine paraphrase by mask-and-fill (Wahle et al. 2021): mask a share of a paragraph's
words and put in each masked slot the masked LM's most probable *different* word.

Whole words are masked, one mask token per word, content words first (stop words only when the
share asks for more words than the paragraph has content words). All masks of a paragraph are
filled in one forward pass, paragraphs batched. A fill is a vocabulary entry that is a whole
alphabetic word (no `##` continuation, no special or punctuation token) and never the original
word; it takes the original's capitalisation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from cohesive.errors import CohesiveError
from cohesive.paraphrase.wordedit import WORD_START_MARKERS, match_case, replace_spans, word_tokens
from cohesive.wsd.tagger import tokenize


@dataclass(frozen=True)
class Fill:
    """One filled word: `start`/`end` are character offsets in the original text."""

    start: int
    end: int
    original: str
    replacement: str


@dataclass(frozen=True)
class Filled:
    text: str
    fills: list[Fill]


class MaskFiller:
    """`MaskFiller("runs/teachers/minilm-mlm", share=0.3).fill(texts, rngs)`."""

    def __init__(self, model: str, share: float = 0.3, passes: int = 1, batch_size: int = 8, max_length: int = 512):
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        from cohesive.models import fitting_length, load_pretrained

        if not 0 < share <= 1:
            raise CohesiveError(f"mask share must be in (0, 1], got {share}")
        if passes < 1:
            raise CohesiveError(f"mask-and-fill passes must be at least 1, got {passes}")
        self.tokenizer = load_pretrained(AutoTokenizer, model)
        if self.tokenizer.mask_token_id is None:
            raise CohesiveError(f"{model}: the tokenizer has no mask token; mask-and-fill needs a masked LM")
        self.model = load_pretrained(AutoModelForMaskedLM, model).eval()
        self.share, self.passes, self.batch_size = share, passes, batch_size
        self.max_length = fitting_length(self.model, max_length)
        size = self.model.get_output_embeddings().weight.shape[0]
        words = {i: w for i, w in word_tokens(self.tokenizer).items() if i < size}
        self.allowed = torch.zeros(size, dtype=torch.bool)
        self.allowed[list(words)] = True
        self.content = self.allowed.clone()  # content words are filled with content words
        self.content[[i for i, w in words.items() if w.lower() in ENGLISH_STOP_WORDS]] = False
        self.ids_by_word: dict[str, list[int]] = {}
        for index, word in words.items():
            self.ids_by_word.setdefault(word.lower(), []).append(index)

    def fill(self, texts: list[str], rngs: list[random.Random]) -> list[Filled]:
        """Paraphrase each text; `rngs[i]` chooses the masked words of `texts[i]`. With `passes` > 1
        the chosen words are filled in interleaved groups, each pass seeing the earlier fills."""
        chosen = [choose_words(text, self.share, rng) for text, rng in zip(texts, rngs)]
        done: list[dict[int, Fill]] = [{} for _ in texts]
        steps = [(p, b) for p in range(self.passes) for b in range(0, len(texts), self.batch_size)]
        for p, start in steps:
            end = start + self.batch_size
            groups = [spans[p::self.passes] for spans in chosen[start:end]]
            self._fill_batch(texts[start:end], groups, done[start:end])
        return [Filled(replace_spans(text, [(f.start, f.end, f.replacement) for f in fills.values()]),
                       sorted(fills.values(), key=lambda f: f.start)) for text, fills in zip(texts, done)]

    @torch.no_grad()
    def _fill_batch(self, texts: list[str], groups: list[list[tuple[str, int, int]]],
                    done: list[dict[int, Fill]]) -> None:
        """Fill one group of masks per text, the text's earlier fills in place; adds to `done`."""
        from cohesive.distill.mlm import IGNORE, masked_lm_outputs

        mask = self.tokenizer.mask_token
        masked = [replace_spans(text, [(f.start, f.end, f.replacement) for f in fills.values()]
                                + [(s, e, mask) for _, s, e in spans])
                  for text, spans, fills in zip(texts, groups, done)]
        batch = self.tokenizer(masked, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        is_mask = batch["input_ids"] == self.tokenizer.mask_token_id
        if not is_mask.any():
            return
        labels = batch["input_ids"].masked_fill(~is_mask, IGNORE)
        logits = masked_lm_outputs(self.model, batch["input_ids"], batch["attention_mask"], labels).logits
        row = 0
        for spans, fills, count in zip(groups, done, is_mask.sum(dim=1).tolist()):
            for i, span in enumerate(spans[:count]):  # masks cut off by truncation keep their word
                fill = self._best(logits[row + i], span)
                if fill is not None:
                    fills[fill.start] = fill
            row += count

    def _best(self, logits: torch.Tensor, span: tuple[str, int, int]) -> Fill | None:
        word, start, end = span
        allowed = self.allowed if word.lower() in ENGLISH_STOP_WORDS else self.content
        scores = logits.masked_fill(~allowed[: logits.shape[-1]], float("-inf"))
        scores[self.ids_by_word.get(word.lower(), [])] = float("-inf")  # never the original word
        index = int(scores.argmax())
        if scores[index] == float("-inf"):
            return None
        token = self.tokenizer.convert_ids_to_tokens(index).lstrip("".join(WORD_START_MARKERS))
        return Fill(start, end, word, match_case(word, token) or token)


def choose_words(text: str, share: float, rng: random.Random) -> list[tuple[str, int, int]]:
    """`share` of the text's words (at least one), content words first, in text order."""
    words = [span for span in tokenize(text) if span[0].isalpha()]
    if not words:
        return []
    count = max(1, round(share * len(words)))
    content = [w for w in words if w[0].lower() not in ENGLISH_STOP_WORDS]
    others = [w for w in words if w[0].lower() in ENGLISH_STOP_WORDS]
    picked = rng.sample(content, min(count, len(content)))
    picked += rng.sample(others, count - len(picked))
    return sorted(picked, key=lambda span: span[1])
