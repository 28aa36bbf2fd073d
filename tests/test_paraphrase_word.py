"""The word-level substitution detector: word labels, windows, aggregation, persistence, the shipped
detector, and `cohesive detect` with word evidence (JSON, text, HTML) and bad input."""

from __future__ import annotations

import io
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli

from cohesive.errors import CohesiveError
from cohesive.paraphrase.corpus import ParaphraseCorpusConfig, paraphrase
from cohesive.paraphrase.sources import Paragraph, foldoc_prose, roff_text
from cohesive.paraphrase.wordfacts import wordnet_relatives
from cohesive.paraphrase.wordlevel import (
    IGNORE,
    PARAGRAPH_FEATURES,
    RELATIVE_FEATURES,
    RELATIVE_FLAG,
    ScoredText,
    first_pieces,
    paragraph_features,
    scored_words,
    swapped_scores,
    windows,
    word_labels,
)
from cohesive.wsd.tagger import tokenize

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "src" / "cohesive" / "pretrained" / "paraphrase"
ORIGINAL = ("The committee met on Monday to discuss the budget for the new school. Several members argued that "
            "the city should spend more money on teachers and books, while others wanted to repair the old "
            "buildings first. After a long debate, they agreed to ask the mayor for a larger grant next year.")
SPUN = ("The commission met on Monday to hash out the budget for the new schoolhouse. Respective members contended "
        "that the metropolis should expend more money on instructors and volumes, while others wanted to mend "
        "the old edifices first. After a long argumentation, they consented to require the city manager for a "
        "bigger grant next year.")






# --- word labels from the generators ---------------------------------------------------------------


def test_word_labels_by_hand():
    text = "The big dog ran, fast."
    spans = scored_words(text)
    assert [w for w, _, _ in spans] == ["The", "big", "dog", "ran", ",", "fast", "."]
    assert word_labels(spans, [[4, 7, "large"], [17, 21, "quickly"]]) == [0, 1, 0, 0, IGNORE, 1, IGNORE]


def _undo(text: str, replaced: list[list]) -> str:
    for start, end, original in sorted(replaced, reverse=True):
        text = text[:start] + original + text[end:]
    return text


def _assert_labels_are_the_changed_words(original: str, text: str, replaced: list[list]) -> None:
    """Undoing the listed replacements gives the original back, and the labelled words are exactly
    the tokens that differ between original and paraphrase (every change is one word for one word)."""
    assert replaced and _undo(text, replaced) == original
    before, after = [w for w, _, _ in tokenize(original)], scored_words(text)
    assert len(before) == len(after)
    changed = [int(b != a) for b, (a, _, _) in zip(before, after)]
    labels = word_labels(after, replaced)
    assert [max(y, 0) for y in labels] == changed
    for start, end, word in replaced:
        assert text[start:end].isalpha() and text[start:end].lower() != word.lower()


@pytest.mark.parametrize("generator", ["spin-2nd", "spin-max", "spin-first-4th", "spin-hyper", "spin-hypo",
                                       "spin-random-3rd"])
def test_spinner_labels_match_the_words_actually_replaced(lex, generator):
    config = ParaphraseCorpusConfig(sense="lesk")
    [(text, replaced)] = list(paraphrase(config, generator, [Paragraph("hand:1", "hand", ORIGINAL)]))
    _assert_labels_are_the_changed_words(ORIGINAL, text, replaced)


def test_maskfill_labels_match_the_words_actually_replaced(tiny_mlm):
    config = ParaphraseCorpusConfig(mask_model=str(tiny_mlm), mask_share=0.3)
    [(text, replaced)] = list(paraphrase(config, "maskfill", [Paragraph("hand:1", "hand", ORIGINAL)]))
    _assert_labels_are_the_changed_words(ORIGINAL, text, replaced)
    assert len(replaced) == round(0.3 * sum(w.isalpha() for w, _, _ in tokenize(ORIGINAL)))


def test_hypernym_spinner_uses_more_general_words(lex):
    from cohesive.paraphrase.spinner import Spinner, related_lemmas

    class Tags:
        def tag(self, words):
            return [(w, {"dog": "NOUN", "barked": "VERB"}.get(w, "DET")) for w in words]

    spun = Spinner("max", "first", tagger=Tags(), relation="hypernym").spin("The dog barked.", random.Random(0))
    dog = next(s for s in spun.substitutions if s.original == "dog")
    assert dog.synonym in related_lemmas(lex, dog.sense_key, "dog")
    assert dog.synonym in {"canine", "domestic_animal"} and spun.text.startswith(f"The {dog.replacement} ")


def test_hyponym_spinner_uses_the_most_frequent_narrower_word_and_leaves_adjectives(lex):
    """dog%1:05:00::'s hyponyms ranked by their words' SemCor tags over all noun senses start with
    `toy` (its plaything sense is tagged, the toy-dog sense is not), walk's first sense's with `march`
    (re-inflected: marched); the adjective is left alone, so the hypernym spinner's "similar to"
    changes stay unseen."""
    from cohesive.paraphrase.spinner import Spinner, narrower_lemmas

    class Tags:
        def tag(self, words):
            return [(w, {"dog": "NOUN", "walked": "VERB", "happy": "ADJ"}.get(w, "DET")) for w in words]

    assert narrower_lemmas(lex, "dog%1:05:00::", "dog")[:3] == ["toy", "puppy", "cur"]
    assert narrower_lemmas(lex, lex.senses("happy", "ADJ")[0].key, "happy") == []
    spun = Spinner("max", "first", tagger=Tags(), relation="hyponym").spin("The happy dog walked.", random.Random(0))
    assert spun.text == "The happy toy marched."
    assert [(s.original, s.synonym) for s in spun.substitutions] == [("dog", "toy"), ("walked", "march")]


def test_random_choice_spinner_draws_any_synonym_of_the_sense_and_first_choice_the_first(lex):
    """car%1:06:00:: has the synonyms auto, automobile, machine, motorcar (WordNet order): `first` always
    writes `auto`; `random` draws among all four with the paragraph's generator, so seeds differ and
    the same seed repeats its pick."""
    from cohesive.paraphrase.spinner import Spinner

    class Tags:
        def tag(self, words):
            return [(w, {"car": "NOUN"}.get(w, "DET")) for w in words]

    def written(choice: str, seed: int) -> str:
        spinner = Spinner("max", "first", tagger=Tags(), choice=choice)
        return spinner.spin("The car stopped.", random.Random(seed)).text.split()[1]

    assert {written("first", seed) for seed in range(12)} == {"auto"}
    assert {written("random", seed) for seed in range(12)} == {"auto", "automobile", "machine", "motorcar"}
    assert written("random", 3) == written("random", 3)
    with pytest.raises(CohesiveError, match="unknown spin word choice 'any'"):
        Spinner("max", "first", tagger=Tags(), choice="any")


def test_every_third_mode_leaves_two_words_between_changes(lex):
    """every-3rd: a change only once 3 alphabetic words have passed since the last one."""
    from cohesive.paraphrase.spinner import Spinner

    text = "big dogs chase small cats near old houses while happy children watch quiet birds"
    spun = Spinner("every-3rd", "first").spin(text, random.Random(1))
    positions = [i for i, (w, start, _) in enumerate(tokenize(text)) if any(s.start == start for s in spun.substitutions)]
    assert len(positions) >= 2 and min(b - a for a, b in zip(positions, positions[1:])) >= 3


# --- the new domains ---------------------------------------------------------------------------------


_RELATIONS_SCRIPT = """
from cohesive.lexicon import lexicon
from cohesive.paraphrase.spinner import narrower_lemmas, related_lemmas
import itertools
from cohesive.paraphrase.wordfacts import english_stop_words, features_from, word_lemma_facts
lex = lexicon()
keys = [s.key for w, p in (("shapely", "ADJ"), ("dog", "NOUN"), ("move", "VERB")) for s in lex.senses(w, p)]
print([related_lemmas(lex, k, k.split("%")[0]) for k in keys])
print([narrower_lemmas(lex, k, k.split("%")[0]) for k in keys])
facts = {w: word_lemma_facts(w) for w in ("device", "change", "animal", "shapely")}
print([features_from(w, f, english_stop_words()) for w, f in facts.items()])
print([{**vars(f), "synonyms": sorted(f.synonyms)} for f in itertools.chain(*facts.values())])
"""


def test_wordnet_relations_do_not_depend_on_the_string_hash_seed():
    """NLTK gives a synset's relations in set order: the hypernym spinner's choices and the word
    facts the word table is built from must not change from one process to the next (they did:
    `device`, `change`, `shapely`)."""
    outputs = {subprocess.run([sys.executable, "-c", _RELATIONS_SCRIPT], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(outputs) == 1 and "statuesque" in next(iter(outputs))


def test_roff_text_keeps_prose_and_drops_markup():
    source = (".TH LS 1\n.SH DESCRIPTION\n.PP\nList information about the \\fBFILEs\\fR (the current\n"
              "directory by default)\\&.\n.nf\ncode --not prose\n.fi\n.PP\n.B Sort\nentries alphabetically\\-ish.\n")
    assert roff_text(source) == ("List information about the FILEs (the current directory by default).\n\n"
                                 "Sort entries alphabetically-ish.")


def test_foldoc_prose_strips_links_tags_dates_and_citations():
    entry = ("big-endian\n\n   <data, architecture> A computer {architecture} in which the most {significant\n"
             "   byte (byte.html)} comes first.\n\n   [{Jargon File}]\n\n   (1998-08-09)\n\nnext\n\n   Other text.\n")
    assert foldoc_prose(entry, 3, 50) == ("A computer architecture in which the most significant byte comes first.",)


# --- windows, pieces, aggregation --------------------------------------------------------------------


def test_windows_cover_every_word_and_end_at_the_end():
    assert windows(3, 4, 2) == [(0, 3)]
    assert windows(10, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert windows(9, 4, 2) == [(0, 4), (2, 6), (4, 8), (5, 9)]


def test_first_pieces_maps_each_word_to_its_first_piece():
    assert first_pieces([None, 0, 0, 1, 2, 2, None]) == {0: 1, 1: 3, 2: 4}


def test_paragraph_features_by_hand():
    features = paragraph_features(np.array([0.9, 0.2, 0.6, 0.1]))
    assert features == pytest.approx([0.5, 0.45, (0.9 + 0.6 + 0.2) / 3, 0.45, math.log(3)])
    assert paragraph_features(np.array([])).tolist() == [0.0] * 5
    drops = paragraph_features(np.array([0.3, 0.0, 0.2, 0.26]), flag=0.25)  # a drop counts from 0.25
    assert drops == pytest.approx([0.5, 0.19, 0.76 / 3, 0.19, math.log(3)])


# --- counterfactual evidence ---------------------------------------------------------------------------


def test_swapped_scores_follow_the_offsets_of_the_swaps_by_hand():
    """`The big dog ran` with big -> large (+2 characters) and ran -> sprinted (+5): `ran`'s score is read
    at offset 14 of the swapped text, not 12; unplanned words and a lost alignment give NaN."""
    spans = [("The", 0, 3), ("big", 4, 7), ("dog", 8, 11), ("ran", 12, 15)]
    swapped = "The large dog sprinted"
    rescored = ScoredText([tuple(s) for s in scored_words(swapped)], np.array([0.1, 0.2, 0.3, 0.4]))
    out = swapped_scores(spans, {1: "large", 3: "sprinted"}, rescored)
    assert np.isnan(out[0]) and np.isnan(out[2]) and out[1] == 0.2 and out[3] == 0.4
    lost = ScoredText([("The", 0, 3), ("large", 4, 9)], np.array([0.1, 0.2]))
    assert np.isnan(swapped_scores(spans, {3: "sprinted"}, lost)[3])
    resplit = ScoredText([("The", 0, 3), ("lar", 4, 7), ("ge", 7, 9)], np.array([0.1, 0.2, 0.3]))  # not `large`
    assert np.isnan(swapped_scores(spans, {1: "large"}, resplit)[1])


def test_drops_are_score_falls_and_zero_without_an_alternative():
    scored = ScoredText([("a", 0, 1)] * 4, np.array([0.9, 0.3, 0.8, 0.5]), alternative_scores=np.array([0.2, 0.6, np.nan, 0.5]))
    assert scored.drops() == pytest.approx([0.7, 0.0, 0.0, 0.0])
    with pytest.raises(CohesiveError, match="no counterfactual"):
        ScoredText([("a", 0, 1)], np.array([0.9])).drops()


def test_wordnet_relatives_reach_synonyms_hypernyms_and_hyponyms():
    """canines: `dogs` is a hyponym of canine (what the hypernym spinner writes `canines` for), `carnivores` its
    hypernym; every alternative is one alphabetic word, inflected like the observed one."""
    relatives = wordnet_relatives("canines")
    assert {"dogs", "carnivores"} <= set(relatives) and all(w.isalpha() for w in relatives)
    assert "morning" in wordnet_relatives("forenoon")


# --- a tiny real detector: training, scoring, persistence --------------------------------------------


def _rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        rows.append({"id": f"o{i}", "text": ORIGINAL, "label": 0, "replaced": []})
        text = ORIGINAL.replace("committee", "commission").replace("repair", "mend")
        start = text.index("commission")
        rows.append({"id": f"p{i}", "text": text, "label": 1,
                     "replaced": [[start, start + 10, "committee"], [text.index("mend"), text.index("mend") + 4, "repair"]]})
    return rows


@pytest.fixture(scope="module")
def tiny_word_detector(tiny_mlm, tmp_path_factory):
    from cohesive.paraphrase.wordlevel import WordDetector

    detector = WordDetector(model=str(tiny_mlm), window_words=12, batch_size=4, max_steps=3, learning_rate=1e-2,
                            frequency_features=True)
    log = detector.fit_rows(_rows(3))
    assert log["steps"] == 3 and log["substituted_words"] > 0
    detector.calibrate(_rows(4))
    folder = tmp_path_factory.mktemp("word") / "detector"
    detector.save(folder)
    return detector, folder


@pytest.fixture(scope="module")
def counterfactual_detector(tiny_word_detector, tmp_path_factory):
    """The tiny detector recalibrated with counterfactual evidence (what `cohesive paraphrase calibrate` runs)."""
    from cohesive.paraphrase.train import DetectorCalibrateConfig, calibrate_detector

    _, folder = tiny_word_detector
    corpus = tmp_path_factory.mktemp("counterfactual") / "corpus"
    corpus.mkdir()
    rows = [{**r, "domain": "semcor", "generator": "mix"} for r in _rows(4)]
    (corpus / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (corpus / "corpus.json").write_text(json.dumps({"train_cell": {"domain": "semcor", "generator": "mix"}}))
    output = corpus.parent / "calibrated"
    summary = calibrate_detector(DetectorCalibrateConfig(folder, corpus, output, counterfactual=True))
    return output, summary


def test_calibrate_refits_the_aggregate_on_score_drops_and_keeps_the_weights(tiny_word_detector, counterfactual_detector):
    from cohesive.paraphrase.detectors import load_detector

    _, folder = tiny_word_detector
    output, summary = counterfactual_detector
    assert summary["counterfactual"] is True and summary["examples"] == 8
    assert (output / "weights.safetensors").read_bytes() == (folder / "weights.safetensors").read_bytes()
    assert json.loads((output / "aggregate.json").read_text())["features"] == list(RELATIVE_FEATURES)
    detector = load_detector(output)
    assert detector.counterfactual and detector.threshold == summary["threshold"]


def test_alternative_scores_are_the_scores_of_the_swapped_text(counterfactual_detector, monkeypatch):
    """Every word that has a WordNet relative is swapped (floor 0 here: the tiny model scores all words
    low); each alternative's score equals that word's score when the swapped text is scored as it is."""
    from cohesive.paraphrase import wordlevel
    from cohesive.paraphrase.detectors import load_detector
    from cohesive.paraphrase.wordedit import replace_spans

    monkeypatch.setattr(wordlevel, "COUNTERFACTUAL_FLOOR", 0.0)
    detector = load_detector(counterfactual_detector[0])
    [scored] = detector.score_texts([SPUN])
    planned = {i: w for i, w in enumerate(scored.alternatives) if w}
    assert set(planned) == {i for i, (w, _, _) in enumerate(scored.spans) if wordnet_relatives(w)}
    swapped = replace_spans(SPUN, [(scored.spans[i][1], scored.spans[i][2], w) for i, w in planned.items()])
    detector.counterfactual = False
    [direct] = detector.score_texts([swapped])
    assert [w for w, _, _ in direct.spans] == [planned.get(i, w) for i, (w, _, _) in enumerate(scored.spans)]
    assert scored.alternative_scores[list(planned)] == pytest.approx(direct.scores[list(planned)], abs=1e-5)
    assert np.isnan(np.delete(scored.alternative_scores, list(planned))).all()


def test_with_two_alternatives_each_word_keeps_the_one_it_reads_most_original_with(counterfactual_detector,
                                                                                 monkeypatch):
    """alternatives_per_word=2: the relatives ranked 1st and 2nd are swapped in, all words at once, in two
    texts; each word's alternative score is the lower of its two scores there, and its alternative the
    relative that gave it."""
    from cohesive.paraphrase import wordlevel
    from cohesive.paraphrase.detectors import load_detector
    from cohesive.paraphrase.wordedit import replace_spans

    monkeypatch.setattr(wordlevel, "COUNTERFACTUAL_FLOOR", 0.0)
    detector = load_detector(counterfactual_detector[0])
    detector.alternatives_per_word = 2
    [scored] = detector.score_texts([SPUN], keep_hidden=True)
    words = [w for w, _, _ in scored.spans]
    ranked = detector._expecter_for().ranked_relatives(words, scored.hidden, 2)
    assert sum(len(r) == 2 for r in ranked) >= 5
    detector.counterfactual = False
    by_rank = []
    for rank in (0, 1):
        plan = {i: r[rank] for i, r in enumerate(ranked) if len(r) > rank}
        [direct] = detector.score_texts([replace_spans(SPUN, [(scored.spans[i][1], scored.spans[i][2], w)
                                                              for i, w in plan.items()])])
        by_rank.append({i: (direct.scores[i], w) for i, w in plan.items()})
    for i, r in enumerate(ranked):
        options = [by_rank[rank][i] for rank in range(len(r))]
        if not options:
            assert scored.alternatives[i] is None and np.isnan(scored.alternative_scores[i])
            continue
        best_score, best_word = min(options, key=lambda option: option[0])
        assert scored.alternative_scores[i] == pytest.approx(best_score, abs=1e-5)
        assert scored.alternatives[i] == best_word
    assert any(scored.alternatives[i] == r[1] for i, r in enumerate(ranked) if len(r) == 2)  # the 2nd pass counts


def test_alternatives_per_word_below_one_is_refused():
    from cohesive.paraphrase.wordlevel import WordDetector

    with pytest.raises(CohesiveError, match="alternatives_per_word must be at least 1"):
        WordDetector(alternatives_per_word=0)


def test_an_aggregate_of_other_statistics_is_refused_until_recalibrated(counterfactual_detector, tmp_path):
    """detector.json says plain scores, aggregate.json holds drop statistics (say, a calibration cut
    short between its two files): scoring stops with one line, and calibrating in place repairs it."""
    import shutil

    from cohesive.paraphrase.detectors import load_detector
    from cohesive.paraphrase.train import DetectorCalibrateConfig, calibrate_detector

    output, _ = counterfactual_detector
    copy = tmp_path / "detector"
    shutil.copytree(output, copy)
    meta = json.loads((copy / "detector.json").read_text())
    meta["options"]["counterfactual"] = False
    (copy / "detector.json").write_text(json.dumps(meta))
    with pytest.raises(CohesiveError, match="recalibrate it"):
        load_detector(copy)([ORIGINAL])
    corpus = output.parent / "corpus"
    calibrate_detector(DetectorCalibrateConfig(copy, corpus, copy, counterfactual=False))
    assert json.loads((copy / "aggregate.json").read_text())["features"] == list(PARAGRAPH_FEATURES)
    assert 0 <= load_detector(copy)([ORIGINAL])[0] <= 1


def test_a_detector_description_without_the_counterfactual_option_loads_as_plain(tiny_word_detector, tmp_path):
    """Detectors saved before counterfactual evidence existed keep working as they were."""
    import shutil

    from cohesive.paraphrase.detectors import load_detector

    detector, folder = tiny_word_detector
    copy = tmp_path / "old"
    shutil.copytree(folder, copy)
    meta = json.loads((copy / "detector.json").read_text())
    del meta["options"]["counterfactual"]
    (copy / "detector.json").write_text(json.dumps(meta))
    old = load_detector(copy)
    assert not old.counterfactual and old([ORIGINAL, SPUN]) == pytest.approx(detector([ORIGINAL, SPUN]), abs=1e-5)


def test_calibrate_refuses_a_paragraph_level_detector(tmp_path, capsys):
    from cohesive.paraphrase.detectors import build_detector

    detector = build_detector("tfidf-lr")
    detector.fit([ORIGINAL, SPUN] * 3, [0, 1] * 3)
    detector.save(tmp_path / "tfidf")
    code, _, err = run_cli(capsys, "paraphrase", "calibrate", "--set", f"detector={tmp_path / 'tfidf'}")
    assert_one_line_error(code, err, "only word-level detectors")


def test_frequency_features_by_hand():
    """automobile: its WordNet synonyms car / auto / machine / motorcar; a word WordNet lacks has only its own."""
    from wordfreq import zipf_frequency

    from cohesive.paraphrase.wordfacts import FREQUENCY_FEATURES, frequency_features

    own, lemma, synonym, gap, relative, relative_gap = frequency_features("automobiles")
    assert own == zipf_frequency("automobiles", "en") and lemma == zipf_frequency("automobile", "en")
    assert synonym == max(zipf_frequency(w, "en") for w in ("car", "auto", "machine", "motorcar"))
    assert gap == pytest.approx(synonym - lemma) and relative >= synonym and relative_gap == pytest.approx(relative - lemma)
    assert frequency_features("zqxv") == (0.0,) * len(FREQUENCY_FEATURES)
    assert frequency_features("RNA")[0] == zipf_frequency("rna", "en") > 0


def test_word_detector_round_trips_without_pickle(tiny_word_detector):
    from cohesive.paraphrase.detectors import load_detector

    detector, folder = tiny_word_detector
    assert sorted(p.name for p in folder.iterdir()) == ["aggregate.json", "detector.json", "weights.safetensors"]
    loaded = load_detector(folder)
    assert loaded.frequency_features and loaded.network.token_head[0].in_features == 32 + 7 + 6  # tiny hidden 32
    texts = [ORIGINAL, SPUN]
    assert loaded(texts) == pytest.approx(detector(texts), abs=1e-5)
    assert json.loads((folder / "aggregate.json").read_text())["features"] == list(
        ("share_flagged", "mean", "top3_mean", "top8_mean", "log_flagged"))


def test_load_refuses_other_base_weights(tiny_word_detector, tmp_path):
    import shutil

    from cohesive.paraphrase.detectors import load_detector

    _, folder = tiny_word_detector
    copy = tmp_path / "detector"
    shutil.copytree(folder, copy)
    meta = json.loads((copy / "detector.json").read_text())
    meta["options"]["base_digest"] = "sha256:" + "0" * 64
    (copy / "detector.json").write_text(json.dumps(meta))
    with pytest.raises(CohesiveError, match="not those this detector was trained on"):
        load_detector(copy)


def test_word_scores_do_not_depend_on_batch_padding(tiny_word_detector):
    detector, _ = tiny_word_detector
    alone = detector.score_texts(["The dog ran home."])[0].scores
    batched = detector.score_texts(["The dog ran home.", SPUN])[0].scores
    assert batched == pytest.approx(alone, abs=1e-5)


@pytest.mark.parametrize("window_mean", [False, True])
def test_a_word_scores_from_its_windows_and_keeps_its_most_central_state(tiny_word_detector, window_mean):
    """Overlapping windows give what one pass per window gives, by hand: the score of the window where
    the word has most context, or with `window_mean` the sigmoid of its mean logit over the windows
    holding it; the encoder state always from the most central window."""
    import torch

    detector, _ = tiny_word_detector
    text = "one two three four five six seven eight nine"  # 9 words; windows of 4 every 2: (0,4) (2,6) (4,8) (5,9)
    words = text.split()
    old = detector.window_words, detector.window_mean
    detector.window_words, detector.window_mean = 4, window_mean
    try:
        scored = detector.score_texts([text], keep_hidden=True)[0]
    finally:
        detector.window_words, detector.window_mean = old
    holding = {0: [(0, 4)], 1: [(0, 4)], 2: [(0, 4), (2, 6)], 3: [(0, 4), (2, 6)], 4: [(2, 6), (4, 8)],
               5: [(2, 6), (4, 8), (5, 9)], 6: [(4, 8), (5, 9)], 7: [(4, 8), (5, 9)], 8: [(5, 9)]}
    # farthest from an edge, min(j, len - 1 - j); ties go to the earlier window
    central = {0: (0, 4), 1: (0, 4), 2: (0, 4), 3: (2, 6), 4: (2, 6), 5: (4, 8), 6: (4, 8), 7: (5, 9), 8: (5, 9)}

    def one_pass(word, start, end):
        with torch.inference_mode():
            states, logits, positions = detector._forward([words[start:end]])
        position = positions[0][word - start]
        return float(logits[0, position]), states[0, position]

    for word, spans in holding.items():
        logit = (sum(one_pass(word, s, e)[0] for s, e in spans) / len(spans) if window_mean
                 else one_pass(word, *central[word])[0])
        assert scored.scores[word] == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-5)
        assert torch.allclose(scored.hidden[word], one_pass(word, *central[word])[1], atol=1e-5)
    assert len({round(float(v), 6) for v in scored.scores}) > 1  # the windows really differ


def test_an_aggregate_fitted_on_other_window_scores_is_refused(tiny_word_detector):
    detector, _ = tiny_word_detector
    assert detector.aggregate["window_mean"] is False
    detector.window_mean = True
    try:
        with pytest.raises(CohesiveError, match="window_mean=True.*recalibrate"):
            detector([ORIGINAL])
    finally:
        detector.window_mean = False


def test_fit_needs_word_labels(tiny_word_detector):
    detector, _ = tiny_word_detector
    with pytest.raises(CohesiveError, match="word labels"):
        detector.fit(["a text"], [1])
    with pytest.raises(CohesiveError, match="rebuild the corpus"):
        detector.fit_rows([{"id": "x", "text": "a text", "label": 1}])


# --- the shipped detector ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    from cohesive.paraphrase.detectors import load_detector

    return load_detector(SHIPPED)


def test_shipped_detector_is_small_safe_and_documented():
    from cohesive.models import weights_digest

    files = {p.name: p.stat().st_size for p in SHIPPED.iterdir() if p.is_file()}
    assert {"detector.json", "aggregate.json", "weights.safetensors", "README.md"} <= set(files)
    assert sum(files.values()) <= 5 * 1024 * 1024
    assert not [name for name in files if name.endswith((".bin", ".pkl", ".pt", ".pickle"))]
    meta = json.loads((SHIPPED / "detector.json").read_text())
    assert meta["kind"] == "word-lora" and meta["options"]["base_digest"] == weights_digest("minilm")
    assert "cohesive paraphrase train" in (SHIPPED / "README.md").read_text()


def test_shipped_detector_flags_a_spun_paragraph_but_not_its_original(shipped):
    original, spun = shipped([ORIGINAL, SPUN])
    assert spun >= shipped.threshold > original


def test_shipped_detector_finds_a_rare_synonym_and_expects_the_original(shipped):
    text = ("The children walked to school every morning with their parents. On rainy days the teacher read "
            "them a story before the first lesson, and everybody listened quietly.")
    spun = text.replace("morning", "forenoon")
    [scored] = shipped.score_texts([spun], keep_hidden=True)
    words = [w for w, _, _ in scored.spans]
    assert words[int(np.argmax(scored.scores))] == "forenoon"
    [top] = shipped.evidence(scored, top=1)
    assert top["word"] == "forenoon" and "morning" in top["expected"]
    # the counterfactual: with its best alternative in its place the word reads as original
    index = words.index("forenoon")
    assert shipped.counterfactual and scored.alternatives[index] == "morning"
    assert scored.alternative_scores[index] < 0.05 < scored.scores[index]
    assert top["drop"] >= RELATIVE_FLAG and top["expected"][0] == "morning"  # the alternative that gave the drop comes first


# --- cohesive detect ---------------------------------------------------------------------------------


@pytest.fixture
def document(tmp_path) -> Path:
    path = tmp_path / "essay.txt"
    path.write_text(f"{ORIGINAL}\n\n{SPUN}\n", encoding="utf-8")
    return path


def test_detect_json_has_probabilities_flags_and_evidence(capsys, document):
    code, out, _ = run_cli(capsys, "detect", document, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["kind"] == "word-lora" and "shipped" in report["detector"]
    first, second = report["paragraphs"]
    assert set(first) == {"index", "line", "text", "words", "windows", "probability", "flagged", "evidence"}
    assert (first["flagged"], second["flagged"]) == (False, True) and first["evidence"] == []
    assert 0 <= first["probability"] < report["threshold"] <= second["probability"] <= 1
    for e in second["evidence"]:
        assert set(e) == {"word", "start", "end", "score", "drop", "expected"}
        assert second["text"][e["start"]:e["end"]] == e["word"] and 0 <= e["score"] <= 1
        assert all(isinstance(w, str) and w for w in e["expected"])
    drops = [e["drop"] for e in second["evidence"]]
    assert drops == sorted(drops, reverse=True) and drops[-1] >= 0.25  # largest drop first, each one counted
    assert {"commission", "edifices", "metropolis"} & {e["word"] for e in second["evidence"]}


def test_detect_reads_standard_input(capsys, document, monkeypatch):
    code, from_file, _ = run_cli(capsys, "detect", document, "--json")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(document.read_bytes())))
    code, from_pipe, _ = run_cli(capsys, "detect", "-", "--json")
    assert code == 0 and json.loads(from_pipe)["paragraphs"] == json.loads(from_file)["paragraphs"]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert_one_line_error(*run_cli(capsys, "detect", "-")[::2], "standard input is empty")


def test_detect_text_and_html_show_the_words(capsys, document, tmp_path):
    page = tmp_path / "report.html"
    code, out, _ = run_cli(capsys, "detect", document, "--html", page)
    assert code == 0 and "likely substituted:" in out and "(expected " in out and ", drop " in out
    html = page.read_text()
    assert html.count("<mark title=\"substitution score") >= 3 and "expected: " in html
    assert html.count("in its place; expected: ") == html.count("<mark title=")  # each mark says its drop
    assert "<script" not in html


def test_detect_uses_the_shipped_detector_from_any_folder(tmp_path, document):
    result = subprocess.run([sys.executable, "-m", "cohesive.cli", "detect", str(document), "--json"], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["paragraphs"][1]["flagged"]


@pytest.mark.parametrize("content,needle", [
    (b"", "is empty"),
    (b"caf\xe9 au lait\n", "is not UTF-8"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00binary", "binary file"),
])
def test_detect_refuses_bad_files_in_one_line(tmp_path, capsys, content, needle):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    assert_one_line_error(*run_cli(capsys, "detect", path)[::2], needle)


def test_detect_refuses_a_folder_and_a_huge_line(tmp_path, capsys):
    assert_one_line_error(*run_cli(capsys, "detect", tmp_path)[::2], "is a folder")
    huge = tmp_path / "huge.txt"
    huge.write_text("word " * (5 * 1024 * 1024 // 5))  # 5 MB on one line
    assert_one_line_error(*run_cli(capsys, "detect", huge)[::2], "split the file or raise --max-words")


def test_detect_scores_one_word_and_windows_line_endings(tmp_path, capsys):
    one = tmp_path / "one.txt"
    one.write_text("Hello")
    code, out, _ = run_cli(capsys, "detect", one, "--json")
    assert code == 0 and json.loads(out)["paragraphs"][0]["words"] == 1
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(f"{ORIGINAL}\r\n\r\n{SPUN}\r\n".encode())
    code, out, _ = run_cli(capsys, "detect", crlf, "--json")
    paragraphs = json.loads(out)["paragraphs"]
    assert code == 0 and [p["line"] for p in paragraphs] == [1, 3] and "\r" not in paragraphs[1]["text"]
