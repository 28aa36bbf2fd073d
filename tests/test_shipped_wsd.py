"""The WSD model shipped with the package: small, checked against its base, and usable on raw text
with no training and no network."""

import io
import json

import pytest

from cohesive.cli import main
from cohesive.corpora.raganato import iter_instances
from cohesive.errors import CohesiveError
from cohesive.paths import wsd_prefix
from cohesive.pretrained import SHIPPED
from cohesive.wsd.disambiguate import disambiguate
from cohesive.wsd.inference import SHIPPED_MODEL, default_model, load_predictor

MONEY = "She deposited her salary at the bank."
RIVER = "They had a picnic on the grassy bank of the river."


@pytest.fixture(scope="module")
def shipped():
    return load_predictor(SHIPPED_MODEL)


def test_the_shipped_model_is_a_small_delta_with_a_model_card():
    meta = json.loads((SHIPPED_MODEL / "wsd_model.json").read_text())
    assert meta["architecture"] == "gloss-bank" and meta["base"] == "minilm"
    assert (SHIPPED_MODEL / "README.md").is_file() and (SHIPPED_MODEL / "prior.json").is_file()
    assert not list(SHIPPED_MODEL.rglob("*.bin")) and not list(SHIPPED_MODEL.rglob("model.safetensors"))
    assert sum(f.stat().st_size for f in SHIPPED_MODEL.rglob("*") if f.is_file()) < 10 * 2**20
    assert sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file()) < 20 * 2**20  # every shipped artefact


def test_it_is_the_default_unless_the_environment_says_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv("COHESIVE_WSD_MODEL", raising=False)
    assert default_model() == SHIPPED_MODEL
    monkeypatch.setenv("COHESIVE_WSD_MODEL", str(tmp_path))
    assert default_model() == tmp_path


def test_bank_gets_its_money_sense_and_its_river_sense(shipped):
    money = {t.token: t for t in disambiguate(MONEY, model=shipped)}
    river = {t.token: t for t in disambiguate(RIVER, model=shipped)}
    assert money["bank"].key == "bank%1:14:00::"  # a financial institution that accepts deposits ...
    assert river["bank"].key == "bank%1:17:01::"  # sloping land (especially the slope beside a body of water)
    assert money["deposited"].lemma == "deposit" and money["salary"].key == "salary%1:21:00::"


@pytest.mark.parametrize("text", [
    "Bank.",
    " ".join(["the old man walked slowly along the bank of the wide river and watched the boats"] * 20),
    "the of and a to in it",
    "Xyzzy flurbed the grobnitz quixotically.",
    "Café owners in Zürich serve naïve tourists crème brûlée.",
    "See https://example.com/bank?id=3&x=y or mail bank@example.org today.",
    "In 1999 the bank lent 3.5 million dollars at 4% to 12 firms.",
    "!!! ??? ...",
])
def test_raw_text_gives_senses_or_nothing_never_a_crash(shipped, lex, text):
    tags = disambiguate(text, model=shipped)
    for tag in tags:
        assert text[tag.start:tag.end] == tag.token
        assert tag.key in {s.key for s in lex.senses(tag.lemma, tag.pos)}
        assert 0 < tag.probability <= 1
    if text.startswith("!!!"):
        assert tags == []


def test_wsd_tag_reads_a_document_and_refuses_bad_input(tmp_path, capsys, monkeypatch):
    document = tmp_path / "doc.txt"
    document.write_text(f"{MONEY}\r\n\r\n{RIVER}\r\n", encoding="utf-8")
    assert main(["wsd", "tag", "--file", str(document), "--json"]) == 0
    tags = json.loads(capsys.readouterr().out)
    assert [t["key"] for t in tags if t["token"] == "bank"] == ["bank%1:14:00::", "bank%1:17:01::"]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(document.read_bytes())))
    assert main(["wsd", "tag", "-", "--json"]) == 0  # `-`: the text comes from standard input
    assert json.loads(capsys.readouterr().out) == tags
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 bank".encode("latin-1"))
    for argv in (["wsd", "tag"], ["wsd", "tag", "text", "--file", str(document)],
                 ["wsd", "tag", "--file", str(tmp_path / "missing.txt")], ["wsd", "tag", "--file", str(tmp_path)],
                 ["wsd", "tag", "--file", str(tmp_path / "latin1.txt")]):
        assert main(argv) == 2
        assert capsys.readouterr().err.count("\n") == 1


def test_a_base_model_with_other_weights_is_refused(tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(SHIPPED_MODEL, copy)
    meta = json.loads((copy / "wsd_model.json").read_text())
    meta["base_digest"] = "sha256:" + "1" * 64
    (copy / "wsd_model.json").write_text(json.dumps(meta))
    with pytest.raises(CohesiveError, match="install the matching base model"):
        load_predictor(copy)


@pytest.mark.slow
def test_the_shipped_model_answers_every_se07_instance_with_a_candidate_sense(shipped, lex):
    instances = list(iter_instances(wsd_prefix("SE07")))
    predictions = shipped.predict(instances)
    assert len(predictions) == len(instances) == 455
    for instance in instances:
        assert predictions[instance.id].key in {s.key for s in lex.senses(instance.lemma, instance.pos)}
