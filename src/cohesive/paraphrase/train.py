"""`cohesive paraphrase train`: fit one detector on the corpus's training cell, choose its decision
threshold on the validation split (maximum macro-F1), and save it with where it was trained.
`cohesive paraphrase calibrate`: refit a trained word-level detector's paragraph aggregate and
threshold on a validation split, weights unchanged."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cohesive.atomic import write_bytes, write_json
from cohesive.errors import CohesiveError
from cohesive.paraphrase.corpus import read_manifest, read_split
from cohesive.paraphrase.detectors import KINDS, build_detector, load_detector
from cohesive.paraphrase.metrics import best_threshold
from cohesive.sampling import seeded_subsample

#: Detector kinds built on a transformer encoder (`model`).
ENCODER_KINDS = ("embed-lr", "finetune", "word-lora")


@dataclass
class DetectorTrainConfig:
    """One detector, one budget; each kind reads only the options it uses."""

    corpus_dir: Path = Path("runs/paraphrase/corpus")
    output_dir: Path = Path("runs/paraphrase/detectors/tfidf-lr")
    kind: str = "tfidf-lr"  # tfidf-lr | tfidf-svm | embed-lr | finetune | word-lora
    # embed-lr and finetune: the encoder (`minilm`, a checkpoint folder such as an LMGC-M model, a hub id)
    model: str = "minilm"
    max_length: int = 256
    batch_size: int = 16
    # finetune
    epochs: float = 1.0
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_train_examples: int | None = None  # a seeded sample of the training cell (any kind)
    # word-lora: windows of words, LoRA adapters, the correction head's loss weight, a step cap
    window_words: int = 80
    lora_rank: int = 8
    lora_alpha: int = 16
    correction_weight: float = 0.5
    frequency_features: bool = False  # word-lora: general-English word frequencies as token-head inputs
    counterfactual: bool = False  # word-lora: paragraph evidence = score drops when each word's best alternative stands in
    window_mean: bool = False  # word-lora: a word's score = its mean logit over its windows (else the most central one's)
    max_steps: int | None = None
    # tfidf-*
    max_features: int = 50000
    ngram_max: int = 2
    # tfidf-* and embed-lr: inverse regularisation strength of the linear model
    c: float = 1.0
    seed: int = 0

    def validate(self) -> None:
        """Bad options are refused before the corpus is read or a model is loaded."""
        if self.kind not in KINDS:
            raise CohesiveError(f"unknown detector kind {self.kind!r}; choose from {', '.join(KINDS)}")
        for name in ("batch_size", "max_length", "max_features", "ngram_max", "window_words", "lora_rank", "lora_alpha"):
            if getattr(self, name) < 1:
                raise CohesiveError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("epochs", "learning_rate", "c"):
            if not getattr(self, name) > 0:
                raise CohesiveError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.weight_decay < 0:
            raise CohesiveError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.warmup_ratio < 1:
            raise CohesiveError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.correction_weight < 0:
            raise CohesiveError(f"correction_weight must be >= 0, got {self.correction_weight}")
        if self.max_steps is not None and self.max_steps < 1:
            raise CohesiveError(f"max_steps must be positive or null, got {self.max_steps}")
        if self.max_train_examples is not None and self.max_train_examples < 1:
            raise CohesiveError(f"max_train_examples must be positive or null, got {self.max_train_examples}")
        if self.kind in ENCODER_KINDS:
            from cohesive.models import check_model

            check_model(self.model)


def train_detector(config: DetectorTrainConfig) -> dict:
    """Train, threshold on validation, save to `output_dir`; returns the provenance it saved."""
    config.validate()
    manifest = read_manifest(config.corpus_dir)
    train = seeded_subsample(read_split(config.corpus_dir, "train"), config.max_train_examples, config.seed)
    validation = read_split(config.corpus_dir, "validation")
    options = {k: v for k, v in asdict(config).items() if k not in ("kind", "max_train_examples")}
    detector = build_detector(config.kind, **options)
    started = time.perf_counter()
    training_log = fit_detector(detector, train)
    train_seconds = time.perf_counter() - started
    validated = set_threshold(detector, validation)
    detector.info = {"train_cell": manifest["train_cell"], "corpus_dir": str(config.corpus_dir),
                     "train_examples": len(train), "train_seconds": round(train_seconds, 1), "validation": validated}
    if training_log:
        detector.info["training"] = {k: v for k, v in training_log.items() if k != "log"}
        detector.info["training"]["final"] = training_log["log"][-1] if training_log["log"] else None
    detector.save(config.output_dir)
    if training_log:
        write_json(config.output_dir / "training_log.json", training_log)
    return {"kind": config.kind, "output_dir": str(config.output_dir), "threshold": detector.threshold, **detector.info}


def fit_detector(detector, rows: list[dict]) -> dict | None:
    """Word-level detectors train on the rows' word labels, the others on texts and labels."""
    if hasattr(detector, "fit_rows"):
        return detector.fit_rows(rows)
    detector.fit([r["text"] for r in rows], [r["label"] for r in rows])
    return None


def set_threshold(detector, validation: list[dict]) -> dict:
    """Set the detector's threshold to the maximum validation macro-F1; returns the validation summary."""
    threshold, f1 = best_threshold([r["label"] for r in validation], validation_scores(detector, validation))
    detector.threshold = threshold
    return {"examples": len(validation), "macro_f1": round(f1, 4), "threshold": threshold}


def validation_scores(detector, rows: list[dict]):
    """Scores to choose the threshold on: a detector with a calibrated aggregate fits it here and
    returns out-of-fold probabilities, so the threshold is not chosen on the aggregate's own fit."""
    if hasattr(detector, "calibrate"):
        return detector.calibrate(rows)
    return detector([r["text"] for r in rows])


@dataclass
class DetectorCalibrateConfig:
    """A trained word-level detector recalibrated on a corpus's validation split: to switch its
    counterfactual evidence on or off without retraining, or to fit it to validation text of your own."""

    detector: Path = Path("runs/paraphrase/xdomain/word-lora")
    corpus_dir: Path = Path("runs/paraphrase/corpus")
    output_dir: Path = Path("runs/paraphrase/calibrated/word-lora")  # may be `detector` itself
    counterfactual: bool | None = None  # None: as the detector has it
    alternatives_per_word: int | None = None  # relatives tried per word by the counterfactual; None: as it has it
    window_mean: bool | None = None  # a word's score = its mean logit over its windows; None: as the detector has it


def calibrate_detector(config: DetectorCalibrateConfig) -> dict:
    """Refit the aggregate and the threshold on `corpus_dir`'s validation split; the weights are
    copied unchanged. Returns the new validation summary."""
    from cohesive.paraphrase.wordlevel import WEIGHTS_FILE, alternatives_count

    output = Path(config.output_dir)
    if output.exists() and not output.is_dir():
        raise CohesiveError(f"output_dir {output} is a file, not a folder")
    detector = load_detector(config.detector)
    if not hasattr(detector, "save_calibration"):
        raise CohesiveError(f"{config.detector} is a {detector.kind} detector: only word-level detectors are "
                            "recalibrated (retrain the others)")
    if config.counterfactual is not None:
        detector.counterfactual = config.counterfactual
    if config.alternatives_per_word is not None:
        detector.alternatives_per_word = alternatives_count(config.alternatives_per_word)
    if config.window_mean is not None:
        detector.window_mean = config.window_mean
    detector.info["validation"] = set_threshold(detector, read_split(config.corpus_dir, "validation"))
    options = {"counterfactual": detector.counterfactual, "alternatives_per_word": detector.alternatives_per_word,
               "window_mean": detector.window_mean}
    detector.info["calibrated"] = {"corpus_dir": str(config.corpus_dir), **options}
    source = Path(config.detector) / WEIGHTS_FILE
    if source.resolve() != (output / WEIGHTS_FILE).resolve():
        write_bytes(output / WEIGHTS_FILE, source.read_bytes())
    detector.save_calibration(output)
    return {"output_dir": str(output), **options, **detector.info["validation"]}
