"""KD losses against hand-computed values; the sparse (cached) form against the dense one."""

from __future__ import annotations

import math

import pytest
import torch

from cohesive.distill.losses import (
    DistillLossConfig,
    cosine_hidden_loss,
    dense_kd_loss,
    dense_targets,
    distillation_loss,
    sparse_kd_loss,
    sparse_targets,
)
from cohesive.distill.mlm import MaskedOutputs
from cohesive.errors import CohesiveError


def _full_as_sparse(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every id as a 'top-k' entry (k = V), in a shuffled order, with a zero tail."""
    n, k, vocab = probs.shape
    ids = torch.stack([torch.randperm(vocab) for _ in range(n * k)]).reshape(n, k, vocab)
    return ids, probs.gather(-1, ids), torch.zeros(n, k)


def _top_k(probs: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    values, ids = probs.topk(k, dim=-1)
    return ids, values, 1.0 - values.sum(dim=-1)


def test_dense_kl_by_hand():
    q = torch.tensor([[[0.5, 0.5]]])
    expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    student = torch.log(torch.tensor([[0.75, 0.25]]))
    assert dense_kd_loss(student, q, torch.ones(1, 1), 1.0).item() == pytest.approx(expected, rel=1e-6)
    # at T = 2 the student's logits are divided by 2 first
    assert dense_kd_loss(2 * student, q, torch.ones(1, 1), 2.0).item() == pytest.approx(expected, rel=1e-6)
    assert dense_kd_loss(torch.log(q[0]), q, torch.ones(1, 1), 1.0).item() == pytest.approx(0.0, abs=1e-7)


def test_sparse_kl_keeps_one_tail_bucket_for_teacher_and_student():
    # teacher top-2 = {0: 0.5, 1: 0.3}, tail 0.2; student (0.4, 0.3, 0.2, 0.1): its tail outside {0, 1} is 0.3
    student = torch.log(torch.tensor([[0.4, 0.3, 0.2, 0.1]]))
    loss = sparse_kd_loss(student, torch.tensor([[[0, 1]]]), torch.tensor([[[0.5, 0.3]]]), torch.tensor([[0.2]]),
                          torch.ones(1, 1), 1.0)
    assert loss.item() == pytest.approx(0.5 * math.log(0.5 / 0.4) + 0.2 * math.log(0.2 / 0.3), rel=1e-6)


def test_sparse_kl_over_the_union_of_the_teachers_ids():
    # teacher A keeps id 0 (0.6, tail 0.4), teacher B id 1 (0.7, tail 0.3), equal weights, uniform student
    loss = sparse_kd_loss(torch.zeros(1, 4), torch.tensor([[[0], [1]]]), torch.tensor([[[0.6], [0.7]]]),
                          torch.tensor([[0.4, 0.3]]), torch.tensor([[0.5, 0.5]]), 1.0)
    expected = 0.3 * math.log(0.3 / 0.25) + 0.35 * math.log(0.35 / 0.25) + 0.35 * math.log(0.35 / 0.5)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_sparse_equals_dense_when_k_is_the_vocabulary():
    torch.manual_seed(0)
    n, k, vocab, t = 7, 3, 50, 2.0
    probs = torch.softmax(torch.randn(n, k, vocab) * 3 / t, dim=-1)
    weights = torch.softmax(torch.randn(n, k), dim=-1)
    student_dense = (torch.randn(n, vocab) * 2).requires_grad_()
    student_sparse = student_dense.detach().clone().requires_grad_()
    dense = dense_kd_loss(student_dense, probs, weights, t)
    sparse = sparse_kd_loss(student_sparse, *_full_as_sparse(probs), weights, t)
    assert sparse.item() == pytest.approx(dense.item(), rel=1e-5)
    dense.backward()
    sparse.backward()
    assert torch.isfinite(student_sparse.grad).all()
    assert torch.allclose(student_sparse.grad, student_dense.grad, atol=1e-7)


def _peaked(n: int, k: int, vocab: int, generator: torch.Generator) -> torch.Tensor:
    """MLM-like logits: a few strong candidates on top of a broad low background."""
    logits = torch.randn(n, k, vocab, generator=generator) * 2
    spikes = torch.randint(vocab, (n, 1, 4), generator=generator).expand(n, k, 4)
    return logits.scatter_add(-1, spikes, 24 + 4 * torch.rand(n, k, 4, generator=generator))


def test_sparse_top32_is_close_to_dense_on_peaked_teachers():
    g = torch.Generator().manual_seed(0)
    n, k, vocab, t = 32, 3, 5000, 2.0
    logits = _peaked(n, k, vocab, g)
    probs = torch.softmax(logits / t, dim=-1)
    weights = torch.softmax(torch.randn(n, k, generator=g), dim=-1)
    student = logits[:, 0] + torch.randn(n, vocab, generator=g) * 3  # a student still far from the teachers
    dense = dense_kd_loss(student, probs, weights, t)
    sparse = sparse_kd_loss(student, *_top_k(probs, 32), weights, t)
    assert dense.item() > 0.05  # a non-trivial target, so the relative error means something
    # top-32 leaves ~0.4% tail mass here; the sparse KL underestimates the dense one by about that fraction
    assert sparse.item() == pytest.approx(dense.item(), rel=1e-2)
    ids, values, tail = _top_k(probs, 32)  # the cache stores float16: still close
    half = sparse_kd_loss(student, ids, values.half(), tail.half(), weights, t)
    assert half.item() == pytest.approx(dense.item(), rel=1e-2)


def test_no_masked_tokens_gives_a_zero_that_backpropagates():
    student = torch.zeros(0, 10, requires_grad=True)
    loss = sparse_kd_loss(student, torch.zeros(0, 2, 3, dtype=torch.long), torch.zeros(0, 2, 3), torch.zeros(0, 2),
                          torch.zeros(0, 2), 2.0)
    loss.backward()
    assert loss.item() == 0.0 and student.grad is not None


def test_cosine_hidden_loss_by_hand():
    student = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    teachers = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[-1.0, 0.0], [-2.0, 0.0]]])
    weights = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    assert cosine_hidden_loss(student, teachers, weights).item() == pytest.approx((0.0 + 2.0) / 2)
    # equal weights on orthogonal teachers: the target is their mean direction (45 degrees)
    assert cosine_hidden_loss(student[:1], teachers[:1], torch.tensor([[0.5, 0.5]])).item() == pytest.approx(
        1 - math.cos(math.pi / 4), rel=1e-6)
    assert cosine_hidden_loss(student, None, weights).item() == 0.0


def _student(n: int, vocab: int, hidden: int, generator: torch.Generator) -> MaskedOutputs:
    return MaskedOutputs(logits=torch.randn(n, vocab, generator=generator, requires_grad=True),
                         gold=torch.randint(vocab, (n,), generator=generator),
                         hidden=torch.randn(n, hidden, generator=generator))


def test_distillation_loss_combines_the_terms_and_the_cached_path_matches_the_online_one():
    g = torch.Generator().manual_seed(1)
    n, k, vocab, hidden = 6, 3, 40, 8
    config = DistillLossConfig()
    student = _student(n, vocab, hidden, g)
    teacher_logits = [torch.randn(n, vocab, generator=g) * 2 for _ in range(k)]
    dense = dense_targets(teacher_logits, student.gold, config)
    out = distillation_loss(student, dense, config)
    assert out["cos"].item() == 0.0
    assert out["mlm"].item() == pytest.approx(torch.nn.functional.cross_entropy(student.logits, student.gold).item())
    assert out["loss"].item() == pytest.approx(5.0 * 4.0 * out["kd"].item() + 2.0 * out["mlm"].item(), rel=1e-6)

    ids, probs, tail = _full_as_sparse(dense.probs)
    batch = {"teacher_ids": ids, "teacher_probs": probs, "teacher_tail": tail,
             "gold_prob": torch.stack([z.softmax(-1).gather(-1, student.gold[:, None])[:, 0] for z in teacher_logits], 1),
             "max_prob": torch.stack([z.softmax(-1).amax(-1) for z in teacher_logits], 1),
             "entropy": torch.stack([-(z.softmax(-1) * z.log_softmax(-1)).sum(-1) for z in teacher_logits], 1)}
    cached = distillation_loss(student, sparse_targets(batch, config), config)
    assert cached["loss"].item() == pytest.approx(out["loss"].item(), rel=1e-5)


def test_cosine_term_uses_only_teachers_as_wide_as_the_student():
    g = torch.Generator().manual_seed(2)
    n, vocab, hidden = 5, 30, 8
    student = _student(n, vocab, hidden, g)
    config = DistillLossConfig(confidence="uniform")
    logits = [torch.randn(n, vocab, generator=g) for _ in range(2)]
    targets = dense_targets(logits, student.gold, config, teacher_hidden=[None, student.hidden.clone()])
    assert targets.hidden.shape == (n, 1, hidden)
    out = distillation_loss(student, targets, config)
    assert out["cos"].item() == pytest.approx(0.0, abs=1e-6)
    targets = dense_targets(logits, student.gold, config, teacher_hidden=[None, -student.hidden])
    assert distillation_loss(student, targets, config)["cos"].item() == pytest.approx(2.0, rel=1e-6)


def test_config_rejects_unknown_or_incompatible_choices():
    with pytest.raises(CohesiveError, match="confidence"):
        DistillLossConfig(confidence="loss")
    with pytest.raises(CohesiveError, match="neg_entropy"):
        DistillLossConfig(confidence="neg_entropy", weighting="normalize")
    with pytest.raises(CohesiveError, match="positive"):
        DistillLossConfig(temperature=0.0)
