"""Raganato-format reader/writer on the real framework files."""

import pytest

from cohesive.corpora.raganato import (
    iter_instances,
    read_gold,
    read_keys,
    read_sentences,
    write_corpus,
    write_keys,
)
from cohesive.errors import DataError
from cohesive.paths import semcor_prefix, wsd_prefix

COUNTS = {"SE2": 2282, "SE3": 1850, "SE07": 455, "SE13": 1644, "SE15": 1022, "ALL": 7253}


@pytest.mark.parametrize("name,count", COUNTS.items())
def test_instance_counts_match_the_framework(data_root, name, count):
    prefix = wsd_prefix(name)
    ids = [i.id for i in iter_instances(prefix)]
    assert len(ids) == count == len(set(ids))
    assert set(read_gold(prefix, ids)) == set(ids)


def test_round_trip_on_a_real_file(data_root, tmp_path):
    prefix = wsd_prefix("SE07")
    sentences = list(read_sentences(prefix))
    gold = read_keys(f"{prefix}.gold.key.txt")
    write_corpus(tmp_path / "copy", sentences, gold, source="semeval2007")
    again = list(read_sentences(tmp_path / "copy"))
    assert again == sentences
    assert read_keys(tmp_path / "copy.gold.key.txt") == gold
    assert sentences[0].tokens[9].id == "d000.s000.t000" and sentences[0].tokens[9].lemma == "refer"


def test_multiword_tokens_keep_spaces_in_text_and_underscores_in_lemma(data_root):
    first = next(read_sentences(semcor_prefix()))
    unit = next(t for t in first.tokens if t.lemma == "primary_election")
    assert unit.text == "primary election" and unit.id == "d000.s000.t006" and unit.pos == "NOUN"


@pytest.mark.slow
def test_semcor_streams_all_instances(data_root):
    assert sum(len(s.instances) for s in read_sentences(semcor_prefix())) == 225_550


def test_malformed_xml_names_the_line(tmp_path):
    (tmp_path / "bad.data.xml").write_text('<corpus>\n<text id="d0">\n<sentence id="s0">\n<wf lemma="a" pos="DET">a</sentence>\n')
    with pytest.raises(DataError, match=r"bad.data.xml:4:\d+: malformed XML"):
        list(read_sentences(tmp_path / "bad"))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        list(read_sentences(tmp_path / "nothing"))


@pytest.mark.parametrize("line,message", [
    ("d0.s0.t0\n", "expected 'instance_id sense_key"),
    ("d0.s0.t0 notakey\n", "not a WordNet sense key"),
    ("d0.s0.t0 a%1:00:00::\nd0.s0.t0 b%1:00:00::\n", "appears twice"),
])
def test_malformed_key_files_are_refused_with_line_number(tmp_path, line, message):
    path = tmp_path / "k.txt"
    path.write_text(line)
    with pytest.raises(DataError, match=message):
        read_keys(path)


def test_gold_id_absent_from_data_is_refused(tmp_path):
    sentences = list(read_sentences(wsd_prefix("SE07")))[:1]
    write_corpus(tmp_path / "mini", sentences, {"d000.s000.t000": ["refer%2:32:01::"], "ghost.t9": ["x%1:00:00::"]})
    ids = [i.id for i in iter_instances(tmp_path / "mini")]
    with pytest.raises(DataError, match="absent from"):
        read_gold(tmp_path / "mini", ids)


def test_write_keys_accepts_single_and_multiple_answers(tmp_path):
    write_keys(tmp_path / "k.txt", [("a", "x%1:00:00::"), ("b", ["y%1:00:00::", "z%1:00:00::"])])
    assert read_keys(tmp_path / "k.txt") == {"a": ["x%1:00:00::"], "b": ["y%1:00:00::", "z%1:00:00::"]}
