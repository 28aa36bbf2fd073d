"""Machine-paraphrase detection: spinner, mask-and-fill, splits, metrics, detectors, CLI and scanning."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli

from cohesive.cli import main
from cohesive.errors import CohesiveError
from cohesive.paraphrase.corpus import ParaphraseCorpusConfig, deal, read_manifest, read_split
from cohesive.paraphrase.metrics import best_threshold, macro_f1, rates_at_threshold, recall_at_fpr
from cohesive.paraphrase.sources import Paragraph, domain_paragraphs, is_prose, joined, merge_prose
from cohesive.paraphrase.spinner import Spinner
from cohesive.paraphrase.wordedit import match_case

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "sample_document.txt"
HAND_TAGS = {"Scientists": "NOUN", "found": "VERB", "CITIES": "NOUN", "Paris": "NOUN", "were": "VERB",
             "large": "ADJ", "Buildings": "NOUN", "collapsed": "VERB", "quickly": "ADV", "mice": "NOUN",
             "ran": "VERB"}
HAND_TEXT = "Scientists found that the CITIES in Paris were large. Buildings collapsed quickly and the mice ran."


class HandTagger:
    """Fixed tags for the hand-made sentence, so the test checks the spinner, not the tagger."""

    def tag(self, words):
        return [(w, HAND_TAGS.get(w, "DET")) for w in words]


@pytest.fixture(scope="module")
def small_tagger(data_root):
    from cohesive.wsd.tagger import semcor_tagged, train_tagger

    return train_tagger(list(itertools.islice(semcor_tagged(), 400)), iterations=2)


@pytest.fixture(scope="module")
def semcor_texts(data_root) -> list[str]:
    from cohesive.paraphrase.sources import domain_paragraphs

    return [p.text for p in domain_paragraphs("semcor")[:6]]






# --- spinner ---------------------------------------------------------------------------------------


def assert_wordnet_synonym(lex, text, sub):
    """The substitution replaces a real word by another lemma of one synset of the same POS."""
    assert text[sub.start:sub.end] == sub.original
    assert sub.synonym != sub.lemma and sub.replacement.lower() != sub.original.lower()
    assert sub.synset in {s.synset for s in lex.senses(sub.lemma, sub.pos)}
    assert sub.synset in {s.synset for s in lex.senses(sub.synonym, sub.pos)}
    assert lex.lemmatise(sub.original, sub.pos) == sub.lemma
    assert lex.lemmatise(sub.replacement, sub.pos) == sub.synonym


def test_spinner_substitutes_wordnet_synonyms_of_the_same_pos(lex, small_tagger, semcor_texts):
    counts = {}
    for mode in ("every-4th", "every-2nd", "max"):
        spinner = Spinner(mode, tagger=small_tagger, lex=lex)
        counts[mode] = 0
        for n, text in enumerate(semcor_texts):
            spun = spinner.spin(text, random.Random(n))
            counts[mode] += len(spun.substitutions)
            for sub in spun.substitutions:
                assert_wordnet_synonym(lex, text, sub)
                assert sub.pos in ("NOUN", "VERB", "ADJ", "ADV")
            assert spun.text != text
    assert 0 < counts["every-4th"] < counts["every-2nd"] < counts["max"]


def test_spinner_keeps_casing_and_inflection_and_names(lex):
    spun = Spinner("max", sense="first", tagger=HandTagger(), lex=lex).spin(HAND_TEXT, random.Random(0))
    by_word = {s.original: s for s in spun.substitutions}
    for sub in spun.substitutions:
        assert_wordnet_synonym(lex, HAND_TEXT, sub)
        assert match_case(sub.original, sub.replacement) == sub.replacement  # lower, Title or UPPER kept
    assert by_word["CITIES"].replacement.isupper() and by_word["CITIES"].replacement.endswith("ES")  # plural
    assert by_word["Buildings"].replacement == "Edifices"  # Title case, plural
    assert by_word["large"].replacement == "big"
    assert "Paris" not in by_word and "Paris" in spun.text  # a name inside a sentence stays
    assert spun.text.startswith("Scientists found that the METROPOLISES in Paris")


def test_the_default_sense_is_chosen_in_context(lex):
    class Tagger:
        TAGS = {"bank": "NOUN", "money": "NOUN", "interest": "NOUN", "loan": "NOUN", "deposited": "VERB",
                "fished": "VERB", "river": "NOUN", "water": "NOUN", "fish": "NOUN"}

        def tag(self, words):
            return [(w, self.TAGS.get(w, "DET")) for w in words]

    def bank_sense(spinner, text):
        sentence = spinner._tagged_sentences(text)[0]
        return spinner._choose_sense(sentence, [s[0][0] for s in sentence.spans].index("bank")).synset

    texts = ["She deposited the money in the bank to earn interest on a loan.",
             "They fished from the grassy bank of the river, watching the water and the fish."]
    spinner = Spinner(tagger=Tagger(), lex=lex)
    assert spinner.sense == "lesk" and ParaphraseCorpusConfig().sense == "lesk"
    assert [bank_sense(spinner, t) for t in texts] == ["depository_financial_institution.n.01", "bank.n.01"]
    first = Spinner(sense="first", tagger=Tagger(), lex=lex)
    assert [bank_sense(first, t) for t in texts] == ["bank.n.01", "bank.n.01"]  # context-free


def test_spinner_is_deterministic_and_lesk_is_wired(lex, small_tagger, semcor_texts):
    first = Spinner("every-2nd", tagger=small_tagger, lex=lex).spin(semcor_texts[0], random.Random(3))
    again = Spinner("every-2nd", tagger=small_tagger, lex=lex).spin(semcor_texts[0], random.Random(3))
    assert first == again
    lesk = Spinner("max", sense="lesk", tagger=small_tagger, lex=lex).spin(semcor_texts[1], random.Random(0))
    for sub in lesk.substitutions:
        assert_wordnet_synonym(lex, semcor_texts[1], sub)


# --- mask-and-fill ---------------------------------------------------------------------------------


def test_maskfill_never_returns_the_original_word(tiny_mlm, semcor_texts):
    from cohesive.paraphrase.maskfill import MaskFiller

    filler = MaskFiller(str(tiny_mlm), share=0.5, passes=2, batch_size=2)
    short = [" ".join(t.split()[:40]) for t in semcor_texts[:4]]  # fits the tiny model's 128 positions
    results = filler.fill(short, [random.Random(i) for i in range(4)])
    for text, filled in zip(short, results):
        words = [w for w in text.split() if any(c.isalpha() for c in w)]
        assert len(filled.fills) >= 0.4 * len(words)
        for fill in filled.fills:
            assert text[fill.start:fill.end] == fill.original
            assert fill.replacement.lower() != fill.original.lower()
            assert fill.replacement.isalpha() and "#" not in fill.replacement
    again = filler.fill(short, [random.Random(i) for i in range(4)])
    assert [r.text for r in again] == [r.text for r in results]


def test_maskfill_bans_the_original_even_when_it_is_the_best_guess(tiny_mlm):
    import torch

    from cohesive.paraphrase.maskfill import MaskFiller

    filler = MaskFiller(str(tiny_mlm), share=0.3)
    logits = torch.zeros(filler.allowed.shape[0])
    river = filler.tokenizer.convert_tokens_to_ids("river")
    logits[river], logits[filler.tokenizer.convert_tokens_to_ids("stream")] = 10.0, 5.0
    assert filler._best(logits, ("River", 0, 5)).replacement == "Stream"


def test_maskfill_keeps_words_past_the_model_length(tiny_mlm, semcor_texts):
    from cohesive.paraphrase.maskfill import MaskFiller

    long_text = " ".join(semcor_texts[:3])
    filled = MaskFiller(str(tiny_mlm), share=0.3).fill([long_text], [random.Random(0)])[0]
    assert filled.fills and max(f.end for f in filled.fills) < len(long_text) * 0.8
    assert filled.text.endswith(long_text[-200:])


# --- sources and splits ----------------------------------------------------------------------------


def test_docstring_prose_filter():
    docstring = ("Return the thing.\n\nThis function does a great many things for the caller and explains them "
                 "in plain words.\n\n    >>> thing()\n    42\n\nArgs:\n  x -- a value")
    merged = "Return the thing. This function does a great many things for the caller and explains them in plain words."
    assert merge_prose(docstring, 5, 50) == [merged]  # short prose paragraphs merged, code and lists dropped
    assert merge_prose(docstring, 5, 10) == []  # merged, but too long
    assert not is_prose(">>> thing()\n42") and not is_prose("x -- the value\n    y -- another value")


def test_short_passages_are_joined_in_order_to_a_seeded_length():
    passages = [" ".join(f"w{i}x{j}" for j in range(n)) for i, n in enumerate([3, 4, 30, 2, 5, 6, 3, 4, 7, 2, 9, 3])]
    out = list(joined(passages, 6, 12, "test"))
    assert out == list(joined(passages, 6, 12, "test"))  # seeded
    words = [p.split() for p in out]
    assert all(6 <= len(w) <= 12 for w in words)
    assert not any(w.startswith("w2x") for p in words for w in p)  # a 30-word passage alone is too long: skipped
    for paragraph in words:  # consecutive whole passages, in order
        first, last = int(paragraph[0][1:].split("x")[0]), int(paragraph[-1][1:].split("x")[0])
        assert paragraph == [w for i in range(first, last + 1) if i != 2 for w in passages[i].split()]
    assert [w for p in words for w in p] == [w for p in out for w in p.split()]


def test_extra_training_registers_read_real_glosses_and_glue_sentences(data_root):
    glosses = domain_paragraphs("wordnet", 40, 200)[:50]
    assert glosses and all(40 <= len(p.text.split()) <= 200 and p.domain == "wordnet" for p in glosses)
    assert glosses[0].text.startswith("(usually followed by `to') having the necessary means or skill or know-how or "
                                      "authority to do something. able to swim.")  # able.a.01: gloss, example
    sentences = domain_paragraphs("glue", 40, 200)
    first_cola = "Our friends won't buy this analysis, let alone the next one we propose."  # CoLA train, row 1
    assert sentences[0].text.startswith(first_cola)
    assert not any("  " in p.text or " ," in p.text for p in sentences[:500])  # detokenised


def _paragraphs(domain: str, n: int) -> list[Paragraph]:
    return [Paragraph(f"{domain}:{i}", domain, f"text {i}") for i in range(n)]


@pytest.mark.parametrize("aligned", [False, True])
def test_deal_gives_disjoint_pools(aligned):
    config = ParaphraseCorpusConfig(train_per_class=5, validation_per_class=3, test_per_class=4, aligned=aligned)
    pools = deal(_paragraphs("semcor", 40), "semcor", config)
    assert set(pools) == {"train", "validation", "test"}
    used = {split: {p.id for pair in pool for p in pair} for split, pool in pools.items()}
    assert not (used["train"] & used["test"]) and not (used["train"] & used["validation"])
    assert not (used["validation"] & used["test"])
    for originals, sources in pools.values():
        assert (originals == sources) if aligned else not ({p.id for p in originals} & {p.id for p in sources})
    other = deal(_paragraphs("gcide", 8), "gcide", config)
    assert set(other) == {"test"}  # only the training domain has train and validation pools
    extra = ParaphraseCorpusConfig(domains=["semcor"], train_extra={"wordnet": 4})
    glosses = deal(_paragraphs("wordnet", 8), "wordnet", extra)
    assert set(glosses) == {"train"} and len(glosses["train"][0]) == 4  # training text only, never tested
    with pytest.raises(Exception, match="lower the per-class sizes"):
        deal(_paragraphs("gcide", 3), "gcide", config)


# --- metrics ---------------------------------------------------------------------------------------


def test_macro_f1_by_hand():
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    scores = [0.1, 0.4, 0.35, 0.8, 0.9, 0.6, 0.3, 0.7]
    assert macro_f1(labels, scores, 0.5) == pytest.approx(0.75)  # both classes: P = R = 3/4
    # at 0.85: paraphrases F1 = 2*1/(4+1) = 0.4, originals F1 = 2*4/(4+7) = 8/11
    assert macro_f1(labels, scores, 0.85) == pytest.approx((0.4 + 8 / 11) / 2)
    assert macro_f1(labels, scores, 0.0) == pytest.approx((2 * 4 / 12 + 0) / 2)  # everything flagged
    threshold, f1 = best_threshold([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])
    assert threshold == pytest.approx(0.25) and f1 == 1.0


def test_recall_at_fpr_by_hand():
    negatives = [i / 100 for i in range(100)]  # 0.00 ... 0.99
    positives = [0.99, 0.985, 0.98, 0.5]
    labels, scores = [0] * 100 + [1] * 4, negatives + positives
    recall, threshold = recall_at_fpr(labels, scores, 0.01)  # one false positive allowed: cut at 0.98
    assert threshold == pytest.approx(0.98) and recall == pytest.approx(0.5)
    assert recall_at_fpr(labels, scores, 0.0)[0] == 0.0  # nothing above the best original (0.99)
    assert recall_at_fpr(labels, scores, 0.05) == (pytest.approx(0.75), pytest.approx(0.94))
    assert recall_at_fpr([0] * 50 + [1], [0.5] * 50 + [0.6], 0.01) == (1.0, 0.5)  # 0 of 50 allowed


def test_results_name_what_a_detector_trained_on_beyond_the_corpus():
    """The shipped detector's corpus adds registers and a generator to the test corpus's training cell."""
    from cohesive.paraphrase.evaluate import _trained_beyond

    corpus = {"domain": "semcor", "generator": "mix", "generators": ["spin-4th", "maskfill"]}
    trained = {"extra_domains": {"glue": 5}, "generators": ["spin-4th", "spin-hypo", "maskfill"]}
    assert _trained_beyond("d", trained, corpus) == [
        "", "d also trained on glue (5 paragraphs per class), the generator spin-hypo, which no test cell comes from."]
    assert _trained_beyond("d", {"generators": ["maskfill"]}, corpus) == []
    assert _trained_beyond("d", {"domain": "semcor", "generator": "spin-max"}, {"domain": "semcor", "generator": "spin-max"}) == []


def test_rates_at_threshold_by_hand():
    labels, scores = [0, 0, 0, 0, 1, 1, 1, 1], [0.1, 0.4, 0.35, 0.8, 0.9, 0.6, 0.3, 0.7]
    assert rates_at_threshold(labels, scores, 0.5) == (0.75, 0.25)
    assert rates_at_threshold(labels, scores, 0.8) == (0.25, 0.25)  # >= flags the original at 0.8
    with pytest.raises(CohesiveError):
        rates_at_threshold([1, 1], [0.2, 0.9], 0.5)


def test_cell_scores_by_hand():
    """Two cells; the one trained on is left out of the unseen mean. Cell b at threshold 0.5:
    paraphrases 0.9, 0.6, 0.3, 0.7 -> recall 3/4; originals 0.1, 0.4, 0.35, 0.8 -> FPR 1/4."""
    from cohesive.paraphrase.evaluate import score_cells

    rows, scores = [], {}
    for cell, values in (("a", [0.1, 0.2, 0.9, 0.8]), ("b", [0.1, 0.4, 0.35, 0.8, 0.9, 0.6, 0.3, 0.7])):
        half = len(values) // 2
        for n, value in enumerate(values):
            text = f"{cell}{n}"
            rows.append({"text": text, "label": int(n >= half), "domain": "d", "generator": cell})
            scores[text] = value
    result = score_cells(rows, scores, 0.5, 0.01, {"domain": "d", "generator": "a"})
    a, b = result["cells"]
    assert (a["macro_f1"], a["recall_at_threshold"], a["fpr_at_threshold"], a["trained_here"]) == (1.0, 1.0, 0.0, True)
    assert (b["macro_f1"], b["recall_at_threshold"], b["fpr_at_threshold"], b["trained_here"]) == (0.75, 0.75, 0.25, False)
    assert b["recall_at_fpr"] == 0.25  # no original of 4 may pass at 1%: above 0.8 is only 0.9
    assert (result["unseen_macro_f1"], result["mean_macro_f1"]) == (0.75, 0.875)


# --- detectors -------------------------------------------------------------------------------------

TOY_TEXTS = ["the cat sat on the mat", "a dog ran in the park", "the feline sat on the rug",
             "a hound ran in the parkland", "birds sing in the morning", "fowl chant in the forenoon"] * 3
TOY_LABELS = [0, 0, 1, 1, 0, 1] * 3


def _assert_no_pickle(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            assert path.suffix in (".json", ".safetensors", ".txt"), path
            assert not path.read_bytes().startswith(b"\x80"), path  # pickle protocol 2+ header


@pytest.mark.parametrize("kind", ["tfidf-lr", "tfidf-svm"])
def test_linear_detectors_round_trip_without_pickle(tmp_path, kind):
    from cohesive.paraphrase.detectors import build_detector, load_detector

    detector = build_detector(kind, c=10.0)
    detector.fit(TOY_TEXTS, TOY_LABELS)
    detector.threshold, detector.info = 0.42, {"train_cell": {"domain": "toy", "generator": "hand"}}
    before = detector(TOY_TEXTS)
    detector.save(tmp_path)
    loaded = load_detector(tmp_path)
    assert np.array_equal(loaded(TOY_TEXTS), before) and loaded.threshold == 0.42 and loaded.kind == kind
    assert ((before >= 0.5) == np.array(TOY_LABELS, dtype=bool)).all() and ((before > 0) & (before < 1)).all()
    _assert_no_pickle(tmp_path)


@pytest.mark.parametrize("kind", ["embed-lr", "finetune"])
def test_transformer_detectors_round_trip(tmp_path, tiny_mlm, kind):
    from cohesive.paraphrase.detectors import build_detector, load_detector

    detector = build_detector(kind, model=str(tiny_mlm), max_length=32, batch_size=8, epochs=1.0)
    detector.fit(TOY_TEXTS[:8], TOY_LABELS[:8])  # finetune: one step of 8
    before = detector(TOY_TEXTS)
    assert before.shape == (len(TOY_TEXTS),) and ((before >= 0) & (before <= 1)).all()
    detector.save(tmp_path)
    assert np.allclose(load_detector(tmp_path)(TOY_TEXTS), before, atol=1e-6)
    _assert_no_pickle(tmp_path)


def test_unknown_kind_and_missing_detector(tmp_path):
    from cohesive.paraphrase.detectors import build_detector, load_detector

    with pytest.raises(CohesiveError, match="unknown detector kind"):
        build_detector("naive-bayes")
    with pytest.raises(CohesiveError, match="train a detector first"):
        load_detector(tmp_path)


# --- end to end through the CLI --------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_corpus(tmp_path_factory, tiny_mlm, data_root) -> Path:
    out = tmp_path_factory.mktemp("paraphrase") / "corpus"
    code = main(["paraphrase", "build", "--config", str(REPO / "configs/quickstart/paraphrase_build.yaml"),
                 "--set", f"output_dir={out}", "--set", "domains=[semcor,gcide]",
                 "--set", "generators=[spin-4th,spin-max,maskfill]", "--set", "train_per_class=12",
                 "--set", "validation_per_class=6", "--set", "test_per_class=5", "--set", "tagger_sentences=400",
                 "--set", "train_extra={glue: 4}", "--set", f"mask_model={tiny_mlm}"])
    assert code == 0
    return out


def test_built_corpus_splits_are_disjoint(built_corpus):
    rows = {split: read_split(built_corpus, split) for split in ("train", "validation", "test")}
    sources = {split: {r["source_id"] for r in split_rows} for split, split_rows in rows.items()}
    assert not (sources["train"] & sources["validation"]) and not (sources["train"] & sources["test"])
    assert not (sources["validation"] & sources["test"])
    assert not ({r["text"] for r in rows["train"]} & {r["text"] for r in rows["test"]})
    for split_rows in rows.values():
        originals = {r["source_id"] for r in split_rows if r["label"] == 0}
        assert not originals & {r["source_id"] for r in split_rows if r["label"] == 1}
    assert {(r["domain"], r["generator"]) for r in rows["validation"]} == {("semcor", "spin-max")}
    assert Counter((r["domain"], r["generator"], r["label"]) for r in rows["train"]) == {
        ("semcor", "spin-max", 0): 12, ("semcor", "spin-max", 1): 12, ("glue", "spin-max", 0): 4, ("glue", "spin-max", 1): 4}
    cells = {(r["domain"], r["generator"]) for r in rows["test"]}  # the extra training register is never tested
    assert cells == {(d, g) for d in ("semcor", "gcide") for g in ("spin-4th", "spin-max", "maskfill")}
    assert len(rows["test"]) == 2 * 3 * 10
    assert read_manifest(built_corpus)["train_cell"]["extra_domains"] == {"glue": 4}
    assert set(rows["test"][0]) == {"id", "text", "label", "domain", "generator", "split", "source_id", "changes",
                                    "replaced"}
    assert all(r["changes"] > 0 for r in rows["test"] if r["label"] == 1)


def test_backbone_comparison_pairs_seeds_resumes_and_reruns_a_retrained_backbone(built_corpus, tmp_path, tiny_mlm,
                                                                                  tiny_teachers, capsys):
    import shutil
    import statistics

    import yaml

    other = tmp_path / "other-backbone"
    shutil.copytree(tiny_teachers[0], other)  # another tiny MLM with the same vocabulary
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"kind": "word-lora", "corpus_dir": str(built_corpus), "max_steps": 2,
                                      "window_words": 16, "batch_size": 8, "max_length": 64}))
    config = tmp_path / "compare.yaml"
    config.write_text(yaml.safe_dump({"backbones": [f"a={tiny_mlm}", f"b={other}"], "detector": "recipe.yaml",
                                      "seeds": [1, 2], "output_dir": "runs", "results_dir": "results"}))
    code, out, err = run_cli(capsys, "paraphrase", "compare", "--config", config)
    assert code == 0, err
    runs, results = tmp_path / "runs", tmp_path / "results"
    report = json.loads((results / "compare.json").read_text())
    assert report["reference"] == "a" and report["backbones"]["b"]["seeds"] == [1, 2]
    assert json.loads((runs / "b" / "seed2" / "detector.json").read_text())["options"]["seed"] == 2
    cells = {(name, seed): json.loads((runs / name / f"seed{seed}" / "cells.json").read_text())["cells"]
             for name in "ab" for seed in (1, 2)}
    for k, cell in enumerate(report["differences"]["b"]["cells"]):
        by_hand = [cells["b", s][k]["recall_at_fpr"] - cells["a", s][k]["recall_at_fpr"] for s in (1, 2)]
        assert cell["recall_at_fpr"]["values"] == pytest.approx(by_hand)
        by_hand = [cells["b", s][k]["macro_f1"] - cells["a", s][k]["macro_f1"] for s in (1, 2)]
        assert cell["macro_f1"]["values"] == pytest.approx(by_hand)
        assert cell["macro_f1"]["std"] == pytest.approx(statistics.stdev(by_hand))
        assert report["backbones"]["a"]["cells"][k]["macro_f1"]["mean"] == pytest.approx(
            (cells["a", 1][k]["macro_f1"] + cells["a", 2][k]["macro_f1"]) / 2)
    assert any(c["macro_f1"]["values"] != [0, 0] for c in report["differences"]["b"]["cells"])  # b is another model
    unseen = {(name, seed): json.loads((runs / name / f"seed{seed}" / "cells.json").read_text())["unseen_recall_at_fpr"]
              for name in "ab" for seed in (1, 2)}
    assert report["differences"]["b"]["unseen_recall_at_fpr"]["values"] == pytest.approx(
        [unseen["b", s] - unseen["a", s] for s in (1, 2)])
    assert (results / "compare.png").read_bytes().startswith(b"\x89PNG")
    assert "| a | 1, 2 |" in out and "| domain | generator | a | b | b - a |" in out

    trained = {d: (d / "detector.json").stat().st_mtime_ns for d in runs.glob("*/seed*")}
    code, out, err = run_cli(capsys, "paraphrase", "compare", "--config", config, "--set", f"backbones=[b={other}/.]",
                             "--set", "seeds=[2]")  # the same folder spelt otherwise: read back, not retrained
    assert code == 0, err
    assert "| b | 2 |" in out and "b - a" not in out and not (results / "compare.png").exists()
    (other / "config.json").write_text((other / "config.json").read_text() + "\n")  # b "retrained": new fingerprint
    code, _, err = run_cli(capsys, "paraphrase", "compare", "--config", config)
    assert code == 0, err
    again = {d: (d / "detector.json").stat().st_mtime_ns for d in runs.glob("*/seed*")}
    assert {d.parent.name for d in again if again[d] != trained[d]} == {"b"}  # a skipped, b run again
    code, _, err = run_cli(capsys, "paraphrase", "compare", "--config", config, "--set", "fpr=0.05")
    assert code == 2 and "was run with other options (fpr: 0.01 -> 0.05)" in err
    (tmp_path / "tfidf.yaml").write_text(yaml.safe_dump({"kind": "tfidf-lr", "corpus_dir": str(built_corpus)}))
    code, _, err = run_cli(capsys, "paraphrase", "compare", "--config", config, "--set", f"detector={tmp_path / 'tfidf.yaml'}")
    assert code == 2 and "kind 'tfidf-lr' does not use a backbone" in err


def test_build_is_deterministic(built_corpus, tmp_path, tiny_mlm):
    code = main(["paraphrase", "build", "--config", str(built_corpus / "build.yaml"),
                 "--set", f"output_dir={tmp_path}"])
    assert code == 0
    for split in ("train", "validation", "test"):
        assert (tmp_path / f"{split}.jsonl").read_text() == (built_corpus / f"{split}.jsonl").read_text()


def test_train_evaluate_detect_end_to_end(built_corpus, tmp_path, tiny_mlm, capsys):
    detectors = tmp_path / "detectors"
    code, out, _ = run_cli(capsys, "paraphrase", "train", "--config", REPO / "configs/paraphrase/train_tfidf_lr.yaml",
                           "--set", f"corpus_dir={built_corpus}", "--output-dir", detectors / "tfidf-lr")
    assert code == 0 and json.loads(out)["train_cell"] == {"domain": "semcor", "generator": "spin-max",
                                                           "extra_domains": {"glue": 4}}
    code, _, _ = run_cli(capsys, "paraphrase", "train", "--config", REPO / "configs/paraphrase/train_finetune_lmgcm.yaml",
                         "--set", f"corpus_dir={built_corpus}", "--output-dir", detectors / "finetune",
                         "--model", tiny_mlm, "--set", "max_length=64", "--set", "max_train_examples=8",
                         "--set", "batch_size=8")
    assert code == 0
    code, _, _ = run_cli(capsys, "paraphrase", "train", "--config", REPO / "configs/paraphrase/train_word_lora.yaml",
                         "--set", f"corpus_dir={built_corpus}", "--output-dir", detectors / "word-lora",
                         "--model", tiny_mlm, "--set", "max_steps=2", "--set", "window_words=16", "--set", "batch_size=8")
    assert code == 0 and (detectors / "word-lora" / "training_log.json").is_file()
    results = tmp_path / "results"
    code, out, _ = run_cli(capsys, "paraphrase", "evaluate", "--detectors", detectors / "tfidf-lr",
                           detectors / "finetune", detectors / "word-lora", "--set", f"corpus_dir={built_corpus}",
                           "--set", f"results_dir={results}")
    assert code == 0 and "| tfidf-lr | tfidf-lr |" in out and "| finetune | finetune |" in out
    assert "| word-lora | word-lora |" in out
    summary = json.loads((results / "paraphrase.json").read_text())
    assert len(summary["detectors"]["tfidf-lr"]["cells"]) == 6
    for name in ("tfidf-lr", "finetune", "word-lora"):
        assert (results / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        assert 0 <= summary["detectors"][name]["mean_macro_f1"] <= 1
    markdown = (results / "paraphrase.md").read_text()
    assert markdown.count("| domain |") == 3
    assert "word-lora also trained on glue (4 paragraphs per class)" in markdown  # the corpus's extra register

    code, out, _ = run_cli(capsys, "detect", SAMPLE, "--detector", detectors / "tfidf-lr", "--json",
                           "--html", tmp_path / "report.html")
    report = json.loads(out)
    blocks = [b for b in SAMPLE.read_text().split("\n\n") if b.strip()]
    assert code == 0 and len(report["paragraphs"]) == len(blocks) == 6
    assert [p["text"] for p in report["paragraphs"]] == [" ".join(b.split()) for b in blocks]
    assert all(0 <= p["probability"] <= 1 for p in report["paragraphs"])
    assert max(p["windows"] for p in report["paragraphs"]) > 1  # the last paragraph has 270 words
    page = PageText()
    page.feed((tmp_path / "report.html").read_text())
    page.close()
    assert page.stack == [] and page.title.startswith("Machine-paraphrase report")
    assert all(" ".join(b.split()) in " ".join(page.text.split()) for b in blocks)

    code, out, _ = run_cli(capsys, "detect", SAMPLE, "--detector", detectors / "tfidf-lr", "--threshold", "0")
    assert code == 0 and out.count("PARAPHRASED") == 6

    code, out, _ = run_cli(capsys, "detect", SAMPLE, "--detector", detectors / "word-lora", "--threshold", "0",
                           "--html", tmp_path / "word.html")
    assert code == 0 and out.count("PARAPHRASED") == 6
    page = PageText()
    page.feed((tmp_path / "word.html").read_text())
    page.close()
    assert page.stack == [] and all("".join(b.split()) in "".join(page.text.split()) for b in blocks)


class PageText(HTMLParser):
    """Collects the visible text and checks that every element is closed in order."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self):
        super().__init__()
        self.stack, self.text, self.title, self._in = [], "", "", None

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)
        self._in = tag

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"
        self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in != "style":
            self.text += data + " "


@pytest.mark.parametrize("content", [b"caf\xe9 au lait\n\nsecond paragraph\n", b"", b"  \n\n \t\n"])
def test_detect_rejects_bad_files(tmp_path, capsys, content):
    from cohesive.paraphrase.detectors import build_detector

    detector = build_detector("tfidf-lr")
    detector.fit(TOY_TEXTS, TOY_LABELS)
    detector.save(tmp_path / "detector")
    path = tmp_path / "doc.txt"
    path.write_bytes(content)
    code, _, err = run_cli(capsys, "detect", path, "--detector", tmp_path / "detector")
    assert_one_line_error(code, err, "is not UTF-8" if content.startswith(b"caf") else "is empty")


def test_cli_user_errors(tmp_path, capsys):
    code, _, err = run_cli(capsys, "paraphrase", "build", "--config", REPO / "configs/paraphrase/build.yaml",
                           "--set", "generators=[spin-3rd]", "--set", f"output_dir={tmp_path / 'corpus'}")
    assert_one_line_error(code, err, "spin-3rd")
    code, _, err = run_cli(capsys, "detect", SAMPLE, "--detector", tmp_path / "none")
    assert_one_line_error(code, err, "train a detector first")
    code, _, err = run_cli(capsys, "paraphrase", "train", "--config", REPO / "configs/paraphrase/train_tfidf_lr.yaml",
                           "--set", f"corpus_dir={tmp_path}", "--output-dir", tmp_path / "detector")
    assert_one_line_error(code, err, "build the corpus first")
    assert not (tmp_path / "corpus").exists() and not (tmp_path / "detector").exists()


@pytest.fixture
def empty_folder(tmp_path) -> Path:
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("overrides,needle", [
    (["batch_size=0"], "batch_size must be positive"),
    (["max_length=0"], "max_length must be positive"),
    (["epochs=0"], "epochs must be > 0"),
    (["c=0"], "c must be > 0"),
    (["warmup_ratio=1"], "warmup_ratio must be in [0, 1)"),
    (["max_train_examples=0"], "max_train_examples must be positive or null"),
    (["kind=naive-bayes"], "unknown detector kind 'naive-bayes'"),
    (["kind=finetune", "model=EMPTY"], "cannot load"),
    (["kind=embed-lr", "model=EMPTY"], "cannot load"),
])
def test_train_options_are_checked_before_any_work(tmp_path, capsys, empty_folder, overrides, needle):
    sets = [a for o in overrides for a in ("--set", o.replace("EMPTY", str(empty_folder)))]
    code, _, err = run_cli(capsys, "paraphrase", "train", "--config", REPO / "configs/paraphrase/train_tfidf_lr.yaml",
                           "--set", f"corpus_dir={tmp_path / 'no-corpus'}", "--output-dir", tmp_path / "detector", *sets)
    assert_one_line_error(code, err, needle)  # not "build the corpus first": the options come first
    assert not (tmp_path / "detector").exists()


@pytest.mark.parametrize("overrides,needle", [
    (["sense=wordnet"], "unknown sense method 'wordnet'"),
    (["mask_share=1.0"], "mask_share must be in (0, 1)"),
    (["mask_share=0"], "mask_share must be in (0, 1)"),
    (["mask_passes=0"], "mask_passes must be at least 1"),
    (["mask_model=EMPTY"], "cannot load"),
    (["min_words=50", "max_words=40"], "min_words <= max_words"),
    (["train_extra={gcide: 10}"], "train_extra gcide: 10: need a domain from"),
    (["train_extra={poems: 10}"], "train_extra poems: 10: need a domain from"),
    (["train_extra={glue: 0}"], "a positive paragraph count"),
    (["train_extra=[glue]"], "option train_extra=['glue'] should be a mapping"),
])
def test_build_options_are_checked_before_any_spinning(tmp_path, capsys, empty_folder, overrides, needle):
    sets = [a for o in overrides for a in ("--set", o.replace("EMPTY", str(empty_folder)))]
    code, _, err = run_cli(capsys, "paraphrase", "build", "--config", REPO / "configs/paraphrase/build.yaml",
                           "--set", f"output_dir={tmp_path / 'corpus'}", *sets)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "corpus").exists()


@pytest.fixture
def toy_detector(tmp_path) -> Path:
    from cohesive.paraphrase.detectors import build_detector

    detector = build_detector("tfidf-lr")
    detector.fit(TOY_TEXTS, TOY_LABELS)
    detector.save(tmp_path / "detector")
    return tmp_path / "detector"


def test_detect_checks_threshold_and_html_path(tmp_path, capsys, toy_detector):
    for threshold in ("1.5", "-0.1"):
        code, _, err = run_cli(capsys, "detect", SAMPLE, "--detector", toy_detector, "--threshold", threshold)
        assert_one_line_error(code, err, "threshold is a probability in [0, 1]")
    code, _, err = run_cli(capsys, "detect", SAMPLE, "--detector", toy_detector, "--html", tmp_path)
    assert_one_line_error(code, err, "is a folder")
    code, _, err = run_cli(capsys, "detect", SAMPLE, "--detector", toy_detector, "--html", SAMPLE / "report.html")
    assert_one_line_error(code, err, "is not a folder")
    code, out, _ = run_cli(capsys, "detect", SAMPLE, "--detector", toy_detector, "--html", tmp_path / "new" / "r.html")
    assert code == 0 and (tmp_path / "new" / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_load_detector_checks_the_format(toy_detector):
    from cohesive.paraphrase.detectors import DETECTOR_FILE, load_detector

    meta_path = toy_detector / DETECTOR_FILE
    meta = json.loads(meta_path.read_text())
    assert meta["format"] == 1 and load_detector(toy_detector).kind == "tfidf-lr"
    for fmt in (2, None):
        meta_path.write_text(json.dumps({**meta, "format": fmt}))
        with pytest.raises(CohesiveError, match=f"detector format {fmt!r} is not the one this version reads"):
            load_detector(toy_detector)
    meta_path.write_text("[1, 2]")
    with pytest.raises(CohesiveError, match="not a detector description"):
        load_detector(toy_detector)
