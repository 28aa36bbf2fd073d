"""LMGC and LMGC-M: WordNet glosses taught to any encoder as context-gloss pair classification.

LMGC puts a 2-way classifier (match / no match) on the pair's first token. LMGC-M masks the same
pair input (15%, 80/10/10) and adds the masked-LM loss of the model's own MLM head, unweighted,
so that the encoder keeps its language-modelling ability. For BERT checkpoints that carry a
next-sentence head (BertForPreTraining), `pair_head="nsp"` uses it as the classifier: no new
parameter, as in the thesis. NSP's class 0 means "B follows A", so its logits are flipped to
keep index 1 = match everywhere.

A trained model folder is a plain `save_pretrained` checkpoint of the backbone (usable as an
AutoModelForMaskedLM for GLUE afterwards), plus `pair_head.safetensors` (linear head only),
`lmgc.json` and the tokenizer. Training runs on HF Trainer; the model is selected on dev
(SemEval-2007) F1, not on loss, and saved whenever dev F1 improves.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoTokenizer,
    BertForPreTraining,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.trainer_utils import get_last_checkpoint

from cohesive.distill.mlm import IGNORE, mlm_head
from cohesive.errors import CohesiveError
from cohesive.models import resolve_model

log = logging.getLogger(__name__)

OBJECTIVES = ("lmgc", "lmgc-m", "bem", "gloss-bank")
PAIR_HEADS = ("auto", "linear", "nsp")
META_FILE = "lmgc.json"
PAIR_HEAD_FILE = "pair_head.safetensors"
BEST_FILE = "best.json"


class PairHead(nn.Module):
    """BERT's pooler + classifier (dense, tanh, linear to 2) on the first token, for any encoder."""

    def __init__(self, hidden: int, dropout: float = 0.1):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, 2)

    def forward(self, first_token: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(torch.tanh(self.dense(self.dropout(first_token)))))


@dataclass
class WsdOutput:
    """Loss (None without labels), pair logits (index 1 = match) and the loss parts for logging."""

    loss: torch.Tensor | None
    logits: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


class LmgcModel(nn.Module):
    """Backbone + pair classifier; with objective `lmgc-m`, also the MLM loss on the same (masked) input."""

    def __init__(self, backbone: nn.Module, pair_head: str = "linear", objective: str = "lmgc",
                 max_length: int = 128, max_gloss_tokens: int = 48):
        super().__init__()
        if objective not in ("lmgc", "lmgc-m"):
            raise CohesiveError(f"LmgcModel objective must be lmgc or lmgc-m, got {objective!r}")
        self.backbone = backbone
        self.pair_head_kind = pair_head
        self.objective = objective
        self.max_length = max_length
        self.max_gloss_tokens = max_gloss_tokens
        if pair_head == "nsp":
            if not _has_nsp_head(backbone):
                raise CohesiveError(f"{type(backbone).__name__} has no next-sentence head; use pair_head=linear")
            self.classifier = None
        elif pair_head == "linear":
            config = backbone.config
            dropout = getattr(config, "hidden_dropout_prob", getattr(config, "dropout", 0.1))
            self.classifier = PairHead(config.hidden_size, dropout)
        else:
            raise CohesiveError(f"unknown pair_head {pair_head!r}; choose from {', '.join(PAIR_HEADS)}")
        if objective == "lmgc-m":
            self.lm_head()  # fail now, not at the first step

    def lm_head(self) -> nn.Module:
        """The backbone's masked-LM head (BertForPreTraining keeps it next to the NSP head)."""
        heads = getattr(self.backbone, "cls", None)
        if heads is not None and hasattr(heads, "seq_relationship"):
            return heads.predictions
        try:
            return mlm_head(self.backbone)
        except CohesiveError:
            raise CohesiveError(f"LMGC-M needs a masked-LM head and {type(self.backbone).__name__} has none; "
                                "use objective=lmgc or an AutoModelForMaskedLM checkpoint") from None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, mlm_labels: torch.Tensor | None = None) -> WsdOutput:
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        out = self.backbone.base_model(input_ids=input_ids, attention_mask=attention_mask, **extra)
        hidden = out.last_hidden_state
        if self.classifier is None:
            logits = self.backbone.cls.seq_relationship(out.pooler_output).flip(-1)
        else:
            logits = self.classifier(hidden[:, 0])
        parts = {}
        if labels is not None:
            parts["pair"] = F.cross_entropy(logits, labels)
        if mlm_labels is not None and self.objective == "lmgc-m":
            parts["mlm"] = self._mlm_loss(hidden, mlm_labels)
        loss = sum(parts.values()) if parts else None
        return WsdOutput(loss, logits, {k: v.detach() for k, v in parts.items()})

    def _mlm_loss(self, hidden: torch.Tensor, mlm_labels: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits only at the masked positions (the projection dominates CPU cost)."""
        where = mlm_labels != IGNORE
        if not where.any():
            return hidden.sum() * 0.0
        return F.cross_entropy(self.lm_head()(hidden[where]), mlm_labels[where])

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        self.backbone.save_pretrained(str(directory))
        if self.classifier is not None:
            weights = {k: v.contiguous() for k, v in self.classifier.state_dict().items()}
            save_file(weights, str(directory / PAIR_HEAD_FILE))
        meta = {"format": 1, "pair_head": self.pair_head_kind, "objective": self.objective,
                "max_length": self.max_length, "max_gloss_tokens": self.max_gloss_tokens}
        (directory / META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def from_pretrained(cls, name: str | Path, objective: str | None = None, pair_head: str = "auto",
                        max_length: int = 128, max_gloss_tokens: int = 48) -> LmgcModel:
        """A trained LMGC folder (its own settings), or a fresh pair head on any encoder checkpoint."""
        path = resolve_model(str(name))
        meta_file = Path(path) / META_FILE
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        objective = objective or meta.get("objective", "lmgc")
        kind = meta.get("pair_head") or _choose_pair_head(path, pair_head)
        model = cls(_load_backbone(path, kind, objective), kind, objective, meta.get("max_length", max_length),
                    meta.get("max_gloss_tokens", max_gloss_tokens))
        if meta and model.classifier is not None:
            model.classifier.load_state_dict(load_file(str(Path(path) / PAIR_HEAD_FILE)))
        return model


def _has_nsp_head(backbone: nn.Module) -> bool:
    return hasattr(getattr(backbone, "cls", None), "seq_relationship")


def checkpoint_keys(path: str) -> set[str]:
    """Weight names stored in a safetensors checkpoint folder (empty when it has none)."""
    index = Path(path) / "model.safetensors.index.json"
    if index.is_file():
        return set(json.loads(index.read_text())["weight_map"])
    single = Path(path) / "model.safetensors"
    if not single.is_file():
        return set()
    from safetensors import safe_open

    with safe_open(str(single), framework="pt") as weights:
        return set(weights.keys())


def _choose_pair_head(path: str, requested: str) -> str:
    """`auto`: the NSP head when the checkpoint has trained NSP weights, else a new linear head."""
    if requested not in PAIR_HEADS:
        raise CohesiveError(f"unknown pair_head {requested!r}; choose from {', '.join(PAIR_HEADS)}")
    has_nsp = "cls.seq_relationship.weight" in checkpoint_keys(path)
    if requested == "nsp" and not has_nsp:
        log.warning("%s has no trained next-sentence head: the NSP classifier starts from random weights", path)
    if requested == "auto":
        return "nsp" if has_nsp else "linear"
    return requested


def _load_backbone(path: str, pair_head: str, objective: str) -> nn.Module:
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=False)
    except OSError as exc:
        raise CohesiveError(f"cannot load model {path!r}: {str(exc).splitlines()[0]}") from None
    if pair_head == "nsp":
        if config.model_type != "bert":
            raise CohesiveError(f"{path}: pair_head=nsp needs a BERT checkpoint, not {config.model_type}")
        return BertForPreTraining.from_pretrained(path)
    try:
        return AutoModelForMaskedLM.from_pretrained(path, trust_remote_code=False)
    except ValueError:
        if objective == "lmgc-m":
            raise CohesiveError(f"{path}: {config.model_type} models have no masked-LM head, which LMGC-M needs; "
                                "use objective=lmgc") from None
        return AutoModel.from_pretrained(path, trust_remote_code=False)


@dataclass
class LmgcConfig:
    """`cohesive wsd train`: LMGC / LMGC-M cross-encoder or BEM bi-encoder on SemCor, selected on dev F1."""

    model: str = "minilm"  # `minilm` (embedded default) or a checkpoint folder (e.g. a distilled student)
    output_dir: Path = Path("runs/lmgc/minilm")
    objective: str = "lmgc-m"  # lmgc | lmgc-m | bem (bi-encoder) | gloss-bank (LoRA bi-encoder, frozen gloss bank)
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

    def validate(self) -> None:
        if self.objective not in OBJECTIVES:
            raise CohesiveError(f"unknown objective {self.objective!r}; choose from {', '.join(OBJECTIVES)}")
        if self.pair_head not in PAIR_HEADS:
            raise CohesiveError(f"unknown pair_head {self.pair_head!r}; choose from {', '.join(PAIR_HEADS)}")
        if not 0 <= self.warmup_ratio < 1:
            raise CohesiveError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")


class WsdTrainer(Trainer):
    """Trainer that batches by length, logs the loss parts, checkpoints through the model's own
    `save_pretrained`, and evaluates by dev F1, saving the model to `best_dir` when it improves."""

    def __init__(self, *args, make_sampler, dev_score, best_dir: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.make_sampler = make_sampler
        self.dev_score = dev_score
        self.best_dir = Path(best_dir)
        best = self.best_dir / BEST_FILE
        self.best_f1 = json.loads(best.read_text())["dev_f1"] if best.is_file() else -1.0
        self.evaluated_at: int | None = None
        self._running: dict[str, list[float]] = defaultdict(list)
        self.add_callback(FollowConfiguredIntervals())

    def _get_train_sampler(self, train_dataset=None):
        return self.make_sampler(self.args.train_batch_size, self.args.seed)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        out = model(**inputs)
        for name, value in out.parts.items():
            self._running[name].append(value.item())
        return (out.loss, out) if return_outputs else out.loss

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        for name, values in self._running.items():
            if values:
                logs[f"loss_{name}"] = sum(values) / len(values)
        self._running.clear()
        super().log(logs, *args, **kwargs)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        model = self.accelerator.unwrap_model(self.model)
        f1 = self.dev_score(model)
        self.evaluated_at = self.state.global_step
        metrics = {f"{metric_key_prefix}_dev_f1": f1}
        if f1 > self.best_f1 and self.is_world_process_zero():
            self.best_f1 = f1
            self._save(str(self.best_dir))
            (self.best_dir / BEST_FILE).write_text(json.dumps({"dev_f1": f1, "step": self.state.global_step}))
            metrics[f"{metric_key_prefix}_best_dev_f1"] = f1
        self.log(metrics)
        return metrics

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        output_dir = output_dir or self.args.output_dir
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        self.accelerator.unwrap_model(self.model).save_pretrained(output_dir)
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        target = model or self.model
        target.load_state_dict(type(target).from_pretrained(resume_from_checkpoint).state_dict())


class FollowConfiguredIntervals(TrainerCallback):
    """HF restores the logging/eval/save intervals of the checkpoint it resumes from; a resumed run
    should follow the intervals of its own (possibly changed) config."""

    def on_train_begin(self, args, state, control, **kwargs):
        state.compute_steps(args, state.max_steps)


def training_arguments(config: LmgcConfig, loader_batch_size: int | None = None) -> TrainingArguments:
    evaluate = "steps" if config.dev else "no"
    return TrainingArguments(
        output_dir=str(config.output_dir / "checkpoints"),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=loader_batch_size or config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        lr_scheduler_type="linear",
        eval_strategy=evaluate,
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=1,
        logging_steps=config.logging_steps,
        seed=config.seed,
        data_seed=config.seed,
        remove_unused_columns=False,
        label_names=["labels"],
        report_to=[],
        dataloader_num_workers=0,
        disable_tqdm=None,
        use_cpu=not torch.cuda.is_available(),
    )


def train(config: LmgcConfig) -> dict:
    """Train as configured, keep the best dev-F1 model in `output_dir`, evaluate it on `datasets`.

    Returns the summary also written to `output_dir/summary.json`."""
    config.validate()
    from cohesive.config import dump_config

    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(config.model), trust_remote_code=False)
    system = _system(config, tokenizer)
    if config.freeze_embeddings:
        for module in system.model.modules():
            if hasattr(module, "get_input_embeddings") and module.get_input_embeddings() is not None:
                module.get_input_embeddings().weight.requires_grad_(False)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    dump_config(config, config.output_dir / "train_config.yaml")
    train_set = training_pairs(config, tokenizer, system.marker)
    dev_instances, dev_score = _dev(config, system)
    checkpoints = config.output_dir / "checkpoints"
    last = get_last_checkpoint(str(checkpoints)) if config.resume and checkpoints.is_dir() else None
    if last is None:
        (config.output_dir / BEST_FILE).unlink(missing_ok=True)  # a fresh run selects afresh
    dataset = system.dataset(train_set)
    trainer = WsdTrainer(
        model=system.model, args=training_arguments(config, getattr(system, "loader_batch_size", None)),
        train_dataset=dataset,
        eval_dataset=dev_instances,  # scored by WsdTrainer.evaluate (dev F1), never batched by Trainer
        data_collator=system.collator(train_set),
        processing_class=tokenizer if getattr(system, "saves_tokenizer", True) else None,
        make_sampler=lambda batch_size, seed: system.sampler(dataset, batch_size, seed),
        dev_score=dev_score, best_dir=config.output_dir,
    )
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=last)
    if not config.dev:
        trainer._save(str(config.output_dir))
    elif trainer.evaluated_at != trainer.state.global_step:
        trainer.evaluate()  # the steps since the last evaluation
    summary = {"train_seconds": round(time.monotonic() - started, 1), "instances": len(train_set.instance_ids),
               "pairs": len(train_set), "positives": int(train_set.labels.sum()),
               "best_dev_f1": trainer.best_f1 if config.dev else None, "steps": trainer.state.global_step,
               "train_loss": [round(e["loss"], 4) for e in trainer.state.log_history if "loss" in e]}
    from cohesive.wsd.evaluate import evaluate_model

    summary["results"] = evaluate_model(config.output_dir, config.datasets, config.output_dir / "eval",
                                        config.eval_batch_pairs, dev=config.dev)
    (config.output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def training_pairs(config: LmgcConfig, tokenizer, marker: str):
    """The sub-sampled training pairs (SemCor or any Raganato corpus with gold keys)."""
    from cohesive.corpora.raganato import gold_path, iter_instances, read_keys
    from cohesive.lexicon import lexicon
    from cohesive.paths import semcor_prefix, wsd_prefix
    from cohesive.wsd.pairs import PairEncoder, Sampling

    prefix = semcor_prefix() if config.train_data == "semcor" else wsd_prefix(config.train_data)
    encoder = PairEncoder(tokenizer, lexicon(), config.max_length, config.max_gloss_tokens, marker=marker)
    sampling = Sampling(config.instance_share, config.max_candidates, config.negatives_per_positive, config.seed)
    pairs = encoder.build(iter_instances(prefix), read_keys(gold_path(prefix)), sampling, desc=f"pairs {prefix.name}")
    log.info("training on %d instances, %d pairs (%d positive)", len(pairs.instance_ids), len(pairs),
             int(pairs.labels.sum()))
    return pairs


def _dev(config: LmgcConfig, system):
    """Dev instances and the F1 function used for model selection (None, None without a dev set)."""
    if not config.dev:
        return None, None
    from cohesive.corpora.raganato import iter_instances, read_gold
    from cohesive.paths import wsd_prefix

    prefix = wsd_prefix(config.dev)
    instances = list(iter_instances(prefix))
    return instances, system.dev_scorer(instances, read_gold(prefix, [i.id for i in instances]))


def _system(config: LmgcConfig, tokenizer):
    """The model-specific pieces (cross-encoder or bi-encoder) that `train` plugs into the Trainer."""
    if config.objective == "bem":
        from cohesive.wsd.biencoder import BiEncoderSystem

        return BiEncoderSystem(config, tokenizer)
    if config.objective == "gloss-bank":
        from cohesive.wsd.glossbank import GlossBankSystem

        return GlossBankSystem(config, tokenizer)
    return CrossEncoderSystem(config, tokenizer)


class CrossEncoderSystem:
    """LMGC / LMGC-M training pieces: the pairs themselves are the dataset."""

    marker = '"'

    def __init__(self, config: LmgcConfig, tokenizer):
        self.config = config
        self.tokenizer = tokenizer
        self.model = LmgcModel.from_pretrained(config.model, config.objective, config.pair_head)
        self.model.max_length, self.model.max_gloss_tokens = config.max_length, config.max_gloss_tokens

    def dataset(self, pairs):
        return pairs

    def sampler(self, dataset, batch_size: int, seed: int):
        from cohesive.wsd.pairs import BucketSampler

        return BucketSampler(dataset.lengths, batch_size, seed=seed)

    def collator(self, pairs):
        from cohesive.wsd.pairs import PairCollator

        mlm = self.config.mlm_probability if self.config.objective == "lmgc-m" else 0.0
        return PairCollator(self.tokenizer, mlm, seed=self.config.seed)

    def dev_scorer(self, instances, gold):
        from cohesive.wsd.predict import CrossEncoder

        predictor = CrossEncoder(self.model, self.tokenizer, batch_pairs=self.config.eval_batch_pairs)
        pairs = predictor.encoder.build(instances, desc="dev pairs")
        return lambda model: predictor.f1(pairs, gold)
