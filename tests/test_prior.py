"""The sense-frequency prior: hand-computed log shares, tuning on dev, saved with the model."""

import math

import numpy as np
import pytest
from test_wsd_data import RIVER, instance

from cohesive.errors import CohesiveError
from cohesive.wsd.data import PairEncoder
from cohesive.wsd.prior import choose, log_prior, read_weight, tune_weight, with_prior, write_weight

# index.sense tag counts of bank (noun), WordNet senses 1..10: 25, 20, 2, 1, then 0 six times.
BANK_COUNTS = [25, 20, 2, 1, 0, 0, 0, 0, 0, 0]
RIVER_BANK, FINANCIAL_BANK = "bank%1:17:01::", "bank%1:14:00::"  # senses 1 and 2


@pytest.fixture(scope="module")
def bank_pairs(tokenizer, lex):
    return PairEncoder(tokenizer, lex, max_length=128, max_gloss_tokens=48).build([instance(RIVER, 4)])


def test_log_prior_is_the_add_one_share_of_tag_counts(bank_pairs, lex):
    total = sum(BANK_COUNTS) + len(BANK_COUNTS)  # 58
    expected = [math.log((c + 1) / total) for c in BANK_COUNTS]
    assert [lex.sense(k).number for k in bank_pairs.keys_of(0)] == list(range(1, 11))
    np.testing.assert_allclose(log_prior(bank_pairs, lex), expected, rtol=1e-6)


def test_the_prior_can_overturn_a_small_margin(bank_pairs, lex):
    scores = np.zeros(len(bank_pairs), dtype=np.float32)
    scores[:2] = [0.9, 1.0]  # the model slightly prefers the financial bank
    assert choose(bank_pairs, scores)["d0.s0.t0"].key == FINANCIAL_BANK
    # 0.9 + w log(26/58) > 1.0 + w log(21/58)  <=>  w > 0.1 / log(26/21) = 0.468
    assert choose(bank_pairs, with_prior(bank_pairs, scores, 0.45, lex))["d0.s0.t0"].key == FINANCIAL_BANK
    assert choose(bank_pairs, with_prior(bank_pairs, scores, 0.5, lex))["d0.s0.t0"].key == RIVER_BANK
    weight, table = tune_weight(bank_pairs, scores, {"d0.s0.t0": [RIVER_BANK]}, lex)
    assert weight == 0.5 and table[0.0] == 0.0 and table[0.5] == 1.0


def test_weight_is_saved_with_the_model(tmp_path):
    assert read_weight(tmp_path) == 0.0  # none tuned: the model alone
    write_weight(tmp_path, 1.25, "SE07", {0.0: 0.5, 1.25: 0.6})
    assert read_weight(tmp_path) == 1.25
    (tmp_path / "prior.json").write_text('{"weigth": 1}')
    with pytest.raises(CohesiveError, match="prior.json: missing 'weight'"):
        read_weight(tmp_path)


@pytest.mark.parametrize("weight", [-1.0, float("nan")])
def test_a_negative_or_nan_weight_is_refused_before_any_model_loads(tmp_path, weight):
    from cohesive.wsd.inference import load_predictor

    with pytest.raises(CohesiveError, match="prior weight must be a number >= 0"):
        load_predictor(tmp_path, prior_weight=weight)  # tmp_path holds no model: the weight is checked first
