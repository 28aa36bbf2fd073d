"""Every YAML under configs/ names the command that runs it and loads into that command's options,
so a misspelt option, a wrong type or a renamed field fails here rather than in a user's long run."""

import re
from pathlib import Path

import pytest

from cohesive.config import load_config
from cohesive.distill.cache import DistillCacheConfig
from cohesive.distill.compare import DistillCompareConfig
from cohesive.distill.teachers import TeacherBuildConfig
from cohesive.distill.train import DistillTrainConfig
from cohesive.nlu.finetune import NluConfig
from cohesive.nlu.suite import SuiteConfig
from cohesive.paraphrase.compare import BackboneCompareConfig
from cohesive.paraphrase.corpus import ParaphraseCorpusConfig
from cohesive.paraphrase.evaluate import ParaphraseEvalConfig
from cohesive.paraphrase.train import DetectorCalibrateConfig, DetectorTrainConfig
from cohesive.pipeline.stages import load_pipeline
from cohesive.wsd.types import WsdEvalConfig, WsdTrainConfig

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").rglob("*.yaml"))
OPTIONS = {
    "wsd train": WsdTrainConfig, "wsd evaluate": WsdEvalConfig, "nlu finetune": NluConfig, "nlu suite": SuiteConfig,
    "teachers build": TeacherBuildConfig, "distill cache": DistillCacheConfig, "distill train": DistillTrainConfig,
    "distill compare": DistillCompareConfig, "paraphrase build": ParaphraseCorpusConfig,
    "paraphrase train": DetectorTrainConfig, "paraphrase evaluate": ParaphraseEvalConfig,
    "paraphrase compare": BackboneCompareConfig, "paraphrase calibrate": DetectorCalibrateConfig,
}


def command_of(path: Path) -> str:
    relative = path.relative_to(REPO).as_posix()
    found = re.search(rf"cohesive ((?:run)|(?:\w+ \w+)) --config {re.escape(relative)}\b", path.read_text())
    assert found, f"{relative} does not say which command runs it (# cohesive ... --config {relative})"
    return found.group(1)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(REPO / "configs").as_posix())
def test_a_config_loads_into_the_options_of_the_command_it_names(path):
    command = command_of(path)
    if command == "run":
        assert load_pipeline(path).sections
    else:
        load_config(OPTIONS[command], path)


def test_the_header_check_finds_a_missing_command(tmp_path, monkeypatch):
    stray = REPO / "configs" / "x.yaml"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "# no command here\nseed: 1\n")
    with pytest.raises(AssertionError, match="does not say which command runs it"):
        command_of(stray)
