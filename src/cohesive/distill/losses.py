"""Distillation losses: student vs the confidence-weighted mixture of K teacher MLMs.

The KD target is the probability-space mixture q_i = sum_k w_k,i softmax(z_k,i / T) (see
`cohesive.distill.weighting`), and the KD term is KL(q || softmax(student / T)) averaged over the
masked positions. Teachers come either as full distributions (online teachers, `dense_targets`)
or as the offline cache's top-k probabilities plus one tail bucket (`sparse_targets`).
Total loss (DistilBERT's recipe): alpha_ce * T^2 * KD + alpha_mlm * CE(student, gold) + alpha_cos * cos.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from cohesive.distill.mlm import MaskedOutputs
from cohesive.distill.weighting import Mixture, confidence_features, mix_probabilities
from cohesive.errors import CohesiveError

_LOG_TINY = math.log(torch.finfo(torch.float32).tiny)


def _zero(like: Tensor) -> Tensor:
    """A 0 that stays in the autograd graph, so batches without masked tokens still backpropagate (DDP)."""
    return like.sum() * 0.0


def dense_kd_loss(student_logits: Tensor, teacher_probs: Tensor, weights: Tensor, temperature: float) -> Tensor:
    """Mean over positions of KL(q || softmax(student / T)) with q = sum_k w_k p_k.

    `teacher_probs` [n, K, V] are already at temperature T; `weights` [n, K] sum to 1.
    """
    if student_logits.shape[0] == 0:
        return _zero(student_logits)
    q = mix_probabilities(teacher_probs, weights)
    log_s = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    return (torch.xlogy(q, q) - q * log_s).sum(dim=-1).mean()


def sparse_kd_loss(student_logits: Tensor, teacher_ids: Tensor, teacher_probs: Tensor, teacher_tail: Tensor,
                   weights: Tensor, temperature: float) -> Tensor:
    """KL(q || student at T) over the union S of the teachers' cached ids plus ONE tail bucket.

    q on S is the scatter of w_k p_k (teacher_ids/probs [n, K, k], probs at T); q's tail is
    sum_k w_k tail_k; the student is gathered on S and its tail is its mass outside S. Teacher and
    student are thus coarsened to the same partition S + {tail} (normalising the teacher over its
    top-k but the student over the vocabulary biases the target). A teacher's tail also holds its
    mass on ids that only another teacher kept, so q's tail is slightly over-counted; with k = V
    the loss equals `dense_kd_loss`. q is renormalised to absorb the float16 rounding of the cache.
    """
    n = student_logits.shape[0]
    if n == 0:
        return _zero(student_logits)
    w = weights.float()
    ids, order = teacher_ids.reshape(n, -1).long().sort(dim=1)
    mass = (w.unsqueeze(-1) * teacher_probs.float()).reshape(n, -1).gather(1, order)
    first = torch.ones_like(ids, dtype=torch.bool)  # one entry per distinct id of S
    first[:, 1:] = ids[:, 1:] != ids[:, :-1]
    # every entry gets the total mass of its id (teachers that share an id add up): a segment sum over
    # the sorted runs of equal ids, [n, K*k] wide rather than a scatter over the vocabulary
    group = first.long().cumsum(dim=1) - 1
    q = torch.zeros_like(mass).scatter_add_(1, group, mass).gather(1, group)
    q_tail = (w * teacher_tail.float().clamp_min(0.0)).sum(dim=-1)
    total = (q * first).sum(dim=-1) + q_tail
    q, q_tail = q / total.unsqueeze(-1), q_tail / total
    # the fused log-softmax, then a gather: 1.5x faster forward + backward on CPU than a gather minus a
    # logsumexp (measured at 307 x 30522: 88 vs 129 ms)
    log_s = torch.log_softmax(student_logits.float() / temperature, dim=-1).gather(1, ids)
    s_support = (log_s.exp() * first).sum(dim=-1)
    log_s_tail = torch.log1p(-s_support.clamp(max=1.0 - 1e-6))  # the student's mass outside S, as one bucket
    kl = ((torch.xlogy(q, q) - q * log_s) * first).sum(dim=-1) + torch.xlogy(q_tail, q_tail) - q_tail * log_s_tail
    return kl.mean()


def cosine_hidden_loss(student_hidden: Tensor, teacher_hidden: Tensor | None, weights: Tensor) -> Tensor:
    """Mean of 1 - cos(student hidden, weighted mean of the teachers' hidden states); 0 without teachers.

    `teacher_hidden` [n, K', H] holds only teachers as wide as the student (the caller picks them)
    and `weights` [n, K'] their weights; cosine ignores scale, so those need not be renormalised.
    """
    if teacher_hidden is None or student_hidden.shape[0] == 0:
        return _zero(student_hidden)
    target = torch.einsum("nk,nkh->nh", weights.float(), teacher_hidden.float())
    return (1.0 - F.cosine_similarity(student_hidden.float(), target, dim=-1)).mean()


@dataclass
class DistillLossConfig:
    """Loss weights (DistilBERT's 5 / 2 / 1 at T = 2) and how teachers are weighted per token."""

    alpha_ce: float = 5.0
    alpha_mlm: float = 2.0
    alpha_cos: float = 1.0
    temperature: float = 2.0
    confidence: str = "gold"
    weighting: str = "softmax"
    tau: float = 1.0

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise CohesiveError(f"temperature must be positive, got {self.temperature}")
        Mixture(self.confidence, self.weighting, self.tau)  # refuses unknown or inconsistent weighting options

    @property
    def mixture(self) -> Mixture:
        return Mixture(self.confidence, self.weighting, self.tau)


@dataclass
class TeacherTargets:
    """The teachers' side of the loss at the masked positions (row-major order of labels != -100)."""

    weights: Tensor  # [n, K], sum to 1 per position
    probs: Tensor  # [n, K, V] full distributions, or [n, K, k] cached top-k, at the distillation T
    ids: Tensor | None = None  # [n, K, k] vocabulary ids of cached top-k probs; None for full distributions
    tail: Tensor | None = None  # [n, K] cached mass outside the top-k
    hidden: Tensor | None = None  # [n, K', H] last hidden states of the teachers as wide as the student
    hidden_weights: Tensor | None = None  # [n, K'] those teachers' weights


def sparse_targets(batch: Mapping[str, Tensor], config: DistillLossConfig) -> TeacherTargets:
    """Targets from a `collate_cached` batch (cached top-k at the cache's T: its fingerprint must include config's T)."""
    return TeacherTargets(weights=config.mixture.weights(batch), probs=batch["teacher_probs"],
                          ids=batch["teacher_ids"], tail=batch["teacher_tail"])


@torch.no_grad()
def dense_targets(teacher_logits: Sequence[Tensor], gold: Tensor, config: DistillLossConfig,
                  teacher_hidden: Sequence[Tensor | None] | None = None) -> TeacherTargets:
    """Targets from online teachers: K logits [n, V] at the same masked positions, and optionally
    their hidden states [n, H] (None for a teacher whose width differs from the student's)."""
    logits = torch.stack([z.float() for z in teacher_logits], dim=1)
    weights = config.mixture.weights(confidence_features(logits, gold.unsqueeze(1).expand(-1, logits.shape[1])))
    targets = TeacherTargets(weights=weights, probs=torch.softmax(logits / config.temperature, dim=-1))
    if teacher_hidden is not None:
        keep = [k for k, h in enumerate(teacher_hidden) if h is not None]
        if keep:
            targets.hidden = torch.stack([teacher_hidden[k] for k in keep], dim=1)
            targets.hidden_weights = weights[:, keep]
    return targets


def distillation_loss(student: MaskedOutputs, targets: TeacherTargets, config: DistillLossConfig,
                      mlm_rows: Tensor | None = None) -> dict[str, Tensor]:
    """{"loss", "kd", "mlm", "cos"}: loss = alpha_ce T^2 KD + alpha_mlm CE(student, gold) + alpha_cos cos.

    The T^2 factor keeps the KD gradient on the scale of the CE gradient as T changes (Hinton et al.).
    `mlm_rows` restricts the CE to the masked rows when KD also covers unmasked positions.
    """
    t = config.temperature
    if targets.ids is None:
        kd = dense_kd_loss(student.logits, targets.probs, targets.weights, t)
    else:
        kd = sparse_kd_loss(student.logits, targets.ids, targets.probs, targets.tail, targets.weights, t)
    logits, gold = (student.logits, student.gold) if mlm_rows is None else (student.logits[mlm_rows], student.gold[mlm_rows])
    mlm = F.cross_entropy(logits.float(), gold) if gold.numel() else _zero(student.logits)
    cos = cosine_hidden_loss(student.hidden, targets.hidden, targets.hidden_weights)
    loss = config.alpha_ce * t * t * kd + config.alpha_mlm * mlm + config.alpha_cos * cos
    return {"loss": loss, "kd": kd, "mlm": mlm, "cos": cos}
