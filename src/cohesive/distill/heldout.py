"""Held-out masked-LM evaluation: mixed-domain text, masks fixed once, any number of MLMs.

The same blocks and masked positions score teachers, students and LMGC/LMGC-M encoders alike, so
their losses are directly comparable (the convergence curves and the forgetting check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from cohesive.atomic import write_json, write_text
from cohesive.distill.mlm import mask_tokens, masked_lm_metrics


@dataclass
class MaskedBlocks(torch.utils.data.Dataset):
    """Pre-masked blocks (masks fixed once, so every model is scored on the same positions)."""

    input_ids: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids[i], "labels": self.labels[i]}


def heldout_set(domains: list[str], per_domain: int, tokenizer, seq_len: int, mask_seed: int = 1234) -> MaskedBlocks:
    """Mixed-domain held-out blocks with masks drawn once from a fixed seed."""
    from cohesive.corpora.text import mixed_texts, tokenize_blocks

    blocks = tokenize_blocks(mixed_texts(domains, "heldout", per_domain), tokenizer, seq_len)
    return MaskedBlocks(*mask_tokens(blocks, tokenizer, generator=torch.Generator().manual_seed(mask_seed)))


@dataclass
class MlmEvalConfig:
    """`cohesive distill evaluate`: held-out MLM loss, perplexity and top-1 of several models."""

    models: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=lambda: ["wordnet", "semcor", "gcide", "glue"])
    per_domain: int = 150
    seq_len: int = 128
    mask_seed: int = 1234
    output: Path | None = None  # JSON (+ .md beside it)


def evaluate_models(config: MlmEvalConfig) -> list[dict]:
    """Score every model on one held-out set (they must share a vocabulary, hence the same masks)."""
    from cohesive.distill.teachers import load_teachers

    loaded, tokenizer = load_teachers(config.models)
    heldout = heldout_set(config.domains, config.per_domain, tokenizer, config.seq_len, config.mask_seed)
    rows = [{"model": name, **masked_lm_metrics(model, heldout.input_ids, heldout.labels)} for name, model in loaded]
    if config.output is not None:
        write_json(config.output, {"domains": config.domains, "per_domain": config.per_domain,
                                   "seq_len": config.seq_len, "results": rows})
        write_text(config.output.with_suffix(".md"), results_markdown(rows))
    return rows


def results_markdown(rows: list[dict]) -> str:
    lines = ["| model | held-out MLM loss | perplexity | top-1 |", "|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['loss']:.3f} | {r['perplexity']:.1f} | {100 * r['top1']:.1f}% |" for r in rows]
    return "\n".join(lines) + "\n"
