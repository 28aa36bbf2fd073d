"""Stage configs: YAML + flags + `--set` overrides, with clear errors."""

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cohesive.config import cli_overrides, dump_config, load_config, parse_overrides
from cohesive.errors import CohesiveError


@dataclass
class Stage:
    name: str = "a"
    dev: str | None = "SE07"
    steps: int = 10
    lr: float = 1e-3
    datasets: list[str] = field(default_factory=lambda: ["SE07"])
    out: Path = Path("runs/x")


def test_yaml_then_flags_then_sets(tmp_path):
    (tmp_path / "c.yaml").write_text("steps: 20\nlr: 1\ndatasets: ALL\n")
    config = load_config(Stage, tmp_path / "c.yaml", cli_overrides({"name": None, "out": "o"}, ["steps=30", "dev=null"]))
    assert config == Stage(name="a", dev=None, steps=30, lr=1.0, datasets=["ALL"], out=Path("o"))
    dump_config(config, tmp_path / "again.yaml")
    again = load_config(Stage, tmp_path / "again.yaml")
    assert again.out.absolute() == config.out.absolute() and dataclasses.replace(again, out=config.out) == config


@dataclass
class Located:
    model: str = "minilm"
    models: list[str] = field(default_factory=list)
    out: Path = Path("runs/x")
    inputs: list[Path] = field(default_factory=list)
    nested: dict = field(default_factory=dict)


def test_paths_in_a_config_file_are_relative_to_its_folder(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "c.yaml").write_text(
        "model: ../runs/lmgc\nmodels: [minilm, bert-base-uncased, mine=../m, ./here]\nout: ../out\ninputs: [a, /abs/b]\n"
        "nested: {s: {student_from: ../t, name: x}}\n")
    monkeypatch.chdir(tmp_path / "configs")
    config = load_config(Located, Path("c.yaml"))
    assert config.model == "../runs/lmgc" and config.out == Path("../out")  # seen from here, the same places
    monkeypatch.chdir(tmp_path)
    config = load_config(Located, Path("configs/c.yaml"))
    assert config.model == "./runs/lmgc" and config.out == Path("out")
    assert config.models == ["minilm", "bert-base-uncased", "mine=./m", "./configs/here"]  # hub ids stay as they are
    assert config.inputs == [Path("configs/a"), Path("/abs/b")]
    assert config.nested == {"s": {"student_from": "./t", "name": "x"}}


def test_a_dumped_config_reads_the_same_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = Located(model="./runs/lmgc", models=["minilm", "x=./m"], out=Path("out"), inputs=[Path("data/a")])
    dump_config(config, tmp_path / "runs" / "saved" / "config.yaml")
    assert "model: ../lmgc" in (tmp_path / "runs" / "saved" / "config.yaml").read_text()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    again = load_config(Located, tmp_path / "runs" / "saved" / "config.yaml")
    assert Path(again.model).resolve() == tmp_path / "runs" / "lmgc" and again.out.resolve() == tmp_path / "out"
    assert again.models[0] == "minilm" and Path(again.models[1].split("=")[1]).resolve() == tmp_path / "m"


def test_set_parses_yaml_scalars_and_lists():
    assert parse_overrides(["b=[x, y]", "c-d=true", "e="]) == {"b": ["x", "y"], "c_d": True, "e": ""}


def test_exponent_notation_is_a_number():
    """YAML 1.1 reads `1e-4` as a string; a float option must still accept it."""
    assert load_config(Stage, None, cli_overrides({}, ["lr=1e-4", "steps=7"])).lr == 1e-4


@pytest.mark.parametrize("sets,message", [
    (["bogus=1"], "unknown Stage option(s): bogus"),
    (["steps=many"], "option steps='many' should be int"),
    (["steps=null"], "option steps=None should be int"),
    (["noequals"], "is not KEY=VALUE"),
    (["out=null"], "option out=None should be a path"),
])
def test_mistakes_are_clear(sets, message):
    with pytest.raises(CohesiveError, match=re.escape(message)):
        load_config(Stage, None, cli_overrides({}, sets))


def test_bad_yaml(tmp_path):
    (tmp_path / "c.yaml").write_text("- just\n- a list\n")
    with pytest.raises(CohesiveError, match="must hold a mapping"):
        load_config(Stage, tmp_path / "c.yaml")
