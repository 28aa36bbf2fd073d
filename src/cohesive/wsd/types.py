"""The types every layer of `cohesive.wsd` shares: model outputs, predictions and the training config.

Module layers (each imports only the ones before it; tests/test_wsd_layers.py checks it):
scorer, tagger -> types -> baselines -> data -> modeling -> glossbank -> prior -> inference ->
evaluate -> train -> disambiguate -> cli.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cohesive.errors import CohesiveError

if TYPE_CHECKING:  # annotations only: the CLI imports this module and must start fast
    import torch

OBJECTIVES = ("lmgc", "lmgc-m", "bem", "gloss-bank", "gloss-bank-m")
BASELINES = ("first-sense", "lesk", "mfs")
DATASET_ORDER = ["SE07", "SE2", "SE3", "SE13", "SE15", "ALL"]
PAIR_HEADS = ("auto", "linear", "nsp")


@dataclass
class WsdEvalConfig:
    """`cohesive wsd evaluate --method/--config`: knowledge-based baselines on the Raganato framework."""

    methods: list[str] = field(default_factory=lambda: ["first-sense"])
    datasets: list[str] = field(default_factory=lambda: list(DATASET_ORDER))
    output_dir: Path = Path("runs/wsd-eval/baselines")


@dataclass
class WsdOutput:
    """Loss (None without labels), pair logits (index 1 = match) and the loss parts for logging."""

    loss: torch.Tensor | None
    logits: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class Prediction:
    """The chosen sense and its probability; the runner-up (second-best candidate, None when the
    lemma has one sense) lets a reader see how close the choice was."""

    key: str
    probability: float
    runner_up: str | None = None
    runner_up_probability: float | None = None


@dataclass
class WsdTrainConfig:
    """`cohesive wsd train`, every objective: LMGC / LMGC-M cross-encoder, BEM bi-encoder or gloss-bank
    bi-encoder, trained on SemCor (or any Raganato corpus) and selected on dev F1."""

    model: str = "minilm"  # `minilm` (embedded default) or a checkpoint folder (e.g. a distilled student)
    output_dir: Path = Path("runs/lmgc/minilm")
    objective: str = "lmgc-m"  # lmgc | lmgc-m | bem (bi-encoder) | gloss-bank (LoRA bi-encoder, frozen gloss bank)
    #                          | gloss-bank-m (gloss-bank + MLM on the same context pass; base needs an MLM head)
    pair_head: str = "auto"  # auto | linear | nsp (BERT's next-sentence head, no new parameters)
    train_data: str = "semcor"  # `semcor` or a Raganato path prefix
    # SemCor sub-sampling (full SemCor: ~226k instances, ~1.5M pairs)
    instance_share: float = 1.0
    max_candidates: int | None = None
    negatives_per_positive: int | None = None
    # pair format
    max_length: int = 128
    max_gloss_tokens: int = 48
    mlm_probability: float = 0.15
    # gloss-bank: LoRA adapters on the context encoder
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.05
    sense_rank: int = 0  # > 0: a learnt rank-r offset for every sense seen as gold in training
    freeze_embeddings: bool = False  # word embeddings (and the tied MLM decoder) fixed: cheaper CPU steps
    # selection and final evaluation
    dev: str | None = "SE07"  # None: no selection, the final model is kept
    datasets: list[str] = field(default_factory=lambda: ["SE07", "SE2", "SE3", "SE13", "SE15", "ALL"])
    eval_batch_pairs: int = 256
    # optimisation (AdamW, linear decay)
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 32  # pairs per step (instances for bem, at least this many targets of whole sentences for gloss-bank)
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.0
    weight_decay: float = 0.01
    eval_steps: int = 2000
    save_steps: int = 2000
    logging_steps: int = 50
    seed: int = 42
    resume: bool = True  # continue from the newest checkpoint under output_dir/checkpoints
    export_dir: Path | None = None  # also copy the finished model (no checkpoints, no key files) here

    def validate(self) -> None:
        if self.objective not in OBJECTIVES:
            raise CohesiveError(f"unknown objective {self.objective!r}; choose from {', '.join(OBJECTIVES)}")
        if self.pair_head not in PAIR_HEADS:
            raise CohesiveError(f"unknown pair_head {self.pair_head!r}; choose from {', '.join(PAIR_HEADS)}")
        if not 0 <= self.warmup_ratio < 1:
            raise CohesiveError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
