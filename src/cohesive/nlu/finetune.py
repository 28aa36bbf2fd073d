"""`cohesive nlu finetune`: one encoder on one GLUE task, several seeds, scored on the dev set.

Each seed runs HF Trainer on a new classification head over any checkpoint's encoder (the embedded
MiniLM, a distilled student, an LMGC / LMGC-M folder). `pooling: mean` (the default) puts the head
on the masked mean of the token states (:class:`MeanPoolClassifier`, how sentence encoders such as
MiniLM were trained); `pooling: cls` uses `AutoModelForSequenceClassification` (BERT's `[CLS]`
pooler). Batches are padded to their longest row and, with `group_by_length`, drawn from rows of
similar length, which is what makes a CPU fine-tune fast (benchmarks/nlu_finetune_speed.py).
A seed's `result.json` marks it done, so a rerun skips it, unless the model's weights changed since
(then the stale seed runs again); an interrupted seed resumes from its last Trainer checkpoint, and
checkpoints are deleted once the seed is scored.

Layout: `output_dir/<model name>/<task>/seed<k>/{options.json,result.json}` and, over the seeds,
`output_dir/<model name>/<task>/results.{json,md}`.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import SequentialSampler
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from cohesive.atomic import write_json, write_text
from cohesive.corpora.glue import (
    GlueExample,
    TaskSpec,
    read_split,
    split_file,
    task_spec,
)
from cohesive.errors import CohesiveError
from cohesive.files import read_json
from cohesive.models import check_model, load_pretrained, model_fingerprint, model_label
from cohesive.nlu.metrics import task_metrics
from cohesive.nlu.pooling import BiEncoderClassifier, MeanPoolClassifier, PairCollator
from cohesive.sampling import seeded_subsample
from cohesive.seedruns import OPTIONS_FILE, prepare_seed_dirs

log = logging.getLogger(__name__)
RESULT_FILE = "result.json"
#: Options that change a seed's result: a finished or interrupted seed must have been run with the same.
RESULT_OPTIONS = ("epochs", "max_steps", "batch_size", "learning_rate", "max_length", "warmup_ratio",
                  "weight_decay", "max_train_examples", "pooling", "group_by_length", "pair_encoding")
#: Options added after runs were recorded, with the value those runs used (a missing key means it).
ADDED_OPTIONS = {"pair_encoding": "cross"}
POOLINGS = ("mean", "cls")
PAIR_ENCODINGS = ("cross", "bi")


@dataclass
class FinetuneOptions:
    """Training and evaluation options shared by `nlu finetune` and `nlu suite`."""

    output_dir: Path = Path("runs/nlu")
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    epochs: float = 3.0
    max_steps: int = -1  # > 0: stop after this many steps whatever `epochs` says
    batch_size: int = 32
    eval_batch_size: int = 64
    learning_rate: float = 5e-5
    max_length: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_train_examples: int | None = None  # None: the whole train set; else a subsample drawn with each seed
    save_steps: int = 200  # Trainer checkpoints (deleted when the seed is done) for resuming a killed run
    logging_steps: int = 50
    save_model: bool = False  # keep each seed's fine-tuned weights in seed<k>/model
    pooling: str = "mean"  # mean: masked mean of the token states; cls: the checkpoint's [CLS] pooler
    group_by_length: bool = True  # batches of similar lengths (less padding, same examples per epoch)
    pair_encoding: str = "cross"  # sentence pairs: cross (one joint input) or bi (each sentence alone; mean pooling)
    threads: int | None = None  # torch CPU threads (None: torch's default)

    def validate(self) -> None:
        if not self.seeds:
            raise CohesiveError("no seeds configured (e.g. --set seeds=[1,2,3])")
        if len(set(self.seeds)) != len(self.seeds):
            raise CohesiveError(f"seeds repeat: {self.seeds}")
        if not 0 <= self.warmup_ratio < 1:
            raise CohesiveError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.pooling not in POOLINGS:
            raise CohesiveError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.pair_encoding not in PAIR_ENCODINGS:
            raise CohesiveError(f"pair_encoding must be one of {', '.join(PAIR_ENCODINGS)}, got {self.pair_encoding!r}")
        if self.pair_encoding == "bi" and self.pooling != "mean":
            raise CohesiveError("pair_encoding bi encodes each sentence with mean pooling: set pooling: mean")
        if self.threads is not None and self.threads < 1:
            raise CohesiveError(f"threads must be positive or null, got {self.threads}")
        if self.max_train_examples is not None and self.max_train_examples < 1:
            raise CohesiveError(f"max_train_examples must be positive or null, got {self.max_train_examples}")
        for name in ("batch_size", "eval_batch_size", "max_length", "save_steps", "logging_steps"):
            if getattr(self, name) < 1:
                raise CohesiveError(f"{name} must be positive, got {getattr(self, name)}")


@dataclass
class NluConfig(FinetuneOptions):
    """`cohesive nlu finetune`: one model, one task."""

    model: str = "minilm"  # `minilm`, a checkpoint folder or a hub id; `NAME=PATH` names it in tables
    task: str = "rte"

    def validate(self) -> None:
        super().validate()
        check_inputs([self.model], [self.task])


def check_inputs(models: list[str], tasks: list[str]) -> None:
    """Missing data and models that cannot be loaded (checked by reading their config) are refused
    before any folder is written or any training starts."""
    for task in tasks:
        for split in ("train", "dev"):
            split_file(task, split)
    for model in models:
        check_model(model_label(model)[1])


def run_dir(config: NluConfig) -> Path:
    """Where a model x task's seeds and summary go."""
    return config.output_dir / model_label(config.model)[0] / task_spec(config.task).name


def finetune(config: NluConfig) -> dict:
    """Run (or skip, or resume) every seed, then write and return the mean and std over seeds."""
    config.validate()
    use_threads(config)
    spec = task_spec(config.task)
    folder = run_dir(config)
    fingerprint = model_fingerprint(model_label(config.model)[1])
    claims = [(folder / f"seed{seed}", _options(config, spec, seed, fingerprint)) for seed in config.seeds]
    prepare_seed_dirs(claims, ADDED_OPTIONS)
    pending = [s for s in config.seeds if not (folder / f"seed{s}" / RESULT_FILE).is_file()]
    runner = SeedRunner(config, spec) if pending else None
    name = model_label(config.model)[0]
    for number, seed in enumerate(config.seeds, 1):
        if seed in pending:
            log.info("%s / %s: seed %d (%d of %d)", name, spec.name, seed, number, len(config.seeds))
            runner.run(seed, folder / f"seed{seed}")
        else:
            log.info("%s / %s: seed %d already done, skipped", name, spec.name, seed)
    results = [read_json(folder / f"seed{s}" / RESULT_FILE) for s in config.seeds]
    summary = summarise(results, config)
    write_json(folder / "results.json", summary)
    write_text(folder / "results.md", metrics_markdown([summary]))
    return summary


def use_threads(config: FinetuneOptions) -> None:
    """Pin torch's CPU threads when configured, so a run shares the machine predictably."""
    if config.threads is not None:
        torch.set_num_threads(config.threads)


def _options(config: NluConfig, spec: TaskSpec, seed: int, fingerprint: str) -> dict:
    return {"model": model_label(config.model)[1], "model_fingerprint": fingerprint, "task": spec.name,
            "seed": seed, **{name: getattr(config, name) for name in RESULT_OPTIONS}}


class OrderedEvalTrainer(Trainer):
    """A Trainer whose predictions come back in dataset order. transformers 5 applies
    `train_sampling_strategy="group_by_length"` to evaluation as well, which returns predictions
    in a length-grouped order that no longer lines up with the labels."""

    def _get_eval_sampler(self, eval_dataset):
        return SequentialSampler(eval_dataset)


class SeedRunner:
    """Reads the task and loads the tokenizer once for all of a model x task's seeds."""

    def __init__(self, config: NluConfig, spec: TaskSpec):
        self.config, self.spec = config, spec
        self.train_examples = read_split(spec.name, "train")
        self.dev_examples = read_split(spec.name, "dev")
        self.path = model_label(config.model)[1]
        self.tokenizer = load_pretrained(AutoTokenizer, self.path)
        self.dev = self.encode(self.dev_examples)

    @property
    def bi_encoder(self) -> bool:
        """Bi-encoding applies to sentence-pair tasks; single sentences are mean-pooled as they are."""
        return self.config.pair_encoding == "bi" and len(self.spec.text_columns) == 2

    def encode(self, examples: list[GlueExample]) -> list[dict]:
        """Token ids without padding (the collator pads each batch to its longest row); a bi-encoder's
        second sentences are tokenised alone, under `<key>_b`."""
        if self.bi_encoder:
            first = self.tokenizer([e.text_a for e in examples], truncation=True, max_length=self.config.max_length)
            second = self.tokenizer([e.text_b for e in examples], truncation=True, max_length=self.config.max_length)
            return [{**{c: first[c][i] for c in first.keys()}, **{f"{c}_b": second[c][i] for c in second.keys()},
                     "labels": e.label} for i, e in enumerate(examples)]
        second = [e.text_b for e in examples] if examples and examples[0].text_b is not None else None
        encoded = self.tokenizer([e.text_a for e in examples], second, truncation=True,
                                 max_length=self.config.max_length)
        columns = list(encoded.keys())
        return [{**{c: encoded[c][i] for c in columns}, "labels": e.label} for i, e in enumerate(examples)]

    def model(self):
        """The checkpoint's encoder under a new head: one output for regression (STS-B), else one per label."""
        labels = self.spec.labels
        if self.bi_encoder:
            scale = max(abs(e.label) for e in self.train_examples) if labels is None else 1.0
            return BiEncoderClassifier.from_backbone(self.path, 1 if labels is None else len(labels), labels is None,
                                                     scale)
        if self.config.pooling == "mean":
            return MeanPoolClassifier.from_backbone(self.path, 1 if labels is None else len(labels), labels is None)
        if labels is None:
            head = {"num_labels": 1, "problem_type": "regression"}
        else:
            head = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                    "label2id": {label: i for i, label in enumerate(labels)}}
        return load_pretrained(AutoModelForSequenceClassification, self.path, **head)

    def collator(self):
        return PairCollator(self.tokenizer) if self.bi_encoder else DataCollatorWithPadding(self.tokenizer)

    def run(self, seed: int, seed_dir: Path) -> None:
        """Train (resuming from the newest checkpoint if any), score on dev, write result.json."""
        config = self.config
        train = seeded_subsample(self.train_examples, config.max_train_examples, seed)
        set_seed(seed)  # the new classification head is drawn from this seed
        checkpoints = seed_dir / "checkpoints"
        last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
        trainer = OrderedEvalTrainer(model=self.model(), args=training_arguments(config, seed, checkpoints),
                          train_dataset=self.encode(train), data_collator=self.collator(),
                          processing_class=self.tokenizer)
        started = time.monotonic()
        output = trainer.train(resume_from_checkpoint=last)
        seconds = time.monotonic() - started
        loss, loss_steps = train_loss(trainer.state.log_history, trainer_step(last), output.training_loss,
                                      output.global_step)
        logits = trainer.predict(self.dev).predictions
        predictions = logits[:, 0] if self.spec.is_regression else np.argmax(logits, axis=-1)
        labels = [e.label for e in self.dev_examples]
        if config.save_model:
            save_classifier(trainer, seed_dir / "model")
        result = {"model": model_label(config.model)[0], "task": self.spec.name, "seed": seed,
                  "metrics": task_metrics(self.spec.name, predictions, labels),
                  "main_metric": self.spec.main_metric, "train_examples": len(train),
                  "dev_examples": len(self.dev), "steps": output.global_step,
                  "train_loss": loss, "train_loss_steps": loss_steps,
                  # after a resume the time of the steps before it is unknown
                  "train_seconds": round(seconds, 1) if last is None else None,
                  "resumed_from_step": trainer_step(last), "options": read_json(seed_dir / OPTIONS_FILE)}
        write_json(seed_dir / RESULT_FILE, result)
        shutil.rmtree(checkpoints, ignore_errors=True)


def save_classifier(trainer: Trainer, folder: Path) -> None:
    """A fine-tuned model and its tokenizer, loadable again (a mean-pooling one with
    `MeanPoolClassifier.from_pretrained`)."""
    if isinstance(trainer.model, MeanPoolClassifier):
        trainer.model.save_pretrained(folder)
        trainer.processing_class.save_pretrained(folder)
    else:
        trainer.save_model(str(folder))


def trainer_step(checkpoint: str | None) -> int | None:
    """`.../checkpoint-120` -> 120."""
    return int(checkpoint.rsplit("-", 1)[1]) if checkpoint else None


def train_loss(log_history: list[dict], resumed_from: int | None, session_loss: float,
               steps: int) -> tuple[float | None, int]:
    """The mean training loss and the number of steps it covers. Without a resume that is the
    Trainer's own mean over every step. After a resume the Trainer only averages the resumed steps;
    the earlier ones are known from the losses logged before the checkpoint (each the mean over
    its logging interval), so the steps between the last such log and the checkpoint are left out."""
    if resumed_from is None:
        return round(session_loss, 4), steps
    total, covered, previous = 0.0, 0, 0
    for entry in log_history:
        if "loss" in entry and previous < entry.get("step", 0) <= resumed_from:
            total += entry["loss"] * (entry["step"] - previous)
            covered += entry["step"] - previous
            previous = entry["step"]
    resumed_steps = steps - resumed_from
    total += session_loss * resumed_steps
    covered += resumed_steps
    return (round(total / covered, 4) if covered else None), covered


def training_arguments(config: FinetuneOptions, seed: int, checkpoints: Path) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # transformers 5: a float < 1 is a ratio of the total steps
        weight_decay=config.weight_decay,
        lr_scheduler_type="linear",
        eval_strategy="no",  # scored once on dev, after training
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=1,
        logging_steps=config.logging_steps,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        seed=seed,
        data_seed=seed,
        remove_unused_columns=False,
        report_to=[],
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=False,  # the CLI quiets transformers' logger, which would otherwise hide the bars
    )


def summarise(results: list[dict], config: FinetuneOptions) -> dict:
    """Mean and (sample) standard deviation of every metric over the seeds."""
    first = results[0]
    metrics = {}
    for name in first["metrics"]:
        values = [r["metrics"][name] for r in results]
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        metrics[name] = {"mean": statistics.fmean(values), "std": std, "values": values}
    return {"model": first["model"], "task": first["task"], "main_metric": first["main_metric"],
            "seeds": [r["seed"] for r in results], "metrics": metrics,
            "train_examples": [r["train_examples"] for r in results], "dev_examples": first["dev_examples"],
            "options": shared_options(config)}


METRIC_NAMES = {"accuracy": "acc.", "f1": "F1", "mcc": "MCC", "pearson": "Pearson", "spearman": "Spearman"}


def score(entry: dict) -> str:
    """`{"mean": .6123, "std": .0101, "values": [...]}` -> `61.2 ± 1.0` (scores x100); one seed has no spread."""
    if len(entry.get("values", [])) == 1:
        return f"{100 * entry['mean']:.1f}"
    return f"{100 * entry['mean']:.1f} ± {100 * entry['std']:.1f}"


def metrics_markdown(summaries: list[dict]) -> str:
    """Every metric of every model x task: mean ± std and the per-seed values (x100)."""
    lines = ["| model | task | metric | mean ± std | per seed |", "|---|---|---|---|---|"]
    for summary in summaries:
        folder = task_spec(summary["task"]).folder
        for name, entry in summary["metrics"].items():
            seeds = ", ".join(f"{100 * v:.1f}" for v in entry["values"])
            lines.append(f"| {summary['model']} | {folder} | {METRIC_NAMES[name]} | {score(entry)} | {seeds} |")
    return "\n".join(lines) + "\n"


def shared_options(config: FinetuneOptions) -> dict:
    """The fine-tuning options of a config, JSON-ready (paths as strings)."""
    values = {f.name: getattr(config, f.name) for f in fields(FinetuneOptions)}
    return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}
