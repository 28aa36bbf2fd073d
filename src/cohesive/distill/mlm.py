"""Masked-LM helpers shared by teachers, students and LMGC-M.

The vocabulary projection (hidden x 30k) dominates the cost of an MLM step on CPU, so logits are
computed only at the masked positions: encoder -> hidden at masked positions -> MLM head.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass

import torch
from torch import nn

from cohesive.errors import CohesiveError

IGNORE = -100


def mask_tokens(input_ids: torch.Tensor, tokenizer, mlm_probability: float = 0.15,
                generator: torch.Generator | None = None,
                eligible: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: choose `mlm_probability` of the non-special tokens (and, if given, only where
    `eligible`); 80% -> [MASK], 10% -> random, 10% kept.

    Returns (masked input ids, labels with -100 where nothing is predicted). Deterministic for a seeded generator.
    """
    labels = input_ids.clone()
    special = torch.tensor(
        [tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True) for row in input_ids.tolist()],
        dtype=torch.bool)
    chosen = (torch.rand(input_ids.shape, generator=generator) < mlm_probability) & ~special
    if eligible is not None:
        chosen &= eligible
    labels[~chosen] = IGNORE
    masked = input_ids.clone()
    to_mask = chosen & (torch.rand(input_ids.shape, generator=generator) < 0.8)
    masked[to_mask] = tokenizer.mask_token_id
    to_random = chosen & ~to_mask & (torch.rand(input_ids.shape, generator=generator) < 0.5)
    random_ids = torch.randint(len(tokenizer), input_ids.shape, generator=generator)
    masked[to_random] = random_ids[to_random]
    return masked, labels


@dataclass
class MaskedOutputs:
    """Outputs at the masked positions only, in row-major order of `labels != -100`."""

    logits: torch.Tensor  # [n, vocab]
    gold: torch.Tensor  # [n]
    hidden: torch.Tensor  # [n, hidden]: last hidden state at those positions


def mlm_head(model: nn.Module) -> nn.Module:
    """The module mapping last hidden states to vocabulary logits, for the common MLM families."""
    for name in ("cls", "lm_head", "predictions", "generator_lm_head"):
        head = getattr(model, name, None)
        if head is not None:
            if name == "generator_lm_head":  # ELECTRA: transform, then projection
                return nn.Sequential(model.generator_predictions, head)
            return head
    if hasattr(model, "vocab_projector"):  # DistilBERT
        return nn.Sequential(model.vocab_transform, model.activation, model.vocab_layer_norm, model.vocab_projector)
    raise CohesiveError(f"{type(model).__name__} has no masked-LM head that cohesive knows; use an AutoModelForMaskedLM")


def masked_lm_outputs(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      labels: torch.Tensor) -> MaskedOutputs:
    """Encoder on the whole batch, vocabulary logits only where `labels != -100`."""
    hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    where = labels != IGNORE
    selected = hidden[where]
    return MaskedOutputs(logits=mlm_head(model)(selected), gold=labels[where], hidden=selected)


def route_forward_to_masked_outputs(model: nn.Module) -> nn.Module:
    """Make `model(input_ids=, attention_mask=, labels=)` return :class:`MaskedOutputs`.

    Data-parallel wrappers (DDP, accelerate) synchronise gradients only through `forward()`, so the
    cheap masked-position path must *be* the forward of the model they wrap. Saved checkpoints are
    unaffected: only this in-memory instance changes.
    """
    model.forward = types.MethodType(
        lambda self, input_ids, attention_mask, labels: masked_lm_outputs(self, input_ids, attention_mask, labels), model)
    return model


@torch.no_grad()
def masked_lm_metrics(model: nn.Module, input_ids: torch.Tensor, labels: torch.Tensor,
                      batch_size: int = 32) -> dict[str, float]:
    """Loss, perplexity and top-1 accuracy over pre-masked blocks; fixed masks make models comparable."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, correct, count = 0.0, 0, 0
    for start in range(0, len(input_ids), batch_size):
        ids = input_ids[start:start + batch_size].to(device)
        out = masked_lm_outputs(model, ids, torch.ones_like(ids), labels[start:start + batch_size].to(device))
        total += nn.functional.cross_entropy(out.logits.float(), out.gold, reduction="sum").item()
        correct += (out.logits.argmax(-1) == out.gold).sum().item()
        count += out.gold.numel()
    model.train(was_training)
    loss = total / max(count, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "top1": correct / max(count, 1), "tokens": count}
