"""Student training on HF Trainer: cached multi-teacher distillation, online teachers, or plain MLM.

Trainer supplies checkpointing with exact resume (optimizer, scheduler, RNG, data position),
TensorBoard/JSONL logging, mixed precision and DDP (`torchrun` / `accelerate launch`, gloo on CPU).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn import functional as F
from transformers import AutoTokenizer, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from cohesive.atomic import write_json, write_text
from cohesive.config import dump_config
from cohesive.distill.cache import TEACHER_KEYS, CacheError, TeacherCache, collate_cached
from cohesive.distill.heldout import heldout_metrics, heldout_set
from cohesive.distill.losses import DistillLossConfig, TeacherTargets, dense_targets, distillation_loss, sparse_targets
from cohesive.distill.mlm import IGNORE, masked_lm_outputs, route_forward_to_masked_outputs
from cohesive.distill.student import student_from_config, student_from_teacher
from cohesive.distill.weighting import weight_stats
from cohesive.errors import CohesiveError

log = logging.getLogger(__name__)
MODES = ("cached", "online", "mlm")

CONFIG_FILE = "distill_train.yaml"  # the run's options, written beside its outputs


@dataclass
class DistillTrainConfig:
    """`cohesive distill train`: one student, one budget."""

    cache_dir: Path = Path("runs/distill/cache")
    output_dir: Path = Path("runs/distill/student")
    mode: str = "cached"  # cached | online (teachers run every step) | mlm (no teacher)
    teachers: list[str] = field(default_factory=list)  # for online mode; cached mode reads the cache's list
    teacher_subset: list[int] | None = None  # e.g. [0]: distil from the first teacher only
    # student: initialised from a teacher (every other layer) or from a shape
    student_from: str | None = None
    student_layers: int = 4
    student_hidden: int = 256
    student_heads: int = 4
    # loss (DistilBERT's release values by default)
    alpha_ce: float = 5.0
    alpha_mlm: float = 2.0
    alpha_cos: float = 1.0
    kd_positions: str = "masked"  # masked | all (every non-special token; online teachers only)
    temperature: float = 2.0
    confidence: str = "gold"  # gold | neg_entropy | max_prob | uniform
    weighting: str = "softmax"  # softmax | normalize
    tau: float = 1.0
    # held-out evaluation: mixed-domain texts, fixed masks
    heldout_domains: list[str] = field(default_factory=lambda: ["wordnet", "semcor", "gcide", "glue"])
    heldout_per_domain: int = 150
    heldout_mask_seed: int = 1234
    # optimisation
    max_steps: int = 200
    batch_size: int = 16
    learning_rate: float = 5e-4
    warmup_ratio: float = 0.05
    weight_decay: float = 0.01
    eval_steps: int = 40
    save_steps: int = 100
    logging_steps: int = 10
    seed: int = 42
    bf16: bool = False
    resume: bool = True  # continue from the newest checkpoint in output_dir

    def loss_config(self) -> DistillLossConfig:
        return DistillLossConfig(alpha_ce=self.alpha_ce, alpha_mlm=self.alpha_mlm, alpha_cos=self.alpha_cos,
                                 temperature=self.temperature, confidence=self.confidence,
                                 weighting=self.weighting, tau=self.tau)


class DistillTrainer(Trainer):
    """Trainer whose loss is the multi-teacher distillation objective (logits only at masked positions)."""

    def __init__(self, *args, distill: DistillTrainConfig, teachers=None, special_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.special_ids = torch.tensor(sorted(special_ids), dtype=torch.long)
        self.distill = distill
        self.teachers = teachers or []
        self.loss_config = distill.loss_config()
        self._running: dict[str, list[float]] = defaultdict(list)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"]
        predicted = self._kd_labels(inputs) if self.distill.kd_positions == "all" else labels
        student = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=predicted)
        if self.distill.mode == "mlm":
            parts = {"mlm": F.cross_entropy(student.logits, student.gold)}
            parts["loss"] = self.distill.alpha_mlm * parts["mlm"]
        else:
            targets = self._targets(inputs, predicted, student.hidden.shape[-1])
            mlm_rows = (labels != IGNORE)[predicted != IGNORE] if predicted is not labels else None
            parts = distillation_loss(student, targets, self.loss_config, mlm_rows)
            for name, value in weight_stats(targets.weights).items():
                self._running[name].append(value)
            if targets.tail is not None:
                self._running["teacher_tail"].append(targets.tail.float().mean().item())
        for name, value in parts.items():
            if name != "loss":
                self._running[name].append(value.item())
        return (parts["loss"], student) if return_outputs else parts["loss"]

    def _kd_labels(self, inputs) -> torch.Tensor:
        """Gold at masked positions, the visible token at every other non-special one (KD on all positions)."""
        ids, labels = inputs["input_ids"], inputs["labels"]
        content = inputs["attention_mask"].bool() & ~torch.isin(ids, self.special_ids.to(ids.device))
        return torch.where(labels != IGNORE, labels, torch.where(content, ids, IGNORE))

    def _targets(self, inputs, positions: torch.Tensor, student_width: int) -> TeacherTargets:
        if self.distill.mode == "cached":
            subset = self.distill.teacher_subset
            batch = {k: inputs[k][:, subset] if subset is not None else inputs[k] for k in TEACHER_KEYS}
            return sparse_targets(batch, self.loss_config)
        with torch.no_grad():
            outputs = [masked_lm_outputs(t, inputs["input_ids"], inputs["attention_mask"], positions)
                       for t in self.teachers]
        return dense_targets([o.logits for o in outputs], outputs[0].gold, self.loss_config,
                             [o.hidden if o.hidden.shape[-1] == student_width else None for o in outputs])

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        """Add the running means of the loss parts and teacher-weight statistics to each training log line."""
        if "loss" in logs:
            logs.update({name: sum(values) / len(values) for name, values in self._running.items() if values})
            self._running.clear()
        super().log(logs, *args, **kwargs)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Held-out MLM loss, perplexity and top-1 accuracy at fixed masks (the convergence curves)."""
        heldout = eval_dataset or self.eval_dataset
        scores = heldout_metrics(self.model, heldout)
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in scores.items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


class JsonlLogger(TrainerCallback):
    """Append every log line to `metrics.jsonl` (main process only)."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            with self.path.open("a") as out:
                out.write(json.dumps({"step": state.global_step, **logs}) + "\n")


def build_student(config: DistillTrainConfig, vocab_size: int, seq_len: int):
    if config.student_from:
        return student_from_teacher(config.student_from)
    return student_from_config(vocab_size, config.student_layers, config.student_hidden, config.student_heads,
                               max_positions=max(seq_len, 128), seed=config.seed)


def training_arguments(config: DistillTrainConfig) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(config.output_dir),
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # transformers 5: a float < 1 is a ratio of max_steps
        weight_decay=config.weight_decay,
        lr_scheduler_type="linear",
        eval_strategy="steps",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        logging_steps=config.logging_steps,
        seed=config.seed,
        data_seed=config.seed,
        bf16=config.bf16,
        remove_unused_columns=False,
        ddp_find_unused_parameters=False,
        report_to=_reporters(),
        dataloader_num_workers=0,
        ddp_backend="gloo" if _cpu_distributed() else None,
        use_cpu=_cpu_distributed(),  # accelerate treats a multi-process CPU run as MULTI_CPU only with this
        disable_tqdm=None,
    )


def _cpu_distributed() -> bool:
    """Launched with several processes (torchrun/accelerate set WORLD_SIZE) on a machine without CUDA."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


def _reporters() -> list[str]:
    try:
        import tensorboard  # noqa: F401

        return ["tensorboard"]
    except ImportError:
        return []


def train_student(config: DistillTrainConfig, callbacks: list[TrainerCallback] | None = None) -> dict[str, float]:
    """Train one student as configured (resuming from the newest checkpoint); returns the final held-out metrics."""
    if config.mode not in MODES:
        raise CohesiveError(f"unknown mode {config.mode!r}; choose from {', '.join(MODES)}")
    config.loss_config()  # validates the loss options before any work
    if config.kd_positions not in ("masked", "all"):
        raise CohesiveError(f"unknown kd_positions {config.kd_positions!r}; choose masked or all")
    if config.kd_positions == "all" and config.mode != "online":
        raise CohesiveError("kd_positions=all needs mode=online: the cache holds teacher predictions at masked positions only")
    cache = TeacherCache(config.cache_dir)
    if config.mode == "cached" and cache.temperature != config.temperature:
        raise CacheError(f"{config.cache_dir} holds teacher probabilities at T={cache.temperature}, "
                         f"training asks for T={config.temperature}: rebuild the cache or set temperature")
    tokenizer = AutoTokenizer.from_pretrained(config.cache_dir / "tokenizer", trust_remote_code=False)
    teachers = _online_teachers(config, cache) if config.mode == "online" else []
    if config.teacher_subset is not None and cache.layout == "mixture":
        raise CohesiveError(f"{config.cache_dir} holds one mixed target per position: teacher_subset needs a cache "
                            "built with layout=per-teacher")
    _check_subset(config.teacher_subset, cache.targets_per_position)
    model = route_forward_to_masked_outputs(build_student(config, cache.vocab_size, cache.seq_len))
    dump_config(config, config.output_dir / CONFIG_FILE)  # only once the inputs were read
    trainer = DistillTrainer(
        model=model, args=training_arguments(config), train_dataset=cache, data_collator=collate_cached,
        eval_dataset=heldout_set(config.heldout_domains, config.heldout_per_domain, tokenizer, cache.seq_len,
                                 config.heldout_mask_seed),
        distill=config, teachers=teachers, special_ids=tokenizer.all_special_ids,
        callbacks=[JsonlLogger(config.output_dir / "metrics.jsonl"), *(callbacks or [])],
    )
    last = get_last_checkpoint(str(config.output_dir)) if config.resume else None
    if last is None:  # a fresh run: earlier runs' log lines would mix into the curves
        (config.output_dir / "metrics.jsonl").unlink(missing_ok=True)
    trainer.train(resume_from_checkpoint=last)
    metrics = {f"eval_{k}": v for k, v in heldout_metrics(trainer.model, trainer.eval_dataset).items()}
    if trainer.is_world_process_zero():
        trainer.model.save_pretrained(config.output_dir)  # safetensors; no pickled training_args.bin
        tokenizer.save_pretrained(config.output_dir)
        write_json(config.output_dir / "final_metrics.json", metrics)
    _write_digest(trainer.model, config.output_dir, trainer.args.process_index)
    return metrics


def _check_subset(subset: list[int] | None, teachers: int) -> None:
    if subset is not None and (not subset or any(not 0 <= i < teachers for i in subset)):
        raise CohesiveError(f"teacher_subset {subset} must list indices in 0..{teachers - 1}")


def _online_teachers(config: DistillTrainConfig, cache: TeacherCache):
    from cohesive.distill.teachers import load_teachers

    names = config.teachers or cache.teacher_names
    if config.teacher_subset is not None:
        names = [names[i] for i in config.teacher_subset]
    loaded, _ = load_teachers(names)
    return [model for _, model in loaded]


def _write_digest(model, output_dir: Path, rank: int) -> None:
    """sha256 of the final weights per rank: equal digests prove the DDP replicas stayed in sync."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    write_text(output_dir / f"weights_digest.rank{rank}.txt", digest.hexdigest() + "\n")
