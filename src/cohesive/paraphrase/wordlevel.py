"""The word-level substitution detector (`word-lora`): which words of a text a machine replaced.

An ELECTRA-style replaced-token discriminator. An encoder (`minilm` or any `AutoModel`) with LoRA
adapters on all its linear layers reads windows of words; a token head scores each word (its first
word piece) as original or substituted, and a correction head, tied to the frozen input embeddings,
predicts at substituted words the word the generator removed, so the detector can say which word
it expected there. Word labels are free: the corpus generators record every word they replaced.
Beside the encoder state, the token head reads a few domain-independent lexical statistics of the
word (`LEXICAL_FEATURES`): whether WordNet knows it, how often SemCor tags it, whether it has a
much more frequent synonym, how many word pieces it takes: a spinner can only write WordNet words,
and it tends to write rare synonyms of common ones.

A paragraph's probability is a logistic regression on a few statistics of its word scores
(`PARAGRAPH_FEATURES`), fitted on the validation split, where the decision threshold is also
chosen (on out-of-fold probabilities). With `counterfactual`, the statistics are of relative
evidence instead: every word that scores at least `COUNTERFACTUAL_FLOOR` is swapped for the WordNet
relative the correction head ranks first, the swapped text is scored again, and a word's evidence
is how much its score drops when its alternative stands in its place. A spun word's alternative is
often the original, which reads as original; an unusual but original word's alternatives usually
read no better, so a register that looks unusual everywhere (manual pages, docstrings) no longer
looks spun as a whole. A paragraph longer than `window` words takes the maximum
over windows of its words, so one spun passage in a long paragraph is not averaged away.

Saved as a small delta on the base weights: the LoRA tensors and both heads in safetensors, the
aggregation in JSON, and the sha256 of the base weights, checked at load.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cohesive.atomic import save_safetensors, write_json
from cohesive.errors import CohesiveError
from cohesive.files import load_tensors, read_json
from cohesive.paraphrase.wordfacts import (
    FREQUENCY_FEATURES,
    LEXICAL_FEATURES,
    frequency_features,
    lexical_features,
    wordnet_relatives,
)

WEIGHTS_FILE = "weights.safetensors"
AGGREGATE_FILE = "aggregate.json"
PARAGRAPH_FEATURES = ("share_flagged", "mean", "top3_mean", "top8_mean", "log_flagged")
#: The same statistics of the counterfactual score drops (`counterfactual`), a drop counting at RELATIVE_FLAG.
RELATIVE_FEATURES = tuple(f"drop_{name}" for name in PARAGRAPH_FEATURES)
RELATIVE_FLAG = 0.25
#: With `counterfactual`, words scoring at least this are rescored with their best WordNet alternative.
COUNTERFACTUAL_FLOOR = 0.1
COUNTERFACTUAL_CHUNK = 256  # texts whose encoder states are held at once while their alternatives are chosen
WORD_FLAG = 0.5  # a word counts as substituted for the statistics at this score
IGNORE = -100


@dataclass
class ScoredText:
    """Word scores of one text: `spans` are (word, start, end) of its scored (alphabetic) words."""

    spans: list[tuple[str, int, int]]
    scores: np.ndarray
    hidden: Any = None  # [words, hidden] encoder states of the first word pieces (kept for evidence)
    #: with `counterfactual`: each word's score with its alternative in its place (NaN: none), and the alternative
    alternative_scores: np.ndarray | None = None
    alternatives: list[str | None] | None = None

    def drops(self) -> np.ndarray:
        """How much each word's score falls when its alternative stands in its place (0 without one)."""
        if self.alternative_scores is None:
            raise CohesiveError("these word scores have no counterfactual alternatives")
        return np.nan_to_num(np.clip(self.scores - self.alternative_scores, 0.0, None), nan=0.0)


def scored_words(text: str) -> list[tuple[str, int, int]]:
    """The text's tokens with their offsets; only alphabetic ones are scored (what generators change)."""
    from cohesive.wsd.tagger import tokenize

    return [tuple(span) for span in tokenize(text)]


def word_labels(spans: list[tuple[str, int, int]], replaced: list[list]) -> list[int]:
    """1 for each word overlapping a replaced span, 0 for the other alphabetic words, IGNORE otherwise."""
    labels = []
    for word, start, end in spans:
        if not word.isalpha():
            labels.append(IGNORE)
        else:
            labels.append(int(any(start < r_end and r_start < end for r_start, r_end, *_ in replaced)))
    return labels


def windows(count: int, size: int, stride: int) -> list[tuple[int, int]]:
    """(start, end) word windows covering `count` words, `stride` apart, the last ending at the end."""
    if count <= size:
        return [(0, count)]
    starts = list(range(0, count - size + 1, stride))
    if starts[-1] + size < count:
        starts.append(count - size)
    return [(s, s + size) for s in starts]


def paragraph_features(scores: np.ndarray, flag: float = WORD_FLAG) -> np.ndarray:
    """PARAGRAPH_FEATURES of one text's word scores, a word counting as flagged at `flag` (zeros for a
    text with no scored word); the same statistics of score drops are RELATIVE_FEATURES."""
    if len(scores) == 0:
        return np.zeros(len(PARAGRAPH_FEATURES))
    ranked = np.sort(scores)[::-1]
    flagged = float(np.sum(scores >= flag))
    return np.array([flagged / len(scores), float(scores.mean()), float(ranked[:3].mean()), float(ranked[:8].mean()),
                     math.log1p(flagged)])


class WordDetector:
    """`word-lora`: per-word substitution scores, paragraph probability by a fitted aggregate."""

    kind = "word-lora"
    OPTIONS = ("model", "max_length", "window_words", "batch_size", "epochs", "max_steps", "learning_rate",
               "lora_rank", "lora_alpha", "correction_weight", "frequency_features", "counterfactual",
               "alternatives_per_word", "window_mean", "seed", "base_digest")

    def __init__(self, model: str = "minilm", max_length: int = 128, window_words: int = 80, batch_size: int = 16,
                 epochs: float = 1.0, max_steps: int | None = None, learning_rate: float = 1e-3, lora_rank: int = 8,
                 lora_alpha: int = 16, correction_weight: float = 0.5, frequency_features: bool = False,
                 counterfactual: bool = False, alternatives_per_word: int = 1, window_mean: bool = False, seed: int = 0,
                 base_digest: str | None = None):
        self.model, self.max_length, self.window_words, self.batch_size = model, max_length, window_words, batch_size
        self.epochs, self.max_steps, self.learning_rate = epochs, max_steps, learning_rate
        self.lora_rank, self.lora_alpha, self.correction_weight = lora_rank, lora_alpha, correction_weight
        self.frequency_features, self.counterfactual = frequency_features, counterfactual
        self.alternatives_per_word = alternatives_count(alternatives_per_word)  # with `counterfactual`
        self.window_mean = window_mean  # False (detectors saved before it existed): the most central window's score
        self.seed, self.base_digest = seed, base_digest
        self.threshold, self.info = 0.5, {}
        self.aggregate: dict[str, Any] = {}
        self.network: _Network | None = None
        self.tokenizer = None
        self._expecter = None

    def options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.OPTIONS}

    # --- training -------------------------------------------------------------------------------

    def fit(self, texts: list[str], labels: list[int]) -> None:
        raise CohesiveError("the word-lora detector trains on word labels: use `cohesive paraphrase train` on a "
                            "corpus built by this version (its rows list the replaced words)")

    def fit_rows(self, rows: list[dict]) -> dict:
        """Train on corpus rows (`text`, `replaced`); returns the training log."""
        import torch

        missing = [r["id"] for r in rows if r["label"] == 1 and "replaced" not in r]
        if missing:
            raise CohesiveError(f"row {missing[0]} lists no replaced words: rebuild the corpus with this version")
        torch.manual_seed(self.seed)
        self._build_network(train=True)
        examples = self._training_windows(rows)
        return train_network(self.network, self.tokenizer, examples, self)

    def _training_windows(self, rows: list[dict]) -> list[tuple[list[str], list[int], list[int]]]:
        """(words, substitution labels, original first-piece ids) per window of `window_words` words."""
        out = []
        for row in rows:
            spans = scored_words(row["text"])
            labels = word_labels(spans, row.get("replaced", []))
            originals = self._original_ids(spans, row.get("replaced", []))
            for start, end in windows(len(spans), self.window_words, self.window_words):
                out.append(([w for w, _, _ in spans[start:end]], labels[start:end], originals[start:end]))
        return out

    def _original_ids(self, spans: list[tuple[str, int, int]], replaced: list[list]) -> list[int]:
        by_start = {r_start: original for r_start, _, original in replaced}
        ids = []
        for _, start, _ in spans:
            original = by_start.get(start)
            pieces = self.tokenizer(original, add_special_tokens=False)["input_ids"] if original else []
            ids.append(pieces[0] if pieces else IGNORE)
        return ids

    def calibrate(self, rows: list[dict]) -> np.ndarray:
        """Fit the paragraph aggregate on validation rows; returns out-of-fold probabilities (for the threshold)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        names, flag = self._statistics()
        features = np.stack([paragraph_features(self.paragraph_evidence(s), flag)
                             for s in self.score_texts([r["text"] for r in rows])])
        labels = np.asarray([r["label"] for r in rows])
        if min(np.bincount(labels, minlength=2)) < 3:
            raise CohesiveError("calibration needs at least 3 originals and 3 paraphrases in the validation split")
        mean, scale = features.mean(0), features.std(0) + 1e-6
        standardised = (features - mean) / scale
        folds = StratifiedKFold(n_splits=5 if min(np.bincount(labels)) >= 5 else 3, shuffle=True, random_state=self.seed)
        model = LogisticRegression(C=1.0, max_iter=1000)
        out_of_fold = cross_val_predict(model, standardised, labels, cv=folds, method="predict_proba")[:, 1]
        model.fit(standardised, labels)
        self.aggregate = {"features": list(names), "word_flag": flag, "window_mean": self.window_mean, "mean": mean.tolist(),
                          "scale": scale.tolist(), "coef": model.coef_[0].tolist(), "intercept": float(model.intercept_[0])}
        return out_of_fold

    def _statistics(self) -> tuple[tuple[str, ...], float]:
        """The paragraph statistics' names and the value at which a word counts as flagged."""
        return (RELATIVE_FEATURES, RELATIVE_FLAG) if self.counterfactual else (PARAGRAPH_FEATURES, WORD_FLAG)

    def paragraph_evidence(self, scored: ScoredText) -> np.ndarray:
        """The per-word values the paragraph statistics are taken of: score drops with
        `counterfactual`, else the word scores."""
        return scored.drops() if self.counterfactual else scored.scores

    # --- scoring --------------------------------------------------------------------------------

    def __call__(self, texts: list[str], window: int = 200, stride: int = 100) -> np.ndarray:
        """P(machine-paraphrased) per text: the maximum over `window`-word windows of its scored words."""
        return np.array([self.paragraph_probability(s, window, stride) for s in self.score_texts(texts)])

    def paragraph_probability(self, scored: ScoredText, window: int = 200, stride: int = 100) -> float:
        if not self.aggregate:
            raise CohesiveError("this detector has no paragraph aggregate: calibrate it on a validation split")
        a = self.aggregate
        if tuple(a.get("features", ())) != self._statistics()[0] or a.get("window_mean", False) != self.window_mean:
            raise CohesiveError(f"the paragraph aggregate was fitted on other statistics than this detector's options "
                                f"give (counterfactual={self.counterfactual}, window_mean={self.window_mean}): "
                                "recalibrate it (`cohesive paraphrase calibrate`)")
        values = self.paragraph_evidence(scored)
        pieces = windows(len(values), window, stride)
        features = np.stack([paragraph_features(values[s:e], a["word_flag"]) for s, e in pieces])
        logits = ((features - np.asarray(a["mean"])) / np.asarray(a["scale"])) @ np.asarray(a["coef"]) + a["intercept"]
        return float(1.0 / (1.0 + np.exp(-logits.max())))

    def score_texts(self, texts: list[str], keep_hidden: bool = False) -> list[ScoredText]:
        """Word scores of every text (with `counterfactual`, also each word's score with its best
        alternative in its place); `keep_hidden` keeps the encoder states the evidence needs."""
        if self.network is None:
            raise CohesiveError("this detector has not been trained")
        if not self.counterfactual:
            return self._score_words(texts, keep_hidden)
        out = []
        for begin in range(0, len(texts), COUNTERFACTUAL_CHUNK):
            chunk = self._score_words(texts[begin:begin + COUNTERFACTUAL_CHUNK], keep_hidden=True)
            self._add_alternatives(texts[begin:begin + COUNTERFACTUAL_CHUNK], chunk)
            if not keep_hidden:
                for scored in chunk:
                    scored.hidden = None
            out += chunk
        return out

    def _add_alternatives(self, texts: list[str], scored: list[ScoredText]) -> None:
        """Swap every word scoring >= COUNTERFACTUAL_FLOOR for its best-ranked WordNet relative, score
        the swapped texts once, and read each swapped word's new score back by its character offset;
        with `alternatives_per_word` k > 1, the same for the relatives ranked 2nd to k-th (one more pass each),
        and each word keeps the alternative under which it reads most original."""
        from cohesive.paraphrase.wordedit import replace_spans

        expecter = self._expecter_for()
        ranked = []
        for s in scored:
            chosen = [i for i, value in enumerate(s.scores) if value >= COUNTERFACTUAL_FLOOR]
            best = expecter.ranked_relatives([s.spans[i][0] for i in chosen], s.hidden[chosen] if chosen else None,
                                             self.alternatives_per_word)
            ranked.append(dict(zip(chosen, best)))
            s.alternative_scores, s.alternatives = np.full(len(s.spans), np.nan), [None] * len(s.spans)
        for rank in range(self.alternatives_per_word):
            plans = [{i: words[rank] for i, words in r.items() if len(words) > rank} for r in ranked]
            if not any(plans):
                break
            swapped = [replace_spans(t, [(s.spans[i][1], s.spans[i][2], w) for i, w in plan.items()])
                       for t, s, plan in zip(texts, scored, plans)]
            for s, plan, rescored in zip(scored, plans, self._score_words(swapped)):
                new = swapped_scores(s.spans, plan, rescored)
                better = new < np.nan_to_num(s.alternative_scores, nan=np.inf)  # a NaN (no usable swap) never is
                s.alternative_scores[better] = new[better]
                for i in np.flatnonzero(better):
                    s.alternatives[i] = plan[i]

    def _score_words(self, texts: list[str], keep_hidden: bool = False) -> list[ScoredText]:
        """Word scores of every text: windows of `window_words` words, half a window apart. A word's
        encoder state (for the expected words) comes from the window where it is farthest from an
        edge (most context); its score from there too, or with `window_mean` the mean of its logits
        over all windows holding it (two for most words: an ensemble of two contexts at no extra cost)."""
        import torch

        all_spans = [scored_words(t) for t in texts]
        jobs = [(t, s, e) for t, spans in enumerate(all_spans)
                for s, e in windows(len(spans), self.window_words, max(1, self.window_words // 2))]
        best = [np.full(len(spans), -1) for spans in all_spans]  # centrality of the window that scored each word
        central = [np.zeros(len(spans)) for spans in all_spans]  # the logit from that window
        totals = [np.zeros(len(spans)) for spans in all_spans]  # the sum of its logits over all windows, and their count
        counts = [np.zeros(len(spans)) for spans in all_spans]
        hidden = [torch.zeros(len(spans), self.network.hidden_size) if keep_hidden else None for spans in all_spans]
        jobs.sort(key=lambda job: job[2] - job[1])
        with torch.inference_mode():
            for begin in range(0, len(jobs), self.batch_size):
                batch = jobs[begin:begin + self.batch_size]
                words = [[w for w, _, _ in all_spans[t][s:e]] for t, s, e in batch]
                states, logits, positions = self._forward(words)
                logits = logits.numpy()
                for row, ((t, s, e), pos) in enumerate(zip(batch, positions)):
                    for j, p in pos.items():
                        totals[t][s + j] += logits[row, p]
                        counts[t][s + j] += 1
                        centrality = min(j, e - s - 1 - j)
                        if centrality > best[t][s + j]:
                            best[t][s + j] = centrality
                            central[t][s + j] = logits[row, p]
                            if keep_hidden:
                                hidden[t][s + j] = states[row, p]
        out = []
        for spans, logit, total, count, h in zip(all_spans, central, totals, counts, hidden):
            keep = [i for i, (w, _, _) in enumerate(spans) if w.isalpha()]
            logit = total / np.maximum(count, 1) if self.window_mean else logit
            scores = np.where(count > 0, 1.0 / (1.0 + np.exp(-logit)), 0.0)  # 0: no window could fit the word
            out.append(ScoredText([spans[i] for i in keep], scores[keep], h[keep] if keep_hidden else None))
        return out

    def _forward(self, words: list[list[str]]):
        """Hidden states, token logits and, per window, {word index: first-piece position}."""
        batch, features, positions = encode_windows(self.tokenizer, words, self.max_length, self.frequency_features)
        states, logits = self.network(batch["input_ids"], batch["attention_mask"], features)
        return states, logits, positions

    # --- evidence -------------------------------------------------------------------------------

    def evidence(self, scored: ScoredText, top: int = 8, expected: int = 3) -> list[dict]:
        """The words most likely substituted, each with the words the detector expected there: WordNet
        relatives of the word ranked by the correction head, then the head's own best whole word.
        Plain scores: words scoring >= WORD_FLAG, highest first. Counterfactual: the words whose
        drop counts as flagged (>= RELATIVE_FLAG), largest drop first, each with its `drop`, and
        the alternative that gave the drop first among the expected words."""
        expecter = self._expecter_for()
        if self.counterfactual:
            drops = scored.drops()
            order = [i for i in np.argsort(-drops, kind="stable") if drops[i] >= RELATIVE_FLAG][:top]
        else:
            order = [i for i in np.argsort(-scored.scores, kind="stable") if scored.scores[i] >= WORD_FLAG][:top]
        out = []
        words = [scored.spans[i][0] for i in order]
        for i, guesses in zip(order, expecter(words, scored.hidden[order], expected) if order else []):
            word, start, end = scored.spans[i]
            out.append({"word": word, "start": start, "end": end, "score": round(float(scored.scores[i]), 4),
                        "expected": guesses})
            if self.counterfactual:
                alternative = scored.alternatives[i]
                out[-1]["expected"] = [alternative] + [w for w in guesses if w != alternative][:expected]
                out[-1]["drop"] = round(float(drops[i]), 4)
        return out

    def _expecter_for(self) -> _Expecter:
        if self._expecter is None:
            self._expecter = _Expecter(self.tokenizer, self.network)
        return self._expecter

    # --- persistence ----------------------------------------------------------------------------

    def _build_network(self, train: bool) -> None:
        from transformers import AutoTokenizer

        from cohesive.models import fitting_length, load_pretrained, weights_digest

        self.tokenizer = load_pretrained(AutoTokenizer, self.model)
        digest = weights_digest(self.model)
        if self.base_digest is not None and digest != self.base_digest:
            raise CohesiveError(f"the base weights of {self.model!r} are not those this detector was trained on "
                                f"(sha256 {digest[7:19]}... vs {self.base_digest[7:19]}...): reinstall them or retrain")
        self.base_digest = digest
        self.network = _Network(self.model, self.lora_rank, self.lora_alpha, len(feature_names(self.frequency_features)),
                                train)
        self.max_length = fitting_length(self.network.encoder, self.max_length)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        save_safetensors(directory / WEIGHTS_FILE, self.network.delta_state())
        self.save_calibration(directory)

    def save_calibration(self, directory: Path) -> None:
        """The aggregate and the description (threshold, options, provenance), not the weights: what
        `calibrate` changes."""
        from cohesive.paraphrase.detectors import DETECTOR_FILE, FORMAT

        write_json(Path(directory) / AGGREGATE_FILE, self.aggregate)
        write_json(Path(directory) / DETECTOR_FILE, {"format": FORMAT, "kind": self.kind, "threshold": self.threshold,
                                                     "options": self.options(), "info": self.info})

    def _load_weights(self, directory: Path) -> None:
        for name in (WEIGHTS_FILE, AGGREGATE_FILE):
            if not (directory / name).is_file():
                raise CohesiveError(f"{directory / name} not found: the detector folder is incomplete")
        delta, self.aggregate = load_tensors(directory / WEIGHTS_FILE), read_json(directory / AGGREGATE_FILE)
        self._build_network(train=False)
        self.network.load_delta(delta)


def encode_windows(tokenizer, words: list[list[str]], max_length: int, frequency: bool = False):
    """Tokenised windows (padded), their lexical features (`feature_names(frequency)`) at each word's
    first piece (zeros elsewhere), and per window {word index: first-piece position}."""
    import torch

    batch = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length, padding=True,
                      return_tensors="pt")
    features = torch.zeros(*batch["input_ids"].shape, len(feature_names(frequency)))
    positions = []
    for row, window in enumerate(words):
        word_ids = batch.word_ids(row)
        pieces = Counter(word_ids)
        first = first_pieces(word_ids)
        for word, position in first.items():
            extra = frequency_features(window[word]) if frequency else ()
            features[row, position] = torch.tensor((*lexical_features(window[word]), math.log(pieces[word]), *extra))
        positions.append(first)
    return batch, features, positions


def alternatives_count(value: int) -> int:
    """`alternatives_per_word` checked: the counterfactual tries at least one relative per word."""
    if int(value) < 1:
        raise CohesiveError(f"alternatives_per_word must be at least 1, got {value}")
    return int(value)


def swapped_scores(spans: list[tuple[str, int, int]], plan: dict[int, str], rescored: ScoredText) -> np.ndarray:
    """Each planned word's score in the swapped text (NaN for the others, and where the swap changed
    how the text splits into words): words are matched by their start offset, shifted by the length
    changes of the swaps before them, and must be the word swapped in."""
    by_start = {start: (word, score) for (word, start, _), score in zip(rescored.spans, rescored.scores)}
    out, shift = np.full(len(spans), np.nan), 0
    for i, (_, start, end) in enumerate(spans):
        if i in plan:
            word, score = by_start.get(start + shift, (None, np.nan))
            out[i] = score if word == plan[i] else np.nan
            shift += len(plan[i]) - (end - start)
    return out


def first_pieces(word_ids: list[int | None]) -> dict[int, int]:
    """{word index: position of its first word piece} from a tokenizer's `word_ids()`."""
    out: dict[int, int] = {}
    for position, word in enumerate(word_ids):
        if word is not None and word not in out:
            out[word] = position
    return out


class _Network:
    """Encoder + LoRA, a token head (substituted or not) and a correction head tied to the input embeddings."""

    def __init__(self, model: str, rank: int, alpha: int, lexical_width: int, train: bool):
        """`train`: the encoder gets LoRA adapters (peft); else it stays plain, for `load_delta` to merge
        saved adapters into (without peft, whose import alone took ~4 s of a `detect` run)."""
        import torch
        from transformers import AutoModel

        from cohesive.models import load_pretrained

        base = load_pretrained(AutoModel, model)
        self.hidden_size = base.config.hidden_size
        self.embeddings = base.get_input_embeddings().weight.detach()  # frozen: the correction decoder
        self.lora_scaling = alpha / rank
        self.encoder = _with_lora(base, rank, alpha) if train else base
        width = self.hidden_size + lexical_width
        self.token_head = torch.nn.Sequential(torch.nn.Linear(width, 128), torch.nn.GELU(), torch.nn.Linear(128, 1))
        self.correction = torch.nn.Sequential(torch.nn.Linear(self.hidden_size, self.hidden_size), torch.nn.GELU(),
                                              torch.nn.LayerNorm(self.hidden_size))
        self.correction_bias = torch.nn.Parameter(torch.zeros(self.embeddings.shape[0]))
        self.train(train)

    def train(self, mode: bool) -> None:
        for module in (self.encoder, self.token_head, self.correction):
            module.train(mode)

    def __call__(self, input_ids, attention_mask, features):
        import torch

        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return states, self.token_head(torch.cat([states, features], dim=-1)).squeeze(-1)

    def correction_logits(self, states):
        return self.correction(states) @ self.embeddings.T + self.correction_bias

    def parameters(self) -> list:
        trainable = [p for p in self.encoder.parameters() if p.requires_grad]
        return trainable + list(self.token_head.parameters()) + list(self.correction.parameters()) + [self.correction_bias]

    def delta_state(self) -> dict:
        from peft import get_peft_model_state_dict

        state = {f"lora.{k}": v for k, v in get_peft_model_state_dict(self.encoder).items()}
        state.update({f"token_head.{k}": v for k, v in self.token_head.state_dict().items()})
        state.update({f"correction.{k}": v for k, v in self.correction.state_dict().items()})
        state["correction_bias"] = self.correction_bias.detach()
        return {k: v.detach().float() for k, v in state.items()}

    def load_delta(self, state: dict) -> None:
        """Saved weights into a network built for inference: the LoRA updates merged into the encoder's
        weights (inference at base speed), the heads loaded."""
        try:
            merge_lora(self.encoder, _part(state, "lora.base_model.model."), self.lora_scaling)
            self.token_head.load_state_dict(_part(state, "token_head."))
            self.correction.load_state_dict(_part(state, "correction."))
            self.correction_bias.data.copy_(state["correction_bias"])
        except (KeyError, RuntimeError) as exc:
            raise CohesiveError(f"detector weights do not fit the {self.encoder.config.model_type} encoder: "
                                f"{str(exc).splitlines()[0]}") from None
        self.train(False)


def _with_lora(base, rank: int, alpha: int):
    from peft import LoraConfig, get_peft_model

    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    return get_peft_model(base, LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.05, target_modules="all-linear"))


def merge_lora(encoder, lora: dict, scaling: float) -> None:
    """Add each saved LoRA pair's update, `scaling * B @ A`, to the weight of the linear layer it adapts:
    what peft's `merge_and_unload` computes. Raises KeyError or RuntimeError if the pairs do not fit."""
    import torch

    layers = dict(encoder.named_modules())
    names = sorted({key.rsplit(".lora_", 1)[0] for key in lora})
    if not names or len(lora) != 2 * len(names):
        raise KeyError(f"expected lora_A/lora_B pairs of the encoder's linear layers, found {len(lora)} tensors")
    with torch.no_grad():
        for name in names:
            if name not in layers:
                raise KeyError(f"no layer {name!r}")
            layers[name].weight += (lora[f"{name}.lora_B.weight"] @ lora[f"{name}.lora_A.weight"]) * scaling


def _part(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def train_network(network: _Network, tokenizer, examples: list, options: WordDetector) -> dict:
    """AdamW with linear warm-up and decay over `epochs` (or `max_steps`) of length-bucketed batches."""
    import torch

    positives = sum(1 for _, labels, _ in examples for y in labels if y == 1)
    if not examples or positives == 0:
        raise CohesiveError("no substituted word in the training rows: the word detector has nothing to learn")
    batches = _length_batches(examples, options.batch_size, options.epochs, options.seed)
    steps = min(len(batches), options.max_steps or len(batches))
    optimizer = torch.optim.AdamW(network.parameters(), lr=options.learning_rate, weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    network.train(True)
    log, started = [], time.perf_counter()
    for step, batch in enumerate(batches[:steps], start=1):
        loss, parts = _batch_loss(network, tokenizer, [examples[i] for i in batch], options)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 20 == 0 or step == steps:
            log.append({"step": step, **parts, "seconds": round(time.perf_counter() - started, 1)})
            print(log[-1], flush=True)
    network.train(False)
    return {"steps": steps, "windows": len(examples), "substituted_words": positives, "log": log}


def _length_batches(examples: list, batch_size: int, epochs: float, seed: int) -> list[list[int]]:
    """Batches of similar-length windows (little padding), in random order, for `epochs` passes."""
    rng = random.Random(seed)
    out: list[list[int]] = []
    for _ in range(math.ceil(epochs)):
        order = sorted(range(len(examples)), key=lambda i: (len(examples[i][0]), rng.random()))
        chunk = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        rng.shuffle(chunk)
        out += chunk
    return out[:max(1, round(epochs * math.ceil(len(examples) / batch_size)))]


def _batch_loss(network: _Network, tokenizer, batch: list, options: WordDetector):
    import torch

    encoded, features, positions = encode_windows(tokenizer, [words for words, _, _ in batch], options.max_length,
                                                  options.frequency_features)
    labels = torch.full(encoded["input_ids"].shape, IGNORE, dtype=torch.long)
    originals = labels.clone()
    for row, (_, word_label, original) in enumerate(batch):
        for word, position in positions[row].items():
            labels[row, position], originals[row, position] = word_label[word], original[word]
    states, logits = network(encoded["input_ids"], encoded["attention_mask"], features)
    scored = labels != IGNORE
    detection = torch.nn.functional.binary_cross_entropy_with_logits(logits[scored], labels[scored].float())
    corrected = originals != IGNORE
    correction = torch.zeros(())
    if corrected.any():
        correction = torch.nn.functional.cross_entropy(network.correction_logits(states[corrected]), originals[corrected])
    loss = detection + options.correction_weight * correction
    return loss, {"loss": round(loss.item(), 4), "detection": round(detection.item(), 4),
                  "correction": round(correction.item(), 4)}


class _Expecter:
    """The words a detector expected in place of an observed word."""

    def __init__(self, tokenizer, network: _Network):
        from cohesive.paraphrase.wordedit import word_tokens

        self.tokenizer, self.network = tokenizer, network
        self._first_pieces: dict[str, int | None] = {}
        vocabulary = word_tokens(tokenizer)
        self.word_ids = np.array(sorted(i for i, w in vocabulary.items() if len(w) > 2))

    def __call__(self, observed: list[str], states, count: int) -> list[list[str]]:
        """For each observed word, its `count` WordNet relatives the correction head ranks first, then
        the head's best whole word of the vocabulary that is neither the word nor one of them (one
        decoder pass for all the words: per word, it was a tenth of `detect`'s time)."""
        import torch

        with torch.inference_mode():
            logits = self.network.correction_logits(states).numpy()
        out = []
        for word, row in zip(observed, logits):
            ranked = sorted(self._scorable_relatives(word), key=lambda w: -row[self._first_pieces[w]])[:count]
            free = self.word_ids[np.argsort(-row[self.word_ids])[:count + 1]]
            free_words = [self.tokenizer.convert_ids_to_tokens(int(i)) for i in free]
            best_free = next((w for w in free_words if w != word.lower() and w not in ranked), None)
            out.append(ranked + ([best_free] if best_free else []))
        return out

    def ranked_relatives(self, observed: list[str], states, count: int) -> list[list[str]]:
        """For each observed word, its `count` WordNet relatives the correction head ranks first (fewer
        if it has fewer); only the relatives' rows of the decoder are scored, not the whole vocabulary."""
        import torch

        if not observed:
            return []
        out = []
        with torch.inference_mode():
            projected = self.network.correction(states)
            for word, vector in zip(observed, projected):
                relatives = self._scorable_relatives(word)
                if not relatives:
                    out.append([])
                    continue
                ids = torch.tensor([self._first_pieces[w] for w in relatives])
                logits = self.network.embeddings[ids] @ vector + self.network.correction_bias[ids]
                out.append([relatives[int(i)] for i in torch.argsort(logits, descending=True, stable=True)[:count]])
        return out

    def _scorable_relatives(self, observed: str) -> list[str]:
        """The observed word's WordNet relatives that have a first word piece for the decoder to score."""
        relatives = wordnet_relatives(observed)
        new = [w for w in relatives if w not in self._first_pieces]
        if new:  # one tokenizer call for all of them: per word, the call's overhead dominated
            for word, pieces in zip(new, self.tokenizer([w.lower() for w in new], add_special_tokens=False)["input_ids"]):
                self._first_pieces[word] = pieces[0] if pieces else None
        return [w for w in relatives if self._first_pieces[w] is not None]


def feature_names(frequency: bool) -> tuple[str, ...]:
    """The token head's lexical inputs, in order."""
    return LEXICAL_FEATURES + (FREQUENCY_FEATURES if frequency else ())
