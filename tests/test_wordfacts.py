"""The word table: what the word-level detector asks WordNet about a word, precomputed once per machine."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from cohesive.paraphrase.wordfacts import (
    WordTable,
    build_table,
    candidate_forms,
    english_stop_words,
    features_from,
    lexical_features,
    word_lemma_facts,
    word_table,
    wordnet_relatives,
)

REPO = Path(__file__).resolve().parent.parent
FORMS = ["automobiles", "canines", "forenoon", "geese", "happier", "walked", "shapely", "ran"]


def test_a_table_gives_the_facts_wordnet_gives(tmp_path):
    """Every stored form reads back exactly what WordNet gives word by word; any other form reads as unknown."""
    path = tmp_path / "table.sqlite"
    build_table(path, FORMS)
    table = WordTable(path)
    for form in FORMS:
        facts = word_lemma_facts(form)
        lexical, frequency = features_from(form, facts, english_stop_words())
        assert facts and table.features(form) == (lexical[:5], frequency)
        assert table.lemmas(form) == tuple((f.pos, f.lemma, f.relatives) for f in facts)
    assert table.features("zqxv") is None and table.lemmas("zqxv") == ()
    assert table.stop_words == english_stop_words()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.sqlite"]  # no scratch file left behind


def test_lexical_features_by_hand(lex):
    """automobiles -> automobile (noun only): its SemCor tags, its synonyms car / auto / machine / motorcar
    and the most tagged of them; `the` is a stop word WordNet lacks."""
    own = sum(s.tag_count for s in lex.senses("automobile", "NOUN"))
    best = max(sum(s.tag_count for s in lex.senses(w, "NOUN")) for w in ("car", "auto", "machine", "motorcar"))
    assert lexical_features("automobiles") == pytest.approx(
        (1.0, math.log1p(own), math.log1p(best), math.log1p(best) - math.log1p(own), math.log1p(4), 0.0))
    assert lexical_features("the") == (0.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def test_the_table_holds_every_form_wordnet_can_lemmatise(lex, data_root):
    """The table's completeness rests on `morphy` undoing one suffix rule (or an exception) and never a
    chain of them: every word of 2,000 SemCor sentences with a WordNet lemma is a candidate form."""
    from cohesive.corpora.raganato import read_sentences
    from cohesive.paths import semcor_prefix

    assert lex.lemmatise("dogs", "NOUN") == "dog" and lex.lemmatise("dogss", "NOUN") is None
    assert lex.lemmatise("walkeded", "VERB") is None
    forms = set(candidate_forms())
    assert {"geese", "wolves", "happier", "walked", "ran", "churches"} <= forms
    words = {t.text for s in itertools.islice(read_sentences(semcor_prefix()), 2000) for t in s.tokens}
    known = {w for w in words if w.isalpha() and word_lemma_facts(w)}
    assert len(known) > 3000 and not {w.lower() for w in known} - forms


_DETECT_IMPORTS = """
import sys
from cohesive.cli import main
code = main(["detect", sys.argv[1], "--json"])
print("modules:", sorted(m for m in ("nltk", "sklearn", "peft") if m in sys.modules), file=sys.stderr)
sys.exit(code)
"""


def test_detect_reads_the_table_not_wordnet():
    """`cohesive detect` with the shipped detector gets every word fact from the table: it imports neither
    NLTK (WordNet, the tagger), scikit-learn (stop words) nor peft (the LoRA pairs are merged directly)."""
    word_table()  # built here if this machine has none yet
    document = REPO / "examples" / "sample_document.txt"
    result = subprocess.run([sys.executable, "-c", _DETECT_IMPORTS, str(document)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "modules: []" in result.stderr and [p["flagged"] for p in json.loads(result.stdout)["paragraphs"]] == [
        False, True, False, True, True, False]


def test_relatives_come_from_the_table_cased_like_the_word():
    """The table stores lower-case relatives of the lemma; they are inflected and cased like the observed word."""
    relatives = wordnet_relatives("Canines")
    assert {"Dogs", "Carnivores"} <= set(relatives)
    assert word_table() is not None and "canines" in {w.lower() for w in wordnet_relatives("dogs")}


def test_an_unwritable_table_falls_back_to_wordnet(tmp_path, monkeypatch, caplog):
    """A table that cannot be written costs speed, not correctness: one warning, then WordNet word by word."""
    import cohesive.paraphrase.wordfacts as wordfacts

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setattr(wordfacts, "table_path", lambda: blocker / "word-table.sqlite")
    word_table.cache_clear()
    try:
        with caplog.at_level("INFO"):
            assert word_table() is None
        assert caplog.messages == [f"building the word table, once per machine (about a minute): {blocker / 'word-table.sqlite'}",
                                   f"could not write the word table at {blocker / 'word-table.sqlite'} ([Errno 17] File "
                                   f"exists: '{blocker}'): reading WordNet word by word"]
    finally:
        word_table.cache_clear()
