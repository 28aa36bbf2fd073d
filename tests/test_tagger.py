"""The SemCor POS tagger: the compact tagger shipped in the package, its gzip JSON format, the rebuild command."""

import gzip
import json

import pytest

from cohesive.errors import CohesiveError
from cohesive.wsd import tagger as tagger_module
from cohesive.wsd.tagger import (
    SHIPPED_TAGGER,
    load_tagger,
    main,
    pos_accuracy,
    read_tagger,
    save_tagger,
    semcor_tagged,
    tagger_file,
    train_tagger,
)

HAND_MADE = [
    [("The", "DET"), ("dog", "NOUN"), ("barked", "VERB"), ("loudly", "ADV"), (".", ".")],
    [("A", "DET"), ("cat", "NOUN"), ("slept", "VERB"), ("on", "ADP"), ("the", "DET"), ("mat", "NOUN"), (".", ".")],
    [("She", "PRON"), ("saw", "VERB"), ("two", "NUM"), ("big", "ADJ"), ("dogs", "NOUN"), ("!", ".")],
    [("He", "PRON"), ("and", "CONJ"), ("I", "PRON"), ("ran", "VERB"), ("to", "ADP"), ("the", "DET"), ("park", "NOUN"),
     (".", ".")],
    [("They", "PRON"), ("want", "VERB"), ("to", "PRT"), ("eat", "VERB"), ("red", "ADJ"), ("apples", "NOUN"), (".", ".")],
    [("The", "DET"), ("old", "ADJ"), ("man", "NOUN"), ("walked", "VERB"), ("slowly", "ADV"), ("home", "NOUN"),
     (".", ".")],
]
UNSEEN = ["The", "big", "cat", "ran", "to", "two", "old", "parks", "and", "slept", "."]
SE07_MIN_ACCURACY = 0.92  # measured 0.9230 with the shipped tagger (the full, unpruned one: 0.9242)


@pytest.fixture(scope="module")
def tiny():
    return train_tagger(HAND_MADE, iterations=5)


def tags(tagger, words):
    return [tag for _, tag in tagger.tag(words)]


def test_shipped_tagger_is_compact_and_tags_without_training(monkeypatch):
    assert SHIPPED_TAGGER.is_file() and SHIPPED_TAGGER.stat().st_size <= 1_500_000
    with gzip.open(SHIPPED_TAGGER, "rt", encoding="utf-8") as handle:
        about = json.load(handle)
    assert (about["format"], about["sentences"], about["iterations"]) == (2, 37176, 3)

    def no_training(*args, **kwargs):
        raise AssertionError("the shipped tagger must not be retrained")

    monkeypatch.setattr(tagger_module, "train_tagger", no_training)
    monkeypatch.setattr(tagger_module, "semcor_tagged", no_training)
    shipped = load_tagger.__wrapped__()  # past the lru cache: really reads the file
    words = "She deposited her salary at the bank .".split()
    assert tags(shipped, words) == ["PRON", "VERB", "PRON", "NOUN", "ADP", "DET", "NOUN", "."]
    assert tagger_file().name == "semcor_perceptron.json"  # custom taggers are still cached there


@pytest.mark.slow
def test_shipped_tagger_accuracy_on_se07_gold_pos(data_root):
    from cohesive.paths import wsd_prefix

    accuracy, words = pos_accuracy(read_tagger(SHIPPED_TAGGER), semcor_tagged(wsd_prefix("SE07")))
    assert words > 3000 and accuracy >= SE07_MIN_ACCURACY


def test_compact_save_round_trips_a_tiny_tagger(tiny, tmp_path):
    path = save_tagger(tiny, tmp_path / "tiny.json.gz", note="hand-made")
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    data = json.loads(gzip.decompress(path.read_bytes()))
    assert (data["format"], data["note"], data["scale"]) == (2, "hand-made", 1000)
    again = read_tagger(path)
    for words in [[w for w, _ in s] for s in HAND_MADE] + [UNSEEN]:
        assert tags(again, words) == tags(tiny, words)
    assert tags(again, [w for w, _ in HAND_MADE[1]]) == [t for _, t in HAND_MADE[1]]
    assert again.model.weights == {f: row for f, row in tiny.model.weights.items() if row}  # lossless by default
    assert again.tagdict == tiny.tagdict and again.classes == tiny.classes


def test_pruning_keeps_only_large_rounded_weights(tiny, tmp_path):
    pruned = read_tagger(save_tagger(tiny, tmp_path / "pruned.json.gz", min_weight=0.5, decimals=1))
    kept = [w for row in pruned.model.weights.values() for w in row.values()]
    assert 0 < len(kept) < sum(len(row) for row in tiny.model.weights.values())
    assert all(abs(w) >= 0.45 and round(w, 1) == w for w in kept)
    assert set(pruned.model.weights) <= set(tiny.model.weights)


def test_plain_json_caches_still_read_and_written(tiny, tmp_path):
    path = save_tagger(tiny, tmp_path / "old.json", sentences=6)
    assert json.loads(path.read_text())["format"] == 1
    assert tags(read_tagger(path), UNSEEN) == tags(tiny, UNSEEN)
    weights, tagdict, classes = tiny.encode_json_obj()  # an old cache file without a format number
    (tmp_path / "older.json").write_text(json.dumps({"classes": sorted(classes), "tagdict": tagdict, "weights": weights}))
    assert tags(read_tagger(tmp_path / "older.json"), UNSEEN) == tags(tiny, UNSEEN)


def test_load_tagger_with_a_path_trains_and_saves_when_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(tagger_module, "semcor_tagged", lambda *args: iter(HAND_MADE))
    path = tmp_path / "cache" / "custom.json.gz"
    trained = load_tagger.__wrapped__(path, iterations=5)
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    monkeypatch.setattr(tagger_module, "semcor_tagged", lambda *args: iter(()))  # now it must be read, not retrained
    assert tags(load_tagger.__wrapped__(path), UNSEEN) == tags(trained, UNSEEN)


@pytest.mark.parametrize("content", [
    b"\x1f\x8b\x08\x00garbage that is not deflate",
    gzip.compress(b'{"format": 2, "classes": ["NOUN"], "tagdict": {}, "scale": 10, "features": ["bias"], "weights": ')[:-6],
    gzip.compress(b"not json\n at all"),
    gzip.compress(b'{"format": 2, "classes": ["NOUN"], "tagdict": {}, "scale": 10, "features": ["bias"], "weights": [4, 1]}'),
    gzip.compress(b'{"format": 2, "classes": ["NOUN"], "tagdict": {}, "scale": 10, "features": ["bias"], "weights": [1]}'),
    gzip.compress(b'{"format": 9}'),
    b"[1, 2]",
], ids=["not-deflate", "truncated", "not-json", "bad-mask", "missing-weight", "unknown-format", "not-an-object"])
def test_corrupt_tagger_file_is_a_one_line_error(tmp_path, content):
    path = tmp_path / "broken.json.gz"
    path.write_bytes(content)
    with pytest.raises(CohesiveError, match="unreadable POS tagger") as info:
        read_tagger(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_rebuild_command_reports_missing_data_on_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COHESIVE_DATA", str(tmp_path / "nowhere"))
    assert main(["--output", str(tmp_path / "tagger.json.gz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cohesive: error:") and err.count("\n") == 1
    assert not (tmp_path / "tagger.json.gz").exists()


@pytest.mark.slow
def test_rebuild_command_writes_a_compact_tagger(data_root, tmp_path, capsys):
    output = tmp_path / "small.json.gz"
    assert main(["--output", str(output), "--sentences", "300", "--iterations", "2", "--eval", "SE07"]) == 0
    out = capsys.readouterr().out
    assert "300 SemCor sentences" in out and f"wrote {output}" in out and "POS accuracy on SE07" in out
    assert tags(read_tagger(output), "She deposited her salary at the bank .".split())[-1] == "."
