"""Broken inputs across every command family: one `cohesive: error:` line, exit 2, nothing clobbered.

Each case builds its bad input in tmp_path and runs the CLI in-process; a pre-existing result
folder must be byte-identical afterwards. A few cases need a subprocess (kill -9).
"""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_one_line_error, make_tiny_mlm, run_cli

from cohesive.atomic import RUN_MARKER, write_text
from cohesive.corpora.raganato import read_sentences, write_corpus
from cohesive.distill.cache import FORMAT, VERSION
from cohesive.paths import wsd_prefix
from cohesive.pretrained import shipped

REPO = Path(__file__).resolve().parents[1]
SHIPPED_DETECTOR = shipped("paraphrase")
SHIPPED_WSD = shipped("wsd-minilm")


@pytest.fixture(scope="module")
def pickle_model(tmp_path_factory, tokenizer) -> Path:
    """A checkpoint whose weights exist only as a pickle (`pytorch_model.bin`)."""
    import torch
    from transformers import AutoModelForMaskedLM

    folder = make_tiny_mlm(tmp_path_factory.mktemp("pickle_model"), tokenizer)
    torch.save(AutoModelForMaskedLM.from_pretrained(folder).state_dict(), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder


def paraphrase_corpus(folder: Path, train_rows: list[str]) -> Path:
    """A corpus folder whose train split is `train_rows` (raw lines) and whose other splits are valid."""
    row = {"id": "x", "text": "a short text", "label": 0, "domain": "semcor", "generator": "original"}
    folder.mkdir()
    (folder / "corpus.json").write_text(json.dumps({"train_cell": "semcor/spin"}))
    for split in ("validation", "test"):
        (folder / f"{split}.jsonl").write_text(json.dumps(row) + "\n")
    (folder / "train.jsonl").write_text("".join(line + "\n" for line in train_rows))
    return folder


def broken_copy(source: Path, folder: Path, name: str, content: bytes) -> Path:
    shutil.copytree(source, folder)
    (folder / name).write_bytes(content)
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


GOOD_ROW = json.dumps({"id": "a", "text": "some text here", "label": 1, "domain": "semcor", "generator": "spin"})

CASES = {  # name -> (argv builder over tmp_path and the fixtures, expected words of the one error line)
    "pickle-only model, wsd train": (
        lambda t, pk: ["wsd", "train", "--model", pk, "--output-dir", t / "o"], "holds only pickle weights"),
    "pickle-only model, nlu finetune": (
        lambda t, pk: ["nlu", "finetune", "--config", REPO / "configs/nlu.yaml", "--model", pk, "--task", "rte",
                       "--output-dir", t / "o"], "holds only pickle weights"),
    "pickle-only model, distill evaluate": (
        lambda t, pk: ["distill", "evaluate", "--models", pk, "--output", t / "e.json"], "holds only pickle weights"),
    "pickle-only model, paraphrase train": (
        lambda t, pk: ["paraphrase", "train", "--config", REPO / "configs/paraphrase/train_tfidf_lr.yaml",
                       "--kind", "embed-lr", "--model", pk, "--output-dir", t / "o",
                       "--set", f"corpus_dir={paraphrase_corpus(t / 'c', [GOOD_ROW] * 4)}"],
        "holds only pickle weights"),
    "backbone of a folder that is not a gloss-bank model": (
        lambda t, pk: ["wsd", "backbone", "--model", pk, "--output", t / "b"], "not a valid gloss-bank model"),
    "gloss-bank-m on a base without an MLM head": (
        lambda t, pk: ["wsd", "train", "--objective", "gloss-bank-m", "--model", "minilm", "--output-dir", t / "o"],
        "no trained masked-LM head, which gloss-bank-m needs"),
    "corrupt model description": (
        lambda t, pk: ["wsd", "tag", "bank", "--model", broken_copy(SHIPPED_WSD, t / "m", "wsd_model.json", b"{x")],
        "wsd_model.json: not valid JSON"),
    "truncated gloss-bank heads": (
        lambda t, pk: ["wsd", "tag", "bank", "--model", broken_copy(SHIPPED_WSD, t / "m", "heads.safetensors",
                                                                     (SHIPPED_WSD / "heads.safetensors").read_bytes()[:999])],
        "heads.safetensors: damaged safetensors file"),
    "truncated detector weights": (
        lambda t, pk: ["detect", REPO / "examples/sample_document.txt", "--detector",
                       broken_copy(SHIPPED_DETECTOR, t / "d", "weights.safetensors",
                                   (SHIPPED_DETECTOR / "weights.safetensors").read_bytes()[:5000])],
        "weights.safetensors: damaged safetensors file"),
    "corrupt detector sidecar": (
        lambda t, pk: ["detect", REPO / "examples/sample_document.txt", "--detector",
                       broken_copy(SHIPPED_DETECTOR, t / "d", "aggregate.json", b"[1, 2")],
        "aggregate.json: not valid JSON"),
    "cache manifest without shards": (
        lambda t, pk: ["distill", "train", "--config", REPO / "configs/distill_train.yaml",
                       "--set", f"cache_dir={_manifest(t)}", "--set", f"output_dir={t / 'o'}"],
        "damaged manifest (missing shards)"),
    "corpus row without a label": (
        lambda t, pk: ["paraphrase", "train", "--config", REPO / "configs/paraphrase/train_tfidf_lr.yaml",
                       "--output-dir", t / "o", "--set",
                       f"corpus_dir={paraphrase_corpus(t / 'c', [GOOD_ROW, json.dumps({'id': 'b', 'text': 't'})])}"],
        "train.jsonl:2: missing 'label', 'domain', 'generator'"),
    "corpus row that is not JSON": (
        lambda t, pk: ["paraphrase", "train", "--config", REPO / "configs/paraphrase/train_tfidf_lr.yaml",
                       "--output-dir", t / "o", "--set", f"corpus_dir={paraphrase_corpus(t / 'c', [GOOD_ROW, '{oops'])}"],
        "train.jsonl:2: not a JSON line"),
    "model label that leaves the output folder": (
        lambda t, pk: ["nlu", "suite", "--config", REPO / "configs/nlu_forgetting.yaml", "--models", "..=minilm",
                       "--tasks", "rte", "--output-dir", t / "o"], "model label '..' in '..=minilm'"),
    "output folder is a file": (
        lambda t, pk: ["wsd", "evaluate", "--method", "first-sense", "--output-dir", _file(t)], "is a file, not a folder"),
    "output folder under a file": (
        lambda t, pk: ["nlu", "suite", "--config", REPO / "configs/nlu_forgetting.yaml", "--output-dir", _file(t) / "sub"],
        "is not a folder"),
    "results folder is a file": (
        lambda t, pk: ["paraphrase", "evaluate", "--detectors", SHIPPED_DETECTOR, "--set", f"results_dir={_file(t)}"],
        "is a file, not a folder"),
    "output file is a folder": (
        lambda t, pk: ["distill", "evaluate", "--models", pk, "--output", t], "is a folder: give a file name"),
    "output folder with foreign files": (
        lambda t, pk: ["wsd", "evaluate", "--method", "first-sense", "--datasets", "SE07", "--output-dir", _file(t).parent],
        "already holds files that no cohesive run wrote"),
}


def _manifest(tmp_path: Path) -> Path:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "manifest.json").write_text(json.dumps({"format": FORMAT, "version": VERSION,
                                                                  "fingerprint": "f", "teachers": [], "top_k": 4,
                                                                  "temperature": 2.0, "vocab_size": 9, "seq_len": 8}))
    return tmp_path / "cache"


def _file(tmp_path: Path) -> Path:
    (tmp_path / "a-file").write_text("not a folder")
    return tmp_path / "a-file"


@pytest.mark.parametrize("case", CASES)
def test_a_broken_input_is_one_line_and_exit_2(capsys, tmp_path, data_root, pickle_model, case):
    build, needle = CASES[case]
    argv = build(tmp_path, pickle_model)
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, needle)
    assert snapshot(tmp_path) == before  # nothing written, nothing half-written


def test_a_glue_file_that_is_not_utf8_is_one_line(capsys, tmp_path, monkeypatch, pickle_model):
    task = tmp_path / "glue" / "RTE"
    task.mkdir(parents=True)
    (task / "train.tsv").write_bytes("index\tsentence1\tsentence2\tlabel\n0\tcaf\xe9\tb\tentailment\n".encode("latin-1"))
    shutil.copy(REPO / "data" / "glue" / "RTE" / "dev.tsv", task / "dev.tsv")
    monkeypatch.setenv("COHESIVE_DATA", str(tmp_path))
    code, _, err = run_cli(capsys, "nlu", "finetune", "--config", REPO / "configs/nlu.yaml", "--task", "rte",
                           "--output-dir", tmp_path / "o")
    assert_one_line_error(code, err, "train.tsv: not UTF-8 text (byte 37)")


def _mini_dataset(folder: Path, name: str, broken: bool = False) -> Path:
    sentence = next(read_sentences(wsd_prefix("SE07")))
    write_corpus(folder / name, [sentence], {"d000.s000.t000": ["refer%2:32:01::"]})
    if broken:
        (folder / f"{name}.data.xml").write_text("<corpus><text id='d'><sentence id='s'>\n<wf>oops</sentence>")
    return folder / name


def test_a_failed_run_leaves_the_previous_result_byte_identical(capsys, tmp_path, data_root):
    good, bad = _mini_dataset(tmp_path, "good"), _mini_dataset(tmp_path, "bad", broken=True)
    output = tmp_path / "out"
    code, _, _ = run_cli(capsys, "wsd", "evaluate", "--method", "first-sense", "--datasets", good, "--output-dir", output)
    assert code == 0 and (output / "first-sense" / "good.key.txt").is_file() and (output / RUN_MARKER).is_file()
    before = snapshot(output)
    code, _, err = run_cli(capsys, "wsd", "evaluate", "--method", "first-sense", "lesk", "--datasets", good, bad,
                           "--output-dir", output)
    assert_one_line_error(code, err, "bad.data.xml:2:")
    assert snapshot(output) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["good.data.xml", "good.gold.key.txt", "bad.data.xml",
                                                                   "bad.gold.key.txt", "out"])  # no staging left


def test_a_second_run_replaces_the_first_whole(capsys, tmp_path, data_root):
    good = _mini_dataset(tmp_path, "good")
    output = tmp_path / "out"
    run_cli(capsys, "wsd", "evaluate", "--method", "lesk", "--datasets", good, "--output-dir", output)
    code, _, _ = run_cli(capsys, "wsd", "evaluate", "--method", "first-sense", "--datasets", good, "--output-dir", output)
    assert code == 0 and not (output / "lesk").exists() and (output / "first-sense" / "good.key.txt").is_file()


def test_writes_replace_a_planted_symlink_instead_of_following_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "results.md").symlink_to(victim)
    write_text(tmp_path / "results.md", "new result")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "results.md").is_symlink() and (tmp_path / "results.md").read_text() == "new result"


@pytest.mark.slow
def test_kill_9_during_evaluate_leaves_the_old_complete_result(tmp_path, data_root):
    output = tmp_path / "out"
    command = [sys.executable, "-m", "cohesive.cli", "wsd", "evaluate", "--output-dir", output, "--method", "first-sense"]
    subprocess.run([*command, "--datasets", "SE07"], check=True, capture_output=True, cwd=tmp_path)
    before = snapshot(output)
    run = subprocess.Popen([*command, "lesk", "--datasets", "ALL"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(tmp_path.glob(".out.*.staging/first-sense/*.key.txt")) and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    _, err = run.communicate()
    assert any(tmp_path.glob(".out.*.staging")), f"the run was not writing its staging folder: {err.decode()[-300:]}"
    assert snapshot(output) == before
