"""The CLI: user mistakes give one clear line on stderr and exit code 2, never a traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run_cli

from cohesive.cli import main
from cohesive.corpora.raganato import read_sentences, write_corpus
from cohesive.paths import wsd_prefix


def test_score_prints_the_table(capsys, data_root):
    gold = wsd_prefix("SE07").with_name("semeval2007.gold.key.txt")
    code, out, _ = run_cli(capsys, "wsd", "score", str(gold), str(gold))
    assert code == 0 and "100.0" in out and "NOUN" in out


def test_score_json(capsys, data_root):
    import json

    gold = wsd_prefix("ALL").with_name("ALL.gold.key.txt")
    code, out, _ = run_cli(capsys, "wsd", "score", str(gold), str(gold), "--json")
    result = json.loads(out)
    assert code == 0 and result["overall"]["f1"] == 1.0 and result["by_dataset"]["semeval2015"]["gold"] == 1022


def test_missing_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, "wsd", "score", str(tmp_path / "gold.txt"), str(tmp_path / "p.txt"))
    assert_one_line_error(code, err, "gold.txt not found")


def test_malformed_key_line(capsys, tmp_path):
    (tmp_path / "gold.txt").write_text("a bank%1:14:00::\nb\n")
    code, _, err = run_cli(capsys, "wsd", "score", str(tmp_path / "gold.txt"), str(tmp_path / "gold.txt"))
    assert_one_line_error(code, err, "gold.txt:2:")


def test_malformed_xml(capsys, tmp_path):
    (tmp_path / "x.data.xml").write_text("<corpus><text id='d'><sentence id='s'>\n<wf>oops</sentence>")
    (tmp_path / "x.gold.key.txt").write_text("")
    code, _, err = run_cli(capsys, "wsd", "evaluate", "--datasets", str(tmp_path / "x"), "--output-dir", str(tmp_path / "o"))
    assert_one_line_error(code, err, "x.data.xml:2:")


def _mini_dataset(tmp_path: Path, gold: dict, pos: str | None = None) -> Path:
    sentence = next(read_sentences(wsd_prefix("SE07")))
    if pos:
        sentence.tokens[9] = sentence.tokens[9].__class__(sentence.tokens[9].text, "refer", pos, sentence.tokens[9].id)
    write_corpus(tmp_path / "mini", [sentence], gold)
    return tmp_path / "mini"


def test_gold_id_absent_from_data(capsys, tmp_path, data_root):
    prefix = _mini_dataset(tmp_path, {"d000.s000.t000": ["refer%2:32:01::"], "d9.s9.t9": ["bank%1:14:00::"]})
    code, _, err = run_cli(capsys, "wsd", "evaluate", "--datasets", str(prefix), "--output-dir", str(tmp_path / "o"))
    assert_one_line_error(code, err, "absent from")


def test_unknown_pos(capsys, tmp_path, data_root):
    prefix = _mini_dataset(tmp_path, {"d000.s000.t000": ["refer%2:32:01::"]}, pos="PROPN")
    code, _, err = run_cli(capsys, "wsd", "evaluate", "--datasets", str(prefix), "--output-dir", str(tmp_path / "o"))
    assert_one_line_error(code, err, "unknown POS 'PROPN'")


def test_evaluate_own_dataset_writes_keys_and_table(capsys, tmp_path, data_root):
    prefix = _mini_dataset(tmp_path, {"d000.s000.t000": ["refer%2:32:01::"]})
    code, out, _ = run_cli(capsys, "wsd", "evaluate", "--datasets", str(prefix), "--method", "first-sense", "lesk",
                           "--output-dir", str(tmp_path / "o"))
    assert code == 0 and "| first-sense |" in out and "| lesk |" in out
    assert (tmp_path / "o" / "first-sense" / "mini.key.txt").is_file()
    assert (tmp_path / "o" / "config.yaml").read_text().startswith("methods:")


@pytest.mark.parametrize("argv,needle", [
    (["wsd", "evaluate", "--method", "magic"], "unknown method(s) magic"),
    (["wsd", "evaluate", "--datasets", "SE99"], "unknown WSD dataset 'SE99'"),
    (["wsd", "evaluate", "--config", "nope.yaml"], "config file nope.yaml not found"),
    (["wsd", "evaluate", "--set", "bogus=1"], "unknown WsdEvalConfig option(s): bogus"),
])
def test_bad_options(capsys, tmp_path, argv, needle):
    code, _, err = run_cli(capsys, *argv, "--output-dir", str(tmp_path))
    assert_one_line_error(code, err, needle)


def test_wordnet_missing(tmp_path):
    env = {**os.environ, "WORDNET_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "cohesive.cli", "wsd", "evaluate", "--datasets", "SE07",
                             "--output-dir", str(tmp_path / "o")], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"cohesive: error: {tmp_path} is not a WordNet 3.0 dict folder "
                                                  "(needs index.sense, data.noun, data.verb, data.adj, data.adv, "
                                                  "index.noun, index.verb, index.adj, index.adv)"]


GOLD_LINE = "d000.s000.t000 refer%2:32:01::\n"
BAD_INPUTS = {  # file name -> bytes, for the table below
    "gold.txt": GOLD_LINE.encode(),
    "latin1.txt": "d000.s000.t000 caf\xe9%1:00:00::\n".encode("latin-1"),
    "empty.txt": b"",
    "long.txt": b"x" * 5_000_000 + b"\n",
    "latin1.yaml": "methods: [first-sense]\nnote: caf\xe9\n".encode("latin-1"),
}


@pytest.mark.parametrize("argv,needle", [
    (["wsd", "score", "latin1.txt", "gold.txt"], "latin1.txt: not UTF-8 text"),
    (["wsd", "score", "empty.txt", "gold.txt"], "no gold keys"),
    (["wsd", "score", "long.txt", "gold.txt"], "(5,000,000 characters)"),
    (["wsd", "evaluate", "--method", "first-sense", "--set", "methods=[]"], "no method to evaluate"),
    (["wsd", "evaluate", "--method", "first-sense", "--set", "datasets=[SE07"], "is not valid YAML"),
    (["wsd", "evaluate", "--config", "latin1.yaml"], "latin1.yaml is not UTF-8 text"),
    (["wsd", "train", "--config", "latin1.yaml"], "latin1.yaml is not UTF-8 text"),
    (["wsd", "train", "--set", "batch_size=true"], "option batch_size=True should be int"),
    (["wsd", "predict", "ALL", "--prior-weight", "nan"], "prior weight must be a number >= 0"),
])
def test_user_mistakes_are_one_line_and_exit_2(capsys, tmp_path, monkeypatch, data_root, argv, needle):
    for name, content in BAD_INPUTS.items():
        (tmp_path / name).write_bytes(content)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, needle)
    assert len(err) < 300  # a 5 MB line is not echoed whole


def test_a_gold_file_with_a_bom_scores_like_one_without(capsys, tmp_path):
    (tmp_path / "gold.txt").write_text(GOLD_LINE)
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + GOLD_LINE.encode())
    code, out, _ = run_cli(capsys, "wsd", "score", str(tmp_path / "bom.txt"), str(tmp_path / "gold.txt"), "--json")
    assert code == 0 and json.loads(out)["overall"]["f1"] == 1.0


def test_an_interrupt_at_any_moment_is_one_line_and_exit_130(capsys, monkeypatch):
    import cohesive.cli

    def interrupted():
        raise KeyboardInterrupt  # e.g. Ctrl-C while torch is still being imported

    monkeypatch.setattr(cohesive.cli, "build_parser", interrupted)
    code, _, err = run_cli(capsys, "wsd", "score", "a", "b")
    assert code == 130 and err == "cohesive: interrupted\n"


def test_verbose_may_follow_the_subcommand(capsys, tmp_path):
    (tmp_path / "gold.txt").write_text(GOLD_LINE)
    code, out, _ = run_cli(capsys, "wsd", "score", str(tmp_path / "gold.txt"), str(tmp_path / "gold.txt"), "-v", "--json")
    assert code == 0 and json.loads(out)["overall"]["f1"] == 1.0


def test_every_subcommand_help_shows_its_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["wsd", "predict", "--help"])
    assert "pairs per forward pass (default: 256)" in " ".join(capsys.readouterr().out.split())


def test_a_config_works_from_any_working_directory(capsys, tmp_path, monkeypatch, data_root):
    (tmp_path / "configs").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "configs" / "eval.yaml").write_text("methods: [first-sense]\ndatasets: [SE07]\noutput_dir: ../out\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, out, _ = run_cli(capsys, "wsd", "evaluate", "--config", "../configs/eval.yaml")
    assert code == 0 and "| first-sense | 55.2 |" in out
    assert (tmp_path / "out" / "first-sense" / "semeval2007.key.txt").is_file()
    assert list((tmp_path / "elsewhere").iterdir()) == []  # nothing written where the command ran
    from cohesive.config import load_config
    from cohesive.wsd.types import WsdEvalConfig

    saved = load_config(WsdEvalConfig, tmp_path / "out" / "config.yaml")  # points at its own folder
    assert saved.output_dir.resolve() == (tmp_path / "out").resolve()


def test_data_is_found_from_any_working_directory(tmp_path, monkeypatch):
    import cohesive.paths

    checkout = tmp_path / "checkout" / "data"
    checkout.mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.setattr(cohesive.paths, "CHECKOUT_DATA", checkout)
    monkeypatch.delenv("COHESIVE_DATA", raising=False)
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert cohesive.paths.data_root() == checkout  # the source checkout's data link
    (tmp_path / "elsewhere" / "data").mkdir()
    assert cohesive.paths.data_root() == Path("data")  # ./data where the command runs comes first
    monkeypatch.setenv("COHESIVE_DATA", str(tmp_path / "mine"))
    assert cohesive.paths.data_root() == tmp_path / "mine"  # and $COHESIVE_DATA before both
