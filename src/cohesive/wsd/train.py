"""`cohesive wsd train`: any WSD objective on HF Trainer, selected on dev (SemEval-2007) F1.

Each objective plugs its pieces (model, dataset, sampler, collator, dev scorer) into one Trainer
subclass that logs the loss parts, checkpoints through the model's own `save_pretrained`, and
saves the model to the output folder whenever dev F1 improves; the selected model is then scored
on the framework's datasets (alone and with the sense-frequency prior tuned on dev).
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from cohesive.atomic import write_bytes, write_json, write_text
from cohesive.config import dump_config
from cohesive.corpora.raganato import iter_instances, read_gold
from cohesive.errors import CohesiveError
from cohesive.files import read_json
from cohesive.lexicon import lexicon
from cohesive.models import resolve_model
from cohesive.paths import wsd_prefix
from cohesive.wsd.data import (
    BankCollator,
    Batcher,
    BatchList,
    BucketSampler,
    InstanceIndices,
    PairCollator,
    PairSet,
    ShuffledSampler,
    sentence_batches,
    training_pairs,
)
from cohesive.wsd.evaluate import evaluate_model
from cohesive.wsd.glossbank import GlossBankEncoder, bank_for, resolve_base
from cohesive.wsd.inference import BiEncoderPredictor, CrossEncoder, GlossBankPredictor
from cohesive.wsd.modeling import LEGACY_META, META_FILE, TRAINING_MARKER, BiEncoder, LmgcModel, read_model_meta
from cohesive.wsd.types import WsdTrainConfig

log = logging.getLogger(__name__)

BEST_FILE = "best.json"


class WsdTrainer(Trainer):
    """Trainer that batches by length, logs the loss parts, checkpoints through the model's own
    `save_pretrained`, and evaluates by dev F1, saving the model to `best_dir` when it improves."""

    def __init__(self, *args, make_sampler, dev_score, best_dir: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.make_sampler = make_sampler
        self.dev_score = dev_score
        self.best_dir = Path(best_dir)
        best = self.best_dir / BEST_FILE
        self.best_f1 = read_json(best, keys=["dev_f1"])["dev_f1"] if best.is_file() else -1.0
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
            write_json(self.best_dir / BEST_FILE, {"dev_f1": f1, "step": self.state.global_step})
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


def freeze_input_embeddings(model: torch.nn.Module) -> None:
    """Word embeddings (and a tied MLM decoder) fixed: cheaper CPU steps, the vocabulary stays put."""
    for module in model.modules():
        if hasattr(module, "get_input_embeddings") and module.get_input_embeddings() is not None:
            module.get_input_embeddings().weight.requires_grad_(False)


def training_arguments(config: WsdTrainConfig, loader_batch_size: int | None = None) -> TrainingArguments:
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


def train(config: WsdTrainConfig) -> dict:
    """Train as configured, keep the best dev-F1 model in `output_dir`, evaluate it on `datasets`.

    Returns the summary also written to `output_dir/summary.json`."""
    config.validate()
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(config.model), trust_remote_code=False)
    system = _system(config, tokenizer)
    if config.freeze_embeddings:
        freeze_input_embeddings(system.model)
    train_set = training_pairs(config, tokenizer, system.marker)
    dev_instances, dev_score = _dev(config, system)
    marker = config.output_dir / TRAINING_MARKER  # `wsd predict`/`tag` refuse the folder until training ends
    write_text(marker, f"pid {os.getpid()}\n")
    dump_config(config, config.output_dir / "train_config.yaml")  # only once the inputs were read
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
    marker.unlink()
    summary["results"] = evaluate_model(config.output_dir, config.datasets, config.output_dir / "eval",
                                        config.eval_batch_pairs, dev=config.dev, save_prior=True)
    write_json(config.output_dir / "summary.json", summary)
    if config.export_dir:
        export_model(config.output_dir, config.export_dir)
    return summary


#: Folders of a training run that prediction does not need (and the peft boilerplate card).
NOT_EXPORTED = ("checkpoints", "eval", "adapter/README.md", *LEGACY_META)


def export_model(model_dir: Path, target: Path) -> None:
    """Copy what a trained model needs to predict, plus its config and summary, to `target` (e.g. the
    package's shipped folder); the model description is written in the current `wsd_model.json` form.
    Files of `target` that are not part of a model (its README.md model card) are left alone."""
    model_dir, target = Path(model_dir), Path(target)
    meta = read_model_meta(model_dir)
    if meta is None:
        raise CohesiveError(f"{model_dir} is not a trained WSD model: nothing to export")
    for path in sorted(model_dir.rglob("*")):
        relative = path.relative_to(model_dir).as_posix()
        if path.is_file() and not any(relative == x or relative.startswith(f"{x}/") for x in NOT_EXPORTED):
            write_bytes(target / relative, path.read_bytes())
    write_json(target / META_FILE, meta)
    log.info("exported %s to %s", model_dir, target)


def _dev(config: WsdTrainConfig, system):
    """Dev instances and the F1 function used for model selection (None, None without a dev set)."""
    if not config.dev:
        return None, None
    prefix = wsd_prefix(config.dev)
    instances = list(iter_instances(prefix))
    return instances, system.dev_scorer(instances, read_gold(prefix, [i.id for i in instances]))


def _system(config: WsdTrainConfig, tokenizer):
    """The model-specific pieces (cross-encoder or bi-encoder) that `train` plugs into the Trainer."""
    if config.objective == "bem":
        return BiEncoderSystem(config, tokenizer)
    if config.objective in ("gloss-bank", "gloss-bank-m"):
        return GlossBankSystem(config, tokenizer)
    return CrossEncoderSystem(config, tokenizer)


def dev_f1(predictor, instances, gold):
    """The selection score: F1 of the model being trained on the dev instances (pairs built once)."""
    pairs = predictor.encoder.build(instances, desc="dev pairs")
    return lambda model: predictor.f1(pairs, gold)


class CrossEncoderSystem:
    """LMGC / LMGC-M training pieces: the pairs themselves are the dataset."""

    marker = '"'

    def __init__(self, config: WsdTrainConfig, tokenizer):
        self.config = config
        self.tokenizer = tokenizer
        self.model = LmgcModel.from_pretrained(config.model, config.objective, config.pair_head)
        self.model.max_length, self.model.max_gloss_tokens = config.max_length, config.max_gloss_tokens

    def dataset(self, pairs):
        return pairs

    def sampler(self, dataset, batch_size: int, seed: int):
        return BucketSampler(dataset.lengths, batch_size, seed=seed)

    def collator(self, pairs):
        mlm = self.config.mlm_probability if self.config.objective == "lmgc-m" else 0.0
        return PairCollator(self.tokenizer, mlm, seed=self.config.seed)

    def dev_scorer(self, instances, gold):
        return dev_f1(CrossEncoder(self.model, self.tokenizer, batch_pairs=self.config.eval_batch_pairs), instances, gold)


class BiEncoderSystem:
    """Training pieces for `objective: bem`; `batch_size` counts instances."""

    marker = ""

    def __init__(self, config: WsdTrainConfig, tokenizer):
        self.config = config
        self.tokenizer = tokenizer
        self.model = BiEncoder.from_pretrained(config.model, config.max_length, config.max_gloss_tokens)

    def dataset(self, pairs: PairSet) -> InstanceIndices:
        return InstanceIndices(np.array([len(c) for c in pairs.contexts])[pairs.instance_context])

    def sampler(self, dataset: InstanceIndices, batch_size: int, seed: int):
        return BucketSampler(dataset.lengths, batch_size, seed=seed)

    def collator(self, pairs: PairSet) -> Batcher:
        return Batcher(pairs, self.tokenizer)

    def dev_scorer(self, instances, gold):
        return dev_f1(BiEncoderPredictor(self.model, self.tokenizer, batch_pairs=self.config.eval_batch_pairs), instances, gold)


class GlossBankSystem:
    """Training pieces for `objective: gloss-bank` (and `gloss-bank-m`, which adds masked contexts and
    the base's MLM loss); `batch_size` counts targets (whole sentences)."""

    marker = ""
    loader_batch_size = 1
    saves_tokenizer = False  # the base model's tokenizer is used: the folder stays a small delta

    def __init__(self, config, tokenizer):
        self.config = config
        self.tokenizer = tokenizer
        self.model = GlossBankEncoder.create(resolve_base(config.model), config.lora_rank, config.lora_alpha,
                                             config.lora_dropout, config.max_length, config.max_gloss_tokens,
                                             config.sense_rank, mlm=config.objective == "gloss-bank-m")
        self.bank = bank_for(self.model.meta, tokenizer, lexicon())

    def dataset(self, pairs: PairSet) -> BatchList:
        """Sentence batches; first use of the training data, so the sense-offset table (the senses
        seen as gold) is made here, before the Trainer builds its optimiser."""
        gold_glosses = np.unique(pairs.pair_gloss[pairs.labels == 1])
        self.model.add_senses([pairs.gloss_keys[g] for g in gold_glosses])
        return BatchList(sentence_batches(pairs, self.config.batch_size, self.config.seed))

    def sampler(self, dataset: BatchList, batch_size: int, seed: int) -> ShuffledSampler:
        return ShuffledSampler(len(dataset), seed)

    def collator(self, pairs: PairSet) -> BankCollator:
        bank = self.bank.vectors(pairs.gloss_keys, desc="gloss bank (train)")
        senses = self.model.sense_ids(pairs.gloss_keys) if self.model.sense_codes is not None else None
        mlm = self.config.mlm_probability if self.config.objective == "gloss-bank-m" else 0.0
        return BankCollator(pairs, self.tokenizer, bank, senses, mlm, seed=self.config.seed)

    def dev_scorer(self, instances, gold):
        return dev_f1(GlossBankPredictor(self.model, self.tokenizer, self.bank, self.config.eval_batch_pairs), instances, gold)
