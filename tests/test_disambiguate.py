"""Raw-text API: tokens, the SemCor POS tagger (JSON cache), `disambiguate`, `cohesive wsd tag`."""

import argparse
import itertools
import json

import pytest

from cohesive.errors import CohesiveError
from cohesive.wsd import disambiguate as api
from cohesive.wsd.modeling import LmgcModel
from cohesive.wsd.tagger import (
    load_tagger,
    read_tagger,
    save_tagger,
    semcor_tagged,
    split_sentences,
    tokenize,
    train_tagger,
)

TEXT = "He sat on the bank of the river. She didn't deposit money there!"


@pytest.fixture(scope="module")
def tagger():
    return train_tagger(list(itertools.islice(semcor_tagged(), 400)), iterations=2)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_mlm, tokenizer):
    """An (untrained) LMGC model folder: enough to check the API's plumbing and outputs."""
    directory = tmp_path_factory.mktemp("lmgc")
    LmgcModel.from_pretrained(tiny_mlm, objective="lmgc").save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_tokenize_splits_clitics_and_keeps_offsets():
    tokens = tokenize(TEXT)
    assert [w for w, _, _ in tokens][9:13] == ["She", "did", "n't", "deposit"]
    assert all(TEXT[start:end] == word for word, start, end in tokens)
    assert [len(s) for s in split_sentences(tokens)] == [9, 7]


def test_tagger_learns_semcor_tags_and_round_trips_through_json(tagger, tmp_path):
    tags = dict(tagger.tag(["He", "sat", "on", "the", "bank", "of", "the", "river", "."]))
    assert tags["bank"] == "NOUN" and tags["the"] == "DET" and tags["sat"] == "VERB"
    path = tmp_path / "tagger.json"
    save_tagger(tagger, path, sentences=400)
    assert json.loads(path.read_text())["format"] == 1
    words = [w for w, _, _ in tokenize(TEXT)]
    assert read_tagger(path).tag(words) == tagger.tag(words)
    assert load_tagger(path).tag(words) == tagger.tag(words)  # an existing cache file is read, not retrained


def test_disambiguate_returns_valid_senses(model_dir, tagger, lex):
    tags = api.disambiguate(TEXT, model=model_dir, tagger=tagger)
    words = [t.token for t in tags]
    assert {"sat", "bank", "river", "deposit", "money"} <= set(words)
    assert "the" not in words and "He" not in words
    for t in tags:
        sense = lex.sense(t.key)  # a real WordNet 3.0 key
        assert TEXT[t.start:t.end] == t.token
        assert t.key in {s.key for s in lex.senses(t.lemma, t.pos)}
        assert (sense.synset, sense.gloss) == (t.synset, t.gloss)
        assert 0 < t.probability <= 1
        if len(lex.senses(t.lemma, t.pos)) == 1:
            assert (t.runner_up_key, t.runner_up_synset, t.runner_up_gloss, t.runner_up_probability) == (None,) * 4
        else:  # the second-best candidate, with WordNet's synset and gloss
            runner_up = lex.sense(t.runner_up_key)
            assert t.runner_up_key != t.key and runner_up in lex.senses(t.lemma, t.pos)
            assert (runner_up.synset, runner_up.gloss) == (t.runner_up_synset, t.runner_up_gloss)
            assert 0 <= t.runner_up_probability <= t.probability and t.probability + t.runner_up_probability <= 1.0001
    assert next(t for t in tags if t.token == "sat").lemma == "sit"


def test_bad_input_is_a_clear_error(model_dir, tagger, tmp_path):
    for empty in ("", "   \n"):
        with pytest.raises(CohesiveError, match="empty text"):
            api.disambiguate(empty, model=model_dir, tagger=tagger)
    with pytest.raises(CohesiveError, match="no trained WSD model"):
        api.disambiguate(TEXT, model=tmp_path / "missing", tagger=tagger)


def test_tag_command_prints_json_and_a_table(model_dir, tagger, monkeypatch, capsys):
    from cohesive.wsd import cli as wsd_cli

    monkeypatch.setattr(api, "load_tagger", lambda: tagger)
    parser = argparse.ArgumentParser()
    wsd_cli.register_models(parser.add_subparsers())
    args = parser.parse_args(["tag", "--json", "--model", str(model_dir), "The bank raised interest rates."])
    args.handler(args)
    rows = json.loads(capsys.readouterr().out)
    assert {"token", "lemma", "pos", "key", "synset", "gloss", "probability"} <= set(rows[0])
    args = parser.parse_args(["tag", "--model", str(model_dir), "The bank raised interest rates."])
    args.handler(args)
    assert "bank" in capsys.readouterr().out
