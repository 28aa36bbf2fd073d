"""WordNet 3.0 lookup: senses in WordNet order, sense keys (satellites too), location errors."""

import pytest

from cohesive.errors import WordNetMissingError
from cohesive.lexicon import locate
from cohesive.lexicon.wordnet import UnknownPosError, UnknownSenseKeyError, key_pos, wordnet_pos


def test_bank_financial_institution(lex):
    sense = lex.sense("bank%1:14:00::")
    assert sense.synset == "depository_financial_institution.n.01"
    assert sense.gloss == "a financial institution that accepts deposits and channels the money into lending activities"
    assert sense.number == 2 and sense.pos == "n"
    assert "he cashed a check at the bank" in sense.examples


def test_senses_come_in_wordnet_order(lex):
    senses = lex.senses("bank", "NOUN")
    assert len(senses) == 10
    assert [s.number for s in senses] == list(range(1, 11))
    assert senses[0].key == "bank%1:17:01::" and senses[0].synset == "bank.n.01"
    assert all(s.pos == "n" for s in senses)


def test_adjective_satellite_key(lex):
    sense = lex.sense("peculiar%5:00:00:specific:00")
    assert sense.synset == "particular.s.01" and sense.pos == "a"
    assert sense.key in [s.key for s in lex.senses("peculiar", "ADJ")]


def test_multiword_lemma(lex):
    assert lex.senses("primary election", "NOUN")[0].key == lex.senses("primary_election", "n")[0].key


def test_every_framework_and_semcor_gold_key_resolves(lex, data_root):
    files = list((data_root / "wsd").rglob("*.gold.key.txt"))
    assert len(files) == 7
    keys = {k for f in files for line in f.read_text().splitlines() for k in line.split()[1:]}
    assert len(keys) > 30_000
    assert [k for k in keys if not lex.has_sense(k)] == []


def test_unknowns_are_clear_errors(lex):
    with pytest.raises(UnknownPosError, match="unknown POS 'DET'"):
        lex.senses("the", "DET")
    with pytest.raises(UnknownSenseKeyError):
        lex.sense("bank%1:99:99::")
    assert lex.senses("qwertyuiop", "NOUN") == []
    assert key_pos("good%5:00:00:bad:00") == "a" and wordnet_pos("ADV") == "r"


def test_tag_count_sums_the_sense_index(lex):
    """From index.sense alone: the same total as the senses' own counts, across POS kept apart."""
    assert lex.tag_count("dog", "NOUN") == sum(s.tag_count for s in lex.senses("dog", "NOUN")) > 0
    assert lex.tag_count("Ice cream", "NOUN") == sum(s.tag_count for s in lex.senses("ice_cream", "NOUN"))
    assert lex.tag_count("dog", "ADV") == 0 and lex.tag_count("qwertyuiop", "NOUN") == 0


def test_explicit_folder_that_is_not_wordnet(tmp_path):
    with pytest.raises(WordNetMissingError, match="is not a WordNet 3.0 dict folder"):
        locate.locate_wordnet(tmp_path)


def test_no_wordnet_anywhere_names_the_three_ways(tmp_path, monkeypatch):
    import nltk

    monkeypatch.delenv("WORDNET_DIR", raising=False)
    monkeypatch.setattr(locate, "DEBIAN_WORDNET", tmp_path / "none")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    with pytest.raises(WordNetMissingError, match=r"WORDNET_DIR.*nltk.downloader wordnet.*wordnet-base"):
        locate.locate_wordnet()


@pytest.mark.skipif(not locate.DEBIAN_WORDNET.is_dir(), reason="needs Debian's wordnet-base (make wordnet)")
def test_private_copy_adds_lexnames(tmp_path, monkeypatch):
    monkeypatch.setenv("COHESIVE_CACHE", str(tmp_path))
    folder = locate.locate_wordnet(locate.DEBIAN_WORDNET)
    assert folder.is_relative_to(tmp_path)
    lines = (folder / "lexnames").read_text().splitlines()
    assert len(lines) == 45 and lines[3] == "03\tnoun.Tops\t1" and lines[44] == "44\tadj.ppl\t3"


@pytest.mark.skipif(not locate.DEBIAN_WORDNET.is_dir(), reason="needs Debian's wordnet-base (make wordnet)")
def test_an_unwritable_cache_is_a_clear_error(tmp_path, monkeypatch):
    """The private copy cannot be made: one line naming the folder and the fix, not a traceback."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("COHESIVE_CACHE", str(blocker))
    with pytest.raises(WordNetMissingError, match=r"cannot prepare WordNet .*not-a-folder.*COHESIVE_CACHE"):
        locate.locate_wordnet(locate.DEBIAN_WORDNET)
