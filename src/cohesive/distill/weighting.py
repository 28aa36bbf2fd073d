"""Per-token teacher weights for multi-teacher MLM distillation.

Objective: at masked position i each teacher k gives p_k,i = softmax(z_k,i / T), and the student
learns from the mixture in PROBABILITY space, q_i = sum_k w_k,i p_k,i (a weighted mean of
softmaxes). This is neither logit averaging (TextBrewer: softmax of the mean logits) nor an
average of per-teacher KLs; the three give different targets and gradients.

The weights w_k,i come from a per-token confidence of each teacher computed from that token's own
logits at T = 1, so they need no batch statistics and are identical on every data-parallel rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from cohesive.errors import CohesiveError

CONFIDENCES = ("gold", "neg_entropy", "max_prob", "uniform")
SCHEMES = ("softmax", "normalize")


def confidence_features(logits: Tensor, gold: Tensor) -> dict[str, Tensor]:
    """gold_prob, max_prob and entropy (nats) of softmax(logits) at T = 1, per position.

    `logits` is [..., V], `gold` the matching [...] ids; computed in float32 for stability.
    """
    log_p = torch.log_softmax(logits.float(), dim=-1)
    p = log_p.exp()
    return {
        "gold_prob": p.gather(-1, gold.unsqueeze(-1)).squeeze(-1),
        "max_prob": p.amax(dim=-1),
        "entropy": -(p * log_p).sum(dim=-1),
    }


def confidence(kind: str, gold_prob: Tensor, max_prob: Tensor, entropy: Tensor) -> Tensor:
    """Confidence c[n, K] of each teacher at each position from its features (all [n, K]).

    "gold" (default) rewards the teacher that predicts the true token, the per-token analogue of
    CA-MKD; "neg_entropy" and "max_prob" reward sharp predictions without looking at the label;
    "uniform" gives every teacher the same confidence (plain mean of the teachers' probabilities).
    "neg_entropy" is negative, so it only makes sense with the "softmax" scheme.
    """
    if kind == "gold":
        return gold_prob.float()
    if kind == "neg_entropy":
        return -entropy.float()
    if kind == "max_prob":
        return max_prob.float()
    if kind == "uniform":
        return torch.ones_like(gold_prob, dtype=torch.float32)
    raise CohesiveError(f"unknown teacher confidence {kind!r}; choose one of {', '.join(CONFIDENCES)}")


def teacher_weights(conf: Tensor, scheme: str = "softmax", tau: float = 1.0) -> Tensor:
    """Weights w[n, K] that sum to 1 over the teachers at each position.

    "softmax": softmax_k(c / tau), small tau approaches picking the most confident teacher.
    "normalize": c / sum_k c for non-negative c; a position where every c is 0 falls back to uniform.
    """
    if scheme == "softmax":
        if tau <= 0:
            raise CohesiveError(f"teacher weighting temperature tau must be positive, got {tau}")
        return torch.softmax(conf.float() / tau, dim=-1)
    if scheme == "normalize":
        if (conf < 0).any():
            raise CohesiveError("the 'normalize' teacher weighting needs non-negative confidences; "
                                "use weighting 'softmax' with confidence 'neg_entropy'")
        total = conf.float().sum(dim=-1, keepdim=True)
        uniform = torch.full_like(conf, 1.0 / conf.shape[-1], dtype=torch.float32)
        return torch.where(total > 0, conf.float() / total.clamp_min(torch.finfo(torch.float32).tiny), uniform)
    raise CohesiveError(f"unknown teacher weighting {scheme!r}; choose one of {', '.join(SCHEMES)}")


@dataclass(frozen=True)
class Mixture:
    """How teachers are weighted per token: a confidence measure turned into weights by a scheme."""

    confidence: str = "gold"
    weighting: str = "softmax"
    tau: float = 1.0

    def __post_init__(self) -> None:
        if self.confidence not in CONFIDENCES:
            raise CohesiveError(f"unknown teacher confidence {self.confidence!r}; choose one of {', '.join(CONFIDENCES)}")
        if self.weighting not in SCHEMES:
            raise CohesiveError(f"unknown teacher weighting {self.weighting!r}; choose one of {', '.join(SCHEMES)}")
        if self.tau <= 0:
            raise CohesiveError(f"teacher weighting temperature tau must be positive, got {self.tau}")
        if self.weighting == "normalize" and self.confidence == "neg_entropy":
            raise CohesiveError("confidence 'neg_entropy' is negative: use weighting 'softmax' with it")

    def weights(self, features: dict[str, Tensor]) -> Tensor:
        """w[n, K] from the teachers' confidence features [n, K] (see `confidence_features`)."""
        conf = confidence(self.confidence, features["gold_prob"], features["max_prob"], features["entropy"])
        return teacher_weights(conf, self.weighting, self.tau)


def mix_probabilities(teacher_probs: Tensor, weights: Tensor) -> Tensor:
    """The distillation target q[n, V] = sum_k w[n, k] p[n, k, V]: a mixture in probability space."""
    return torch.einsum("nk,nkv->nv", weights.float(), teacher_probs.float())


def weight_stats(weights: Tensor) -> dict[str, float]:
    """Flat floats for logging: mean weight of each teacher ("weight_k") and the mean entropy of the
    weights ("weight_entropy", nats). Entropy near log K: the teachers share the target; near 0: one dominates.
    """
    w = weights.detach().float()
    stats = {f"weight_{k}": value for k, value in enumerate(w.mean(dim=0).tolist())}
    stats["weight_entropy"] = (-torch.xlogy(w, w).sum(dim=-1).mean()).item()
    return stats
