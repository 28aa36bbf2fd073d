"""Held-out masked-LM evaluation: mixed-domain text, masks fixed once, any number of MLMs.

The same blocks and masked positions score teachers, students and LMGC/LMGC-M encoders alike, so
their losses are directly comparable (the convergence curves and the forgetting check).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cohesive.atomic import write_json, write_text
from cohesive.distill.mlm import mask_tokens, masked_lm_metrics


@dataclass
class MaskedBlocks(torch.utils.data.Dataset):
    """Pre-masked blocks (masks fixed once, so every model is scored on the same positions), one
    domain after another: `spans` maps each domain to its [start, end) rows."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids[i], "labels": self.labels[i]}


def heldout_set(domains: list[str], per_domain: int, tokenizer, seq_len: int, mask_seed: int = 1234) -> MaskedBlocks:
    """Held-out blocks of each domain (packed per domain, so every block has one domain), masks drawn
    once from a fixed seed."""
    from cohesive.corpora.text import domain_split, tokenize_blocks

    per = [tokenize_blocks(domain_split(d, "heldout", limit=per_domain), tokenizer, seq_len) for d in domains]
    ends = list(itertools.accumulate(len(b) for b in per))
    spans = {d: (end - len(b), end) for d, b, end in zip(domains, per, ends)}
    blocks = torch.cat(per) if per else torch.empty(0, seq_len, dtype=torch.long)
    return MaskedBlocks(*mask_tokens(blocks, tokenizer, generator=torch.Generator().manual_seed(mask_seed)), spans)


def heldout_metrics(model, heldout: MaskedBlocks) -> dict[str, float]:
    """Loss, perplexity and top-1 over all held-out tokens, plus `<domain>_loss` / `<domain>_top1` per domain."""
    parts = {d: masked_lm_metrics(model, heldout.input_ids[a:b], heldout.labels[a:b])
             for d, (a, b) in heldout.spans.items() if b > a}
    if not parts:
        return masked_lm_metrics(model, heldout.input_ids, heldout.labels)
    tokens = sum(p["tokens"] for p in parts.values())
    loss = sum(p["loss"] * p["tokens"] for p in parts.values()) / max(tokens, 1)
    top1 = sum(p["top1"] * p["tokens"] for p in parts.values()) / max(tokens, 1)
    overall = {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "top1": top1, "tokens": tokens}
    return {**overall, **{f"{d}_{k}": p[k] for d, p in parts.items() for k in ("loss", "top1")}}


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
    rows = [{"model": name, **heldout_metrics(model, heldout)} for name, model in loaded]
    if config.output is not None:
        write_json(config.output, {"domains": config.domains, "per_domain": config.per_domain,
                                   "seq_len": config.seq_len, "results": rows})
        write_text(config.output.with_suffix(".md"), results_markdown(rows))
    return rows


def results_markdown(rows: list[dict]) -> str:
    lines = ["| model | held-out MLM loss | perplexity | top-1 |", "|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['loss']:.3f} | {r['perplexity']:.1f} | {100 * r['top1']:.1f}% |" for r in rows]
    return "\n".join(lines) + "\n"
