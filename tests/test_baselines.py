"""Knowledge-based baselines on the real framework: WordNet first sense reproduces the literature."""


from cohesive.corpora.raganato import Instance, Sentence, Token
from cohesive.wsd.baselines import ExtendedLesk, FirstSense
from cohesive.wsd.evaluate import evaluate_system

PUBLISHED_FIRST_SENSE = {"SE2": 66.8, "SE3": 66.2, "SE07": 55.2, "SE13": 63.0, "SE15": 67.8, "ALL": 65.2}


def test_first_sense_reproduces_published_f1(lex, data_root, tmp_path):
    reports = evaluate_system(FirstSense(lex).predict, "first-sense", list(PUBLISHED_FIRST_SENSE), tmp_path)
    measured = {name: round(100 * r.overall.f1, 1) for name, r in reports.items()}
    assert measured == PUBLISHED_FIRST_SENSE
    assert reports["ALL"].overall.answered == 7253
    assert set(reports["ALL"].by_dataset) == {"senseval2", "senseval3", "semeval2007", "semeval2013", "semeval2015"}
    assert (tmp_path / "first-sense" / "ALL.key.txt").read_text().count("\n") == 7253


def _instance(words: list[tuple[str, str, str]], target: int) -> Instance:
    tokens = [Token(text, lemma, pos, "t0" if i == target else None) for i, (text, lemma, pos) in enumerate(words)]
    return Instance("t0", tokens[target].lemma, tokens[target].pos, target, Sentence("s0", "d0", tokens))


def test_lesk_uses_context_and_first_sense_does_not(lex):
    river = _instance([("He", "he", "PRON"), ("fished", "fish", "VERB"), ("from", "from", "ADP"), ("the", "the", "DET"),
                       ("bank", "bank", "NOUN"), ("of", "of", "ADP"), ("the", "the", "DET"), ("river", "river", "NOUN"),
                       ("water", "water", "NOUN")], target=4)
    money = _instance([("She", "she", "PRON"), ("deposited", "deposit", "VERB"), ("money", "money", "NOUN"),
                       ("at", "at", "ADP"), ("the", "the", "DET"), ("bank", "bank", "NOUN")], target=5)
    lesk = ExtendedLesk(lex)
    assert lex.sense(lesk.predict(river)).synset == "bank.n.01"  # sloping land beside water
    assert lex.sense(lesk.predict(money)).synset == "depository_financial_institution.n.01"
    assert FirstSense(lex).predict(money) == "bank%1:17:01::"


def test_lesk_breaks_ties_toward_the_more_frequent_sense(lex):
    no_context = _instance([("bank", "bank", "NOUN")], target=0)
    assert ExtendedLesk(lex).predict(no_context) == lex.senses("bank", "n")[0].key


def test_unknown_lemma_is_left_unanswered(lex):
    assert FirstSense(lex).predict(_instance([("blorf", "blorf", "NOUN")], 0)) is None
