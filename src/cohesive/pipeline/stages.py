"""The cohesive stage table: which stage function each node calls, its config section, and the paths
between stages, which the pipeline fills in (a user sets budgets, never where a stage reads from).

One YAML file: top-level `output_dir`, `results_dir`, `base_model`, `backbones`, then one section
per stage kind holding that stage's dataclass options (`lmgcm` serves both LMGC-M stages and
`detectors` every detector, so the compared models get the same budget).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cohesive.config import load_config, parse_overrides, read_yaml, relative_to
from cohesive.corpora.glue import split_path, task_spec
from cohesive.distill.cache import DistillCacheConfig
from cohesive.distill.heldout import MlmEvalConfig
from cohesive.distill.teachers import MINILM_NAME, TeacherBuildConfig, domain_teacher_name
from cohesive.distill.train import DistillTrainConfig
from cohesive.errors import CohesiveError
from cohesive.nlu.suite import SuiteConfig
from cohesive.paraphrase.corpus import ParaphraseCorpusConfig
from cohesive.paraphrase.evaluate import ParaphraseEvalConfig
from cohesive.paraphrase.train import DetectorTrainConfig
from cohesive.pipeline.graph import Stage
from cohesive.wsd.types import DATASET_ORDER, WsdTrainConfig

log = logging.getLogger(__name__)

BACKBONES = ("base", "student", "lmgcm-base", "lmgcm-student")
#: Detector kinds that fine-tune or embed with a backbone (the others would ignore it).
BACKBONE_DETECTORS = ("finetune", "embed-lr", "word-lora")


@dataclass
class PipelineConfig:
    """The top of a pipeline file; `sections` holds each stage section's options as written."""

    output_dir: Path = Path("runs/cohesive")
    results_dir: Path = Path("runs/cohesive/results")
    base_model: str = "minilm"  # the base encoder: `minilm`, a hub id or a local folder (`./...`)
    backbones: list[str] = field(default_factory=lambda: list(BACKBONES))  # GLUE and paraphrase detectors
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class WsdEvalOptions:
    """The `wsd` section: the framework datasets each LMGC-M model is scored on."""

    datasets: list[str] = field(default_factory=lambda: list(DATASET_ORDER))
    dev: str | None = "SE07"  # where the sense-prior weight is tuned (None: the model alone)
    batch_pairs: int = 256
    models: list[Path] = field(default_factory=list)  # filled: the LMGC-M models
    output_dir: Path = Path("wsd")  # filled


@dataclass
class ReportOptions:
    """The `report` section."""

    title: str = "cohesive run"
    run_dir: Path = Path("runs/cohesive")  # filled
    results_dir: Path = Path("runs/cohesive/results")  # filled
    stages: list[str] = field(default_factory=list)  # filled: the stages whose wall times it lists


#: Section name -> the options dataclass of its stage(s).
SECTIONS: dict[str, type] = {
    "teachers": TeacherBuildConfig, "cache": DistillCacheConfig, "student": DistillTrainConfig,
    "lmgcm": WsdTrainConfig, "wsd": WsdEvalOptions, "forgetting": MlmEvalConfig, "glue": SuiteConfig,
    "paraphrase_corpus": ParaphraseCorpusConfig, "detectors": DetectorTrainConfig,
    "paraphrase_eval": ParaphraseEvalConfig, "report": ReportOptions,
}
#: Options the pipeline sets in each section (the paths between stages).
FILLED: dict[str, tuple[str, ...]] = {
    "teachers": ("output_dir", "base_model"), "cache": ("teachers", "cache_dir"),
    "student": ("cache_dir", "output_dir", "teachers"), "lmgcm": ("model", "output_dir", "export_dir"),
    "wsd": ("models", "output_dir"), "forgetting": ("models", "output"),
    "glue": ("models", "output_dir", "results_dir"), "paraphrase_corpus": ("output_dir", "mask_model"),
    "detectors": ("corpus_dir", "output_dir", "model"), "paraphrase_eval": ("corpus_dir", "detectors", "results_dir"),
    "report": ("run_dir", "results_dir", "stages"),
}


def load_pipeline(path: str | Path, sets: list[str] | None = None) -> PipelineConfig:
    """Read a pipeline file: relative paths against its folder, `--set section.key=value` on top,
    unknown sections or options and user-set pipeline paths refused on one line."""
    path = Path(path)
    values = read_yaml(path)
    unknown = sorted(k for k, v in values.items() if isinstance(v, dict) and k not in SECTIONS)
    if unknown:
        raise CohesiveError(f"{path}: unknown section(s) {', '.join(unknown)}; sections: {', '.join(SECTIONS)}")
    sections = {name: relative_to(path.parent, values.pop(name) or {}, cls) for name, cls in SECTIONS.items()
                if name in values}
    top = relative_to(path.parent, values, PipelineConfig)
    for key, value in parse_overrides(sets).items():
        section, dot, option = key.partition(".")
        if not dot:
            top[key] = value
        elif section not in SECTIONS:
            raise CohesiveError(f"--set {key}: unknown section {section!r}; sections: {', '.join(SECTIONS)}")
        else:
            sections.setdefault(section, {})[option] = value
    if "sections" in top:
        raise CohesiveError(f"{path}: `sections` is not an option; write each section at the top level")
    config = load_config(PipelineConfig, None, top)
    config.sections = sections
    _check_sections(config)
    return config


def _check_sections(config: PipelineConfig) -> None:
    for name, values in config.sections.items():
        taken = sorted(set(values) & set(FILLED[name]))
        if taken:
            raise CohesiveError(f"{name}.{', '.join(taken)}: set by the pipeline (the paths between stages), not the config")
    unknown = [b for b in config.backbones if b not in BACKBONES]
    if unknown or not config.backbones:
        raise CohesiveError(f"backbones: choose from {', '.join(BACKBONES)} (got {config.backbones})")


def options(config: PipelineConfig, section: str, filled: dict[str, Any]) -> Any:
    """A section's dataclass: the file's options, then the pipeline's paths (checked like any config)."""
    return load_config(SECTIONS[section], None, {**config.sections.get(section, {}), **filled})


def build_stages(config: PipelineConfig) -> list[Stage]:
    """The stage table of one pipeline file, in run order (every stage after its inputs)."""
    from cohesive.pipeline import work

    root = Path(os.path.abspath(config.output_dir))
    teachers = options(config, "teachers", {"output_dir": root / "teachers", "base_model": _base_for_teachers(config)})
    if not teachers.build_minilm:
        raise CohesiveError("teachers.build_minilm must stay true: LMGC-M on the base encoder starts from its MLM")
    names = [MINILM_NAME, *[domain_teacher_name(d, teachers) for d in teachers.domains]]
    teacher_paths = [str(root / "teachers" / name) for name in names]
    base_mlm = teacher_paths[0]
    cache = root / "cache" / "shards"
    models = {"student": root / "student" / "model", "lmgcm-base": root / "lmgcm-base" / "model",
              "lmgcm-student": root / "lmgcm-student" / "model"}
    backbones = {"base": (config.base_model, ()), **{name: (str(path), (name,)) for name, path in models.items()}}
    chosen = {name: backbones[name] for name in config.backbones}
    glue = options(config, "glue", {"models": [f"{n}={p}" for n, (p, _) in chosen.items()],
                                    "output_dir": root / "glue", "results_dir": None})
    glue.tasks = present_tasks(glue.tasks)
    stages = [
        Stage("teachers", teachers, work.teachers, models=(config.base_model,)),
        Stage("cache", options(config, "cache", {"teachers": teacher_paths, "cache_dir": cache}), work.cache,
              ("teachers",)),
        Stage("student", options(config, "student", {"cache_dir": cache, "output_dir": models["student"],
                                                      "teachers": teacher_paths}), work.student, ("cache",)),
        Stage("lmgcm-base", options(config, "lmgcm", {"model": base_mlm, "output_dir": models["lmgcm-base"],
                                                      "export_dir": None}), work.lmgcm, ("teachers",)),
        Stage("lmgcm-student", options(config, "lmgcm", {"model": str(models["student"]), "export_dir": None,
                                                         "output_dir": models["lmgcm-student"]}),
              work.lmgcm, ("student",)),
        Stage("wsd", options(config, "wsd", {"models": [models["lmgcm-base"], models["lmgcm-student"]],
                                             "output_dir": root / "wsd"}),
              work.wsd, ("lmgcm-base", "lmgcm-student")),
        Stage("forgetting", options(config, "forgetting", {
            "models": [base_mlm, str(models["lmgcm-base"]), str(models["student"]), str(models["lmgcm-student"])],
            "output": root / "forgetting" / "heldout.json"}), work.forgetting,
              ("teachers", "student", "lmgcm-base", "lmgcm-student")),
        Stage("glue", glue, work.glue, tuple(i for _, inputs in chosen.values() for i in inputs), _external(chosen)),
        Stage("paraphrase-corpus", options(config, "paraphrase_corpus", {
            "output_dir": root / "paraphrase-corpus", "mask_model": base_mlm}), work.paraphrase_corpus, ("teachers",)),
        *[_detector(config, root, name, path, inputs) for name, (path, inputs) in chosen.items()],
        Stage("paraphrase-eval", options(config, "paraphrase_eval", {
            "corpus_dir": root / "paraphrase-corpus", "results_dir": root / "paraphrase-eval",
            "detectors": [root / f"detector-{name}" for name in chosen]}),
              work.paraphrase_eval, ("paraphrase-corpus", *[f"detector-{name}" for name in chosen])),
    ]
    report = options(config, "report", {"run_dir": root, "results_dir": Path(os.path.abspath(config.results_dir)),
                                        "stages": [stage.name for stage in stages]})
    return [*stages, Stage("report", report, work.report, tuple(stage.name for stage in stages))]


def _base_for_teachers(config: PipelineConfig) -> str | None:
    """TeacherBuildConfig's `None` is the installed MiniLM, as `minilm` is elsewhere."""
    return None if config.base_model == "minilm" else config.base_model


def _external(chosen: dict[str, tuple[str, tuple[str, ...]]]) -> tuple[str, ...]:
    return tuple(path for path, inputs in chosen.values() if not inputs)


def _detector(config: PipelineConfig, root: Path, name: str, path: str, inputs: tuple[str, ...]) -> Stage:
    from cohesive.pipeline import work

    values = {"kind": "finetune", **config.sections.get("detectors", {})}
    if values["kind"] not in BACKBONE_DETECTORS:
        raise CohesiveError(f"detectors.kind={values['kind']!r} ignores the backbone; "
                            f"choose from {', '.join(BACKBONE_DETECTORS)}")
    detector = load_config(DetectorTrainConfig, None, {**values, "corpus_dir": root / "paraphrase-corpus",
                                                       "output_dir": root / f"detector-{name}", "model": path})
    return Stage(f"detector-{name}", detector, work.detector, ("paraphrase-corpus", *inputs), _external({name: (path, inputs)}))


def present_tasks(tasks: list[str]) -> list[str]:
    """The GLUE tasks whose train and dev files are there (the large ones are optional downloads);
    the others are left out with a warning, and come back as a config change once present."""
    present = [t for t in tasks if all(split_path(t, s).is_file() for s in ("train", "dev"))]
    missing = [task_spec(t).name for t in tasks if t not in present]
    if missing:
        log.warning("glue: no data for %s: left out (docs/DATA.md)", ", ".join(missing))
    if not present:
        raise CohesiveError(f"glue: no data for any of {', '.join(tasks)} (docs/DATA.md)")
    return present
