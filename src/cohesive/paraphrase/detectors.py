"""Machine-paraphrase detectors behind one interface: `detector(texts) -> P(paraphrased)`.

- `tfidf-lr`: word uni+bigram TF-IDF (sublinear tf) + logistic regression.
- `tfidf-svm`: the same features + linear SVM. An SVM has no probabilities: its decision values
  are mapped through a sigmoid fitted by Platt scaling on out-of-fold decision values (3-fold
  cross-validation on the training set, as libsvm's `probability=True` does with 5 folds).
- `embed-lr`: a frozen encoder's mean-pooled last hidden states, standardised, + logistic regression.
- `finetune`: `AutoModelForSequenceClassification` fine-tuned with the HF Trainer on any encoder
  (a hub id, `minilm`, or a folder such as an LMGC-M model written by `cohesive wsd train`).
- `word-lora`: per-word substitution scores from a LoRA-tuned encoder, aggregated per paragraph
  (`cohesive.paraphrase.wordlevel`); it trains on the corpus's word labels and says which words.

Nothing is pickled: linear models are written as safetensors arrays (+ the TF-IDF vocabulary as
JSON), fine-tuned models with `save_pretrained`. `detector.json` names the kind, its options, the
decision threshold chosen on validation and where it was trained; `load_detector(dir)` reads it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from safetensors.numpy import save_file
from tqdm.auto import tqdm

from cohesive.atomic import write_json, write_text, write_with
from cohesive.errors import CohesiveError
from cohesive.files import load_tensors, read_json
from cohesive.models import fitting_length

KINDS = ("tfidf-lr", "tfidf-svm", "embed-lr", "finetune", "word-lora")
DETECTOR_FILE = "detector.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT = 1


class Detector(Protocol):
    """What evaluation and scanning need from a detector."""

    kind: str
    threshold: float  # flag a text when P(paraphrased) >= threshold
    info: dict[str, Any]  # provenance: training cell, corpus, validation metrics

    def fit(self, texts: list[str], labels: list[int]) -> None: ...

    def __call__(self, texts: list[str]) -> np.ndarray: ...

    def save(self, directory: Path) -> None: ...


class _Saved:
    """Shared bookkeeping: options, threshold, provenance, `detector.json`."""

    kind = ""
    OPTIONS: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.threshold = 0.5
        self.info: dict[str, Any] = {}

    def options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.OPTIONS}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._save_weights(directory)
        meta = {"format": FORMAT, "kind": self.kind, "threshold": self.threshold, "options": self.options(),
                "info": self.info}
        write_json(directory / DETECTOR_FILE, meta)

    def _save_weights(self, directory: Path) -> None:
        raise NotImplementedError

    def _load_weights(self, directory: Path) -> None:
        raise NotImplementedError


def _save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    write_with(path, lambda tmp: save_file(arrays, str(tmp)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _check_training_set(texts: list[str], labels: list[int], per_class: int = 2) -> None:
    counts = [sum(1 for y in labels if y == c) for c in (0, 1)]
    if len(texts) != len(labels) or min(counts) < per_class:
        raise CohesiveError(f"a detector needs at least {per_class} originals and {per_class} paraphrases to "
                            f"train on, got {counts[0]} and {counts[1]}")


# --- TF-IDF + linear models -----------------------------------------------------------------------


class TfidfDetector(_Saved):
    OPTIONS = ("max_features", "ngram_max", "c", "seed")

    def __init__(self, kind: str = "tfidf-lr", max_features: int = 50000, ngram_max: int = 2, c: float = 1.0,
                 seed: int = 0):
        super().__init__()
        self.kind, self.max_features, self.ngram_max, self.c, self.seed = kind, max_features, ngram_max, c, seed
        self.weights: dict[str, np.ndarray] = {}
        self.vectorizer = None

    def fit(self, texts: list[str], labels: list[int]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        _check_training_set(texts, labels)
        fitted = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, self.ngram_max), max_features=self.max_features)
        features = fitted.fit_transform(texts)
        vocabulary = {term: int(index) for term, index in fitted.vocabulary_.items()}
        self.vectorizer = self._vectorizer(vocabulary, fitted.idf_)
        y = np.asarray(labels)
        coef, intercept = self._fit_linear(features, y)
        self.weights = {"idf": fitted.idf_.astype(np.float64), "coef": coef, "intercept": intercept,
                        "platt": self._platt(features, y) if self.kind == "tfidf-svm" else np.array([1.0, 0.0])}

    def _fit_linear(self, features, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        model = self._linear_model()
        model.fit(features, y)
        return model.coef_[0].astype(np.float64), np.asarray(model.intercept_, dtype=np.float64)

    def _linear_model(self):
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        if self.kind == "tfidf-svm":
            return LinearSVC(C=self.c, random_state=self.seed)
        return LogisticRegression(C=self.c, max_iter=2000)

    def _platt(self, features, y: np.ndarray) -> np.ndarray:
        """(a, b) of P = sigmoid(a * decision + b), fitted on out-of-fold SVM decision values."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        folds = StratifiedKFold(n_splits=min(3, int(np.bincount(y).min())), shuffle=True, random_state=self.seed)
        decisions = cross_val_predict(self._linear_model(), features, y, cv=folds, method="decision_function")
        sigmoid = LogisticRegression(C=1e6, max_iter=1000).fit(decisions.reshape(-1, 1), y)
        return np.array([sigmoid.coef_[0, 0], sigmoid.intercept_[0]], dtype=np.float64)

    def _vectorizer(self, vocabulary: dict[str, int], idf: np.ndarray):
        """A TF-IDF transformer from a fixed vocabulary and idf: the same object after fit and after load."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, self.ngram_max), vocabulary=vocabulary)
        vectorizer.idf_ = idf
        return vectorizer

    def __call__(self, texts: list[str]) -> np.ndarray:
        if self.vectorizer is None:
            raise CohesiveError("this detector has not been trained")
        decision = self.vectorizer.transform(texts) @ self.weights["coef"] + self.weights["intercept"][0]
        a, b = self.weights["platt"]
        return _sigmoid(a * np.asarray(decision) + b)

    def _save_weights(self, directory: Path) -> None:
        _save_arrays(directory / WEIGHTS_FILE, self.weights)
        write_text(directory / "vocabulary.json", json.dumps(self.vectorizer.vocabulary, ensure_ascii=False))

    def _load_weights(self, directory: Path) -> None:
        self.weights = load_tensors(directory / WEIGHTS_FILE, "np")
        vocabulary = read_json(directory / "vocabulary.json")
        self.vectorizer = self._vectorizer(vocabulary, self.weights["idf"])


# --- frozen encoder embeddings + logistic regression ----------------------------------------------


def _sorted_batches(texts: list[str], batch_size: int, desc: str):
    """Batches of indices, longest texts first, so padding stays small."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc=desc, unit="batch", disable=None if len(starts) > 1 else True):
        yield order[start:start + batch_size]


class EmbeddingDetector(_Saved):
    kind = "embed-lr"
    OPTIONS = ("model", "max_length", "batch_size", "c")

    def __init__(self, model: str = "minilm", max_length: int = 256, batch_size: int = 16, c: float = 1.0):
        super().__init__()
        self.model, self.max_length, self.batch_size, self.c = model, max_length, batch_size, c
        self.weights: dict[str, np.ndarray] = {}
        self._encoder = None

    def _load_encoder(self):
        if self._encoder is None:
            from transformers import AutoModel, AutoTokenizer

            from cohesive.models import load_pretrained

            encoder = load_pretrained(AutoModel, self.model).eval()
            self.max_length = fitting_length(encoder, self.max_length)
            self._encoder = (load_pretrained(AutoTokenizer, self.model), encoder)
        return self._encoder

    def embed(self, texts: list[str]) -> np.ndarray:
        """Mean of the last hidden states over each text's tokens (padding excluded)."""
        import torch

        tokenizer, encoder = self._load_encoder()
        out = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float64)
        with torch.no_grad():
            for batch in _sorted_batches(texts, self.batch_size, "embedding"):
                inputs = tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt")
                hidden = encoder(**inputs).last_hidden_state
                mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                out[batch] = ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).double().numpy()
        return out

    def fit(self, texts: list[str], labels: list[int]) -> None:
        from sklearn.linear_model import LogisticRegression

        _check_training_set(texts, labels)
        embeddings = self.embed(texts)
        mean, scale = embeddings.mean(0), embeddings.std(0) + 1e-6
        model = LogisticRegression(C=self.c, max_iter=2000).fit((embeddings - mean) / scale, np.asarray(labels))
        self.weights = {"mean": mean, "scale": scale, "coef": model.coef_[0].astype(np.float64),
                        "intercept": np.asarray(model.intercept_, dtype=np.float64)}

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not self.weights:
            raise CohesiveError("this detector has not been trained")
        standardised = (self.embed(texts) - self.weights["mean"]) / self.weights["scale"]
        return _sigmoid(standardised @ self.weights["coef"] + self.weights["intercept"][0])

    def _save_weights(self, directory: Path) -> None:
        _save_arrays(directory / WEIGHTS_FILE, self.weights)

    def _load_weights(self, directory: Path) -> None:
        self.weights = load_tensors(directory / WEIGHTS_FILE, "np")


# --- fine-tuned transformer classifier ------------------------------------------------------------


class _Encoded:
    """Tokenised texts (+ labels) as the list-like dataset the Trainer expects."""

    def __init__(self, encoded: dict, labels: list[int]):
        self.encoded, self.labels = encoded, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return {**{k: v[index] for k, v in self.encoded.items()}, "labels": self.labels[index]}


class FinetuneDetector(_Saved):
    kind = "finetune"
    OPTIONS = ("model", "max_length", "batch_size", "epochs", "learning_rate", "warmup_ratio", "weight_decay", "seed")
    MODEL_FOLDER = "model"

    def __init__(self, model: str = "minilm", max_length: int = 256, batch_size: int = 16, epochs: float = 1.0,
                 learning_rate: float = 5e-5, warmup_ratio: float = 0.1, weight_decay: float = 0.01, seed: int = 0):
        super().__init__()
        self.model, self.max_length, self.batch_size, self.epochs = model, max_length, batch_size, epochs
        self.learning_rate, self.warmup_ratio, self.weight_decay = learning_rate, warmup_ratio, weight_decay
        self.seed = seed
        self.classifier = self.tokenizer = None

    def fit(self, texts: list[str], labels: list[int]) -> None:
        """Fine-tune the whole encoder with a new classification head (a masked-LM checkpoint's encoder
        is reused; its pooler and classifier start fresh)."""
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer

        from cohesive.models import load_pretrained

        _check_training_set(texts, labels, per_class=1)
        torch.manual_seed(self.seed)
        self.tokenizer = load_pretrained(AutoTokenizer, self.model)
        self.classifier = load_pretrained(AutoModelForSequenceClassification, self.model, num_labels=2)
        self.max_length = fitting_length(self.classifier, self.max_length)
        dataset = _Encoded(self.tokenizer(texts, truncation=True, max_length=self.max_length), labels)
        with tempfile.TemporaryDirectory(prefix="cohesive-finetune-") as scratch:
            trainer = Trainer(model=self.classifier, args=self._arguments(scratch), train_dataset=dataset,
                              data_collator=DataCollatorWithPadding(self.tokenizer), processing_class=self.tokenizer)
            trainer.train()
        self.classifier.eval()

    def _arguments(self, output_dir: str):
        import torch
        from transformers import TrainingArguments

        return TrainingArguments(
            output_dir=output_dir, num_train_epochs=self.epochs, per_device_train_batch_size=self.batch_size,
            learning_rate=self.learning_rate, warmup_steps=self.warmup_ratio, weight_decay=self.weight_decay,
            lr_scheduler_type="linear", train_sampling_strategy="group_by_length", eval_strategy="no",
            save_strategy="no", logging_steps=10, seed=self.seed, data_seed=self.seed, report_to=[],
            dataloader_num_workers=0, disable_tqdm=False, use_cpu=not torch.cuda.is_available())

    def __call__(self, texts: list[str]) -> np.ndarray:
        import torch

        if self.classifier is None:
            raise CohesiveError("this detector has not been trained")
        device = next(self.classifier.parameters()).device
        out = np.zeros(len(texts), dtype=np.float64)
        with torch.no_grad():
            for batch in _sorted_batches(texts, self.batch_size, "classifying"):
                inputs = self.tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                                        max_length=self.max_length, return_tensors="pt").to(device)
                logits = self.classifier(**inputs).logits.float()
                out[batch] = torch.softmax(logits, dim=-1)[:, 1].cpu().double().numpy()
        return out

    def _save_weights(self, directory: Path) -> None:
        self.classifier.save_pretrained(directory / self.MODEL_FOLDER)
        self.tokenizer.save_pretrained(directory / self.MODEL_FOLDER)

    def _load_weights(self, directory: Path) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from cohesive.models import load_pretrained

        folder = directory / self.MODEL_FOLDER
        if not folder.is_dir():
            raise CohesiveError(f"{folder} not found: the detector folder is incomplete")
        self.tokenizer = load_pretrained(AutoTokenizer, folder)
        self.classifier = load_pretrained(AutoModelForSequenceClassification, folder).eval()
        if torch.cuda.is_available():
            self.classifier.to("cuda")


# --- construction and loading ---------------------------------------------------------------------


def build_detector(kind: str, **options: Any) -> Detector:
    """A fresh detector of `kind`; options it does not use are ignored."""
    return _build(kind, **options)


def _build(kind: str, **options: Any) -> Detector:
    cls = _detector_class(kind)
    chosen = {k: v for k, v in options.items() if k in cls.OPTIONS}
    return cls(kind, **chosen) if cls is TfidfDetector else cls(**chosen)


def _detector_class(kind: str) -> type:
    from cohesive.paraphrase.wordlevel import WordDetector

    classes = {"tfidf-lr": TfidfDetector, "tfidf-svm": TfidfDetector, "embed-lr": EmbeddingDetector,
               "finetune": FinetuneDetector, "word-lora": WordDetector}
    if kind not in classes:
        raise CohesiveError(f"unknown detector kind {kind!r}; choose from {', '.join(KINDS)}")
    return classes[kind]


def load_detector(directory: str | Path) -> Detector:
    """A trained detector from the folder `save` wrote."""
    directory = Path(directory)
    meta_path = directory / DETECTOR_FILE
    if not meta_path.is_file():
        raise CohesiveError(f"{meta_path} not found: train a detector first (`cohesive paraphrase train`)")
    try:
        meta = read_json(meta_path)
        if meta.get("format") != FORMAT:
            raise CohesiveError(f"{meta_path}: detector format {meta.get('format')!r} is not the one this version "
                                f"reads ({FORMAT}); retrain the detector")
        detector = _build(meta["kind"], **meta["options"])
        detector.threshold, detector.info = float(meta["threshold"]), meta.get("info", {})
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CohesiveError(f"{meta_path}: not a detector description ({exc})") from None
    detector._load_weights(directory)
    return detector
