"""Per-token teacher weights and the probability-space mixture."""

from __future__ import annotations

import math

import pytest
import torch

from cohesive.distill.weighting import (
    CONFIDENCES,
    confidence,
    confidence_features,
    mix_probabilities,
    teacher_weights,
    weight_stats,
)
from cohesive.errors import CohesiveError


def test_confidence_features_by_hand():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    features = confidence_features(logits, torch.tensor([1]))
    assert features["gold_prob"].item() == pytest.approx(0.25)
    assert features["max_prob"].item() == pytest.approx(0.5)
    assert features["entropy"].item() == pytest.approx(1.5 * math.log(2))


def test_confidence_features_are_local_to_each_teacher():
    """Features of one teacher depend only on its own logits (identical on every DDP rank)."""
    logits = torch.randn(4, 3, 10)
    gold = torch.tensor([1, 2, 3, 4]).unsqueeze(1).expand(4, 3)
    together = confidence_features(logits, gold)
    alone = confidence_features(logits[:, 0], gold[:, 0])
    assert torch.allclose(together["entropy"][:, 0], alone["entropy"])


def test_uniform_weights_give_the_mean_of_probabilities_not_of_logits():
    p = torch.tensor([[[0.98, 0.01, 0.01], [0.01, 0.98, 0.01]]])  # [n=1, K=2, V=3]
    ones = torch.ones(1, 2)
    w = teacher_weights(confidence("uniform", ones, ones, ones))
    assert torch.allclose(w, torch.tensor([[0.5, 0.5]]))
    q = mix_probabilities(p, w)
    assert torch.allclose(q, torch.tensor([[0.495, 0.495, 0.01]]))
    logit_mean = torch.softmax(p.log().mean(dim=1), dim=-1)  # TextBrewer-style target: a different objective
    assert logit_mean[0, 2].item() == pytest.approx(0.01 / (0.01 + 2 * math.sqrt(0.98 * 0.01)), rel=1e-4)
    assert not torch.allclose(q, logit_mean, atol=1e-2)


def test_gold_confidence_moves_weight_to_the_teacher_that_predicts_the_gold_token():
    # teacher 0 gives the gold token 0.9, teacher 1 gives it 0.1
    logits = torch.log(torch.tensor([[[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]]]))
    features = confidence_features(logits, torch.tensor([[0, 0]]))
    conf = confidence("gold", **features)
    soft = teacher_weights(conf, "softmax", tau=1.0)
    assert soft[0, 0].item() == pytest.approx(1 / (1 + math.exp(-0.8)), rel=1e-5)
    assert teacher_weights(conf, "normalize")[0].tolist() == pytest.approx([0.9, 0.1], rel=1e-5)
    assert teacher_weights(conf, "softmax", tau=0.01)[0, 0].item() > 0.999
    # without the label, max_prob prefers the sharper teacher 0 (0.9 vs 0.8) and neg_entropy too
    assert teacher_weights(confidence("max_prob", **features))[0, 0] > 0.5
    assert teacher_weights(confidence("neg_entropy", **features))[0, 0] > 0.5


@pytest.mark.parametrize(("kind", "scheme"), [(kind, scheme) for kind in CONFIDENCES for scheme in ("softmax", "normalize")
                                               if (kind, scheme) != ("neg_entropy", "normalize")])
def test_weights_sum_to_one(kind, scheme):
    features = confidence_features(torch.randn(50, 4, 20) * 3, torch.randint(20, (50, 4)))
    w = teacher_weights(confidence(kind, **features), scheme, tau=0.5)
    assert w.shape == (50, 4)
    assert (w >= 0).all()
    assert torch.allclose(w.sum(dim=-1), torch.ones(50))


def test_normalize_falls_back_to_uniform_on_zero_confidence_and_rejects_negative():
    w = teacher_weights(torch.tensor([[0.0, 0.0, 0.0], [0.0, 2.0, 6.0]]), "normalize")
    assert torch.allclose(w, torch.tensor([[1 / 3, 1 / 3, 1 / 3], [0.0, 0.25, 0.75]]))
    with pytest.raises(CohesiveError, match="non-negative"):
        teacher_weights(torch.tensor([[-1.0, 0.5]]), "normalize")


def test_unknown_kind_or_scheme_is_a_user_error():
    x = torch.ones(1, 2)
    with pytest.raises(CohesiveError, match="confidence"):
        confidence("loss", x, x, x)
    with pytest.raises(CohesiveError, match="weighting"):
        teacher_weights(x, "argmax")


def test_weight_stats_show_collapse():
    stats = weight_stats(torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
    assert stats == pytest.approx({"weight_0": 0.75, "weight_1": 0.25, "weight_entropy": math.log(2) / 2})
