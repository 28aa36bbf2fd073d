"""The scorer against hand-computed values (official Java scorer semantics)."""

import pytest

from cohesive.wsd.scorer import dataset_of, report, score


def test_single_answers_precision_recall_f1():
    gold = {"a": ["k1"], "b": ["k2"], "c": ["k3"], "d": ["k4"]}
    predicted = {"a": ["k1"], "b": ["x"], "c": ["k3"]}  # d unanswered
    s = score(gold, predicted)
    assert (s.ok, s.notok, s.answered) == (2, 1, 3)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(2 / 4)
    assert s.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_multi_key_gold_accepts_any_listed_key():
    gold = {"a": ["k1", "k2"]}
    assert score(gold, {"a": ["k2"]}).f1 == 1.0


def test_multi_answer_system_earns_one_over_n_per_correct_key():
    gold = {"a": ["k1"], "b": ["k2", "k3"]}
    predicted = {"a": ["k1", "x", "y"], "b": ["k2", "k3"]}
    s = score(gold, predicted)
    assert s.ok == pytest.approx(1 / 3 + 1.0)
    assert s.notok == pytest.approx(2 / 3)
    assert s.precision == pytest.approx((4 / 3) / 2)
    assert s.recall == pytest.approx((4 / 3) / 2)


def test_ids_not_in_gold_are_ignored():
    gold = {"a": ["k1"]}
    assert score(gold, {"a": ["k1"], "zzz": ["bad"]}).as_dict()["precision"] == 1.0


def test_missing_answer_early_does_not_stop_counting():
    """The LMGC code stopped at the first unanswered instance; every later one must still count."""
    gold = {f"i{n}": ["k"] for n in range(10)}
    predicted = {f"i{n}": ["k"] for n in range(1, 10)}
    s = score(gold, predicted)
    assert s.ok == 9 and s.recall == pytest.approx(0.9) and s.precision == 1.0


def test_nothing_answered_scores_zero_not_error():
    s = score({"a": ["k"]}, {})
    assert (s.precision, s.recall, s.f1) == (0.0, 0.0, 0.0)


def test_breakdown_by_dataset_prefix_and_by_pos():
    gold = {
        "semeval2007.d0.s0.t0": ["bank%1:14:00::"],
        "semeval2007.d0.s0.t1": ["run%2:38:00::"],
        "senseval2.d0.s0.t0": ["peculiar%5:00:00:specific:00"],
    }
    predicted = {"semeval2007.d0.s0.t0": ["bank%1:14:00::"], "senseval2.d0.s0.t0": ["x%5:00:00:y:00"]}
    r = report(gold, predicted)
    assert dataset_of("semeval2007.d0.s0.t0") == "semeval2007"
    assert r.by_dataset["semeval2007"].recall == pytest.approx(0.5)
    assert r.by_dataset["senseval2"].f1 == 0.0
    assert set(r.by_pos) == {"NOUN", "VERB", "ADJ"}
    assert r.by_pos["NOUN"].f1 == 1.0 and r.by_pos["VERB"].recall == 0.0


def test_single_dataset_ids_have_no_dataset_breakdown():
    assert report({"d000.s000.t000": ["bank%1:14:00::"]}, {}).by_dataset == {}
