"""Offline text domains: readers on the real files, stable splits, block packing."""

import itertools
import re

import pytest
import torch

from cohesive.corpora import text
from cohesive.corpora.text import (
    DOMAINS,
    corpus_fingerprint,
    detokenise,
    domain_split,
    in_split,
    iter_domain,
    mixed_texts,
    tokenize_blocks,
)
from cohesive.errors import DataError

MARKUP = re.compile(r"[\\{}]|\[1913|``|''|\s{2}|\s[,.;:?!](?:\s|$)|\ufffd")


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_each_reader_yields_clean_text_from_the_real_files(data_root, domain):
    sample = list(itertools.islice(iter_domain(domain), 300))
    assert len(sample) == 300
    assert all(t.strip() == t and t for t in sample)
    dirty = [t for t in sample if MARKUP.search(t)]
    assert len(dirty) <= 3, dirty[:3]  # a few source quirks (e.g. a quoted "[sic]") are tolerated
    assert sum(len(t.split()) for t in sample) / len(sample) >= 4


def test_readers_produce_recognisable_passages(data_root):
    wordnet = next(iter_domain("wordnet"))
    assert wordnet.startswith("able: (usually followed by `to') having the necessary means or skill") and \
        wordnet.endswith("able to swim. she was able to program her computer. we were at last able to buy a car. "
                         "able to get a grant for the project.")
    semcor = next(iter_domain("semcor"))
    assert semcor.startswith("The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary")
    assert '"no evidence"' in semcor
    gcide = list(itertools.islice(iter_domain("gcide"), 2000))
    assert "A large South American serpent (Boa aboma)." in gcide  # no trailing stray headword
    assert "To imbue with the principles of abolitionism." in gcide  # no [R.] tag, no --Bartlett citation
    assert not any("Webster" in t or "--Coleridge" in t for t in gcide)


def test_detokenise_treebank_tokens():
    assert detokenise("I grinned . `` Does it bother you ? '' I said .".split()) == \
        'I grinned. "Does it bother you?" I said.'
    assert detokenise('he called " the witness " , ( really ) $ 5 and did n\'t like the students \' books'.split()) == \
        'he called "the witness", (really) $5 and didn\'t like the students\' books'


def _glue_root(root):
    glue = root / "glue"
    (glue / "CoLA").mkdir(parents=True)
    (glue / "CoLA" / "train.tsv").write_text(
        "gj04\t1\t\tOur friends won't buy this analysis.\nx\t0\t*\tShe said \"hi\".\n")
    (glue / "MRPC").mkdir()
    (glue / "MRPC" / "train.tsv").write_text(
        "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tHe said \" no \" , twice .\tHe left .\n"
        "0\t3\t4\tHe left .\tIt rained .\n", encoding="utf-8")
    (glue / "SST-2").mkdir()
    (glue / "SST-2" / "train.tsv").write_text("sentence\tlabel\ncontains no wit , only labored gags \t0\n")
    return root


def test_glue_handles_each_column_layout_and_repeats(tmp_path, monkeypatch):
    monkeypatch.setenv("COHESIVE_DATA", str(_glue_root(tmp_path)))
    assert list(iter_domain("glue")) == [
        "Our friends won't buy this analysis.", 'She said "hi".', "contains no wit, only labored gags",
        'He said "no", twice.', "He left.", "It rained."]


def test_missing_data_names_the_expected_path(tmp_path, monkeypatch):
    monkeypatch.setenv("COHESIVE_DATA", str(tmp_path))
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "glue")) + " not found"):
        list(iter_domain("glue"))
    monkeypatch.setattr(text, "GCIDE_SYSTEM_PATH", tmp_path / "gcide.dict.dz")
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "gcide.dict.dz")) + " not found"):
        list(iter_domain("gcide"))
    with pytest.raises(DataError, match="unknown text domain"):
        iter_domain("wikipedia")


def test_train_and_heldout_are_disjoint_deterministic_and_sized(data_root):
    train, heldout = domain_split("semcor", "train"), domain_split("semcor", "heldout")
    assert train and heldout and not set(train) & set(heldout)
    assert 0.01 < len(heldout) / (len(train) + len(heldout)) < 0.03
    assert domain_split("semcor", "heldout") == heldout
    assert all(in_split(t, "heldout") for t in heldout)
    sample = domain_split("semcor", "train", limit=100)
    assert len(sample) == 100 and set(sample) <= set(train) and sample == domain_split("semcor", "train", limit=100)
    assert sample != train[:100]  # a uniform sample, not the first documents


def test_mixed_texts_take_each_domain_and_shuffle(data_root):
    mixed = mixed_texts(["semcor", "glue"], "heldout", per_domain=50)
    assert len(mixed) == 100
    expected = {t for d in ("semcor", "glue") for t in domain_split(d, "heldout", limit=50)}
    assert set(mixed) == expected
    assert mixed == mixed_texts(["semcor", "glue"], "heldout", per_domain=50)
    assert mixed != mixed_texts(["semcor", "glue"], "heldout", per_domain=50, seed=1)


def test_tokenize_blocks_packs_cls_text_sep(tokenizer):
    texts = ["The cat sat on the mat.", "A bank is a financial institution.", "Short."] * 20
    blocks = tokenize_blocks(texts, tokenizer, seq_len=16)
    assert blocks.dtype == torch.long and blocks.shape[1] == 16 and blocks.shape[0] > 10
    assert (blocks[:, 0] == tokenizer.cls_token_id).all() and (blocks[:, -1] == tokenizer.sep_token_id).all()
    assert not (blocks == tokenizer.pad_token_id).any()
    inner = blocks[:, 1:-1].flatten().tolist()
    stream = [i for t in texts for i in tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]]
    assert inner == stream[: len(inner)]
    assert tokenize_blocks(["tiny"], tokenizer, seq_len=16).shape == (0, 16)


def test_fingerprint_names_the_exact_corpus():
    assert corpus_fingerprint(["a", "b"]) == corpus_fingerprint(["a", "b"])
    assert len(corpus_fingerprint(["a", "b"])) == 64
    assert corpus_fingerprint(["a", "b"]) != corpus_fingerprint(["b", "a"]) != corpus_fingerprint(["ab"])
