"""`cohesive run`: the stage graph (skip, rerun downstream, resume, dry-run), the pipeline configs
(paper.yaml offline, from another directory), the report in headless Chromium, and (slow) a
tiny-model end-to-end run that writes the report, then skips everything, then reruns one branch."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, assert_one_line_error, headless_chromium, make_tiny_mlm, run_cli, write_mini_semcor

from cohesive.errors import CohesiveError
from cohesive.pipeline.graph import MANIFEST, PENDING, Stage, changes, execute, plan, planned
from cohesive.pipeline.stages import build_stages, load_pipeline

QUICK = REPO / "configs" / "cohesive_quick.yaml"
QUICK_REPORT = REPO / "results" / "cohesive" / "quick" / "report.html"


@dataclass
class Opts:
    size: int
    out: Path


def fake_table(root: Path, sizes: dict[str, int] | None = None, calls: list | None = None, fail: str = "") -> list[Stage]:
    """a -> b -> c and a -> d: each stage writes a file; `fail` raises after writing (a killed stage)."""
    sizes = {"a": 1, "b": 1, "c": 1, "d": 1, **(sizes or {})}

    def work(name):
        def run(options):
            (options.out / "work.txt").write_text(f"{name} {options.size}\n")
            (calls if calls is not None else []).append(name)
            if name == fail:
                raise RuntimeError("killed")
            return {"size": options.size}
        return run

    inputs = {"a": (), "b": ("a",), "c": ("b",), "d": ("a",)}
    stages = []
    for name in "abcd":
        (root / name).mkdir(parents=True, exist_ok=True)
        stages.append(Stage(name, Opts(sizes[name], root / name), work(name), inputs[name]))
    return stages


def statuses(stages, root, **kwargs) -> dict[str, str]:
    return {step.name: step.status for step in plan(stages, root, **kwargs)}


def test_second_run_skips_and_a_change_reruns_downstream_only(tmp_path):
    calls = []
    assert statuses(fake_table(tmp_path), tmp_path) == dict.fromkeys("abcd", "todo")
    execute(fake_table(tmp_path, calls=calls), tmp_path, echo=lambda _: None)
    assert calls == list("abcd")
    assert statuses(fake_table(tmp_path), tmp_path) == dict.fromkeys("abcd", "done")
    calls.clear()
    execute(fake_table(tmp_path, calls=calls), tmp_path, echo=lambda _: None)
    assert calls == []
    steps = {s.name: s for s in plan(fake_table(tmp_path, {"b": 2}), tmp_path)}
    assert {n: s.status for n, s in steps.items()} == {"a": "done", "b": "stale", "c": "stale", "d": "done"}
    assert steps["b"].why == "config changed: size" and steps["c"].why == "input b reruns"
    lines = []
    execute(fake_table(tmp_path, {"b": 2}, calls), tmp_path, echo=lines.append)
    assert calls == ["b", "c"] and "input b changed" in lines[-3]
    manifest = json.loads((tmp_path / "b" / MANIFEST).read_text())
    assert manifest["config"] == {"size": 2, "out": "$run/b"} and manifest["summary"] == {"size": 2}


def test_an_interrupted_stage_resumes_in_its_folder_and_a_changed_one_starts_clean(tmp_path):
    with pytest.raises(RuntimeError):
        execute(fake_table(tmp_path, fail="b"), tmp_path, echo=lambda _: None)
    assert (tmp_path / "b" / PENDING).is_file() and not (tmp_path / "b" / MANIFEST).exists()
    (tmp_path / "b" / "checkpoint").write_text("step 10")
    steps = {s.name: s for s in plan(fake_table(tmp_path), tmp_path)}
    assert (steps["b"].status, steps["b"].why) == ("todo", "resumes an interrupted run")
    assert steps["a"].status == "done" and steps["c"].why == "not run yet"
    calls = []
    execute(fake_table(tmp_path, calls=calls), tmp_path, echo=lambda _: None)
    assert calls == ["b", "c", "d"] and (tmp_path / "b" / "checkpoint").is_file()  # resumed: the folder was kept
    with pytest.raises(RuntimeError):
        execute(fake_table(tmp_path, {"b": 3}, fail="b"), tmp_path, echo=lambda _: None)
    (tmp_path / "b" / "checkpoint").write_text("step 10 of size 3")
    assert plan(fake_table(tmp_path, {"b": 5}), tmp_path)[1].why == "not run yet"
    execute(fake_table(tmp_path, {"b": 5}), tmp_path, echo=lambda _: None)
    assert not (tmp_path / "b" / "checkpoint").exists()  # another config: no resuming from its checkpoints


def test_an_option_added_to_the_code_since_counts_only_off_its_default():
    before = {"config": {"steps": 4, "gone": 1}, "inputs": {"a": "sha256:1"}}
    now = {"config": {"steps": 4, "new": 0}, "inputs": {"a": "sha256:1"}}
    assert changes(before, now, {"new": 0}) == ""
    assert changes(before, {**now, "config": {"steps": 4, "new": 2}}, {"new": 0}) == "config changed: new"
    assert changes(before, {**now, "inputs": {"a": "sha256:2"}}, {"new": 0}) == "input a changed"


def test_force_and_only(tmp_path):
    execute(fake_table(tmp_path), tmp_path, echo=lambda _: None)
    assert statuses(fake_table(tmp_path), tmp_path, force={"a"}) == dict.fromkeys("abcd", "stale")
    calls = []
    execute(fake_table(tmp_path, calls=calls), tmp_path, force={"b"}, only={"b"}, echo=lambda _: None)
    assert calls == ["b"]
    assert statuses(fake_table(tmp_path), tmp_path) == {"a": "done", "b": "done", "c": "stale", "d": "done"}
    shutil.rmtree(tmp_path / "a")
    with pytest.raises(CohesiveError, match="stage b needs a, which has not run"):
        execute(fake_table(tmp_path), tmp_path, force={"b"}, only={"b"}, echo=lambda _: None)


def quick_config(tmp_path: Path) -> Path:
    """configs/cohesive_quick.yaml in tmp_path/config/, writing to tmp_path/run and tmp_path/results."""
    text = QUICK.read_text().replace("../runs/cohesive/quick", "../run").replace("../results/quickstart/cohesive", "../results")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "pipeline.yaml").write_text(text)
    return tmp_path / "config" / "pipeline.yaml"


@pytest.fixture
def quick(tmp_path):
    return quick_config(tmp_path)


def test_dry_run_of_a_fresh_and_a_finished_run(quick, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "run", "--config", quick, "--dry-run")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 15 and all(" todo " in line for line in lines)
    assert lines[0].split() == ["teachers", "todo", "not", "run", "yet"]
    stages = build_stages(load_pipeline(quick))
    root = tmp_path / "run"
    for stage in stages:  # the manifests alone make a finished run
        (root / stage.name).mkdir(parents=True)
        (root / stage.name / MANIFEST).write_text(json.dumps(planned(stage, root)))
    code, out, _ = run_cli(capsys, "run", "--config", quick, "--dry-run")
    assert code == 0 and [line.split()[1] for line in out.splitlines()] == ["done"] * 15
    code, out, _ = run_cli(capsys, "run", "--config", quick, "--dry-run", "--set", "student.max_steps=80")
    found = {line.split()[0]: line.split(None, 2)[1:] for line in out.splitlines()}
    assert found["student"] == ["stale", "config changed: max_steps"]
    assert found["lmgcm-student"] == ["stale", "input student reruns"]
    assert found["detector-student"][0] == "stale" and found["detector-base"][0] == "done"
    assert {n for n, (status, _) in found.items() if status == "done"} == {
        "teachers", "cache", "lmgcm-base", "paraphrase-corpus", "detector-base", "detector-lmgcm-base"}


def test_a_command_run_from_another_directory(quick, tmp_path, capsys, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    relative = os.path.relpath(quick, elsewhere)
    config = load_pipeline(relative)
    teachers = build_stages(config)[0].options
    assert config.output_dir.resolve() == tmp_path / "run" and teachers.output_dir == tmp_path / "run" / "teachers"
    code, out, _ = run_cli(capsys, "run", "--config", relative, "--dry-run", "--only", "teachers")
    assert code == 0 and out.split() == ["teachers", "todo", "not", "run", "yet"]
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("argv, needle", [
    (["--set", "student.cache_dir=/x"], "student.cache_dir: set by the pipeline"),
    (["--set", "studnet.max_steps=3"], "unknown section 'studnet'"),
    (["--set", "student.max_stepz=3"], "unknown DistillTrainConfig option(s): max_stepz"),
    (["--only", "teacher"], "--only: unknown stage(s) teacher"),
    (["--set", "backbones=[bert]"], "backbones: choose from"),
    (["--set", "detectors.kind=tfidf-lr"], "ignores the backbone"),
])
def test_pipeline_mistakes_are_one_line(quick, capsys, argv, needle):
    code, _, err = run_cli(capsys, "run", "--config", quick, "--dry-run", *argv)
    assert_one_line_error(code, err, needle)


def test_paper_config_loads_offline(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = load_pipeline(REPO / "configs" / "paper.yaml")
    stages = {stage.name: stage for stage in build_stages(config)}
    assert config.base_model == "bert-base-uncased" and stages["teachers"].options.base_model == "bert-base-uncased"
    assert stages["lmgcm-student"].options.instance_share == 1.0
    assert {"rte", "mrpc", "stsb", "cola", "sst2"} <= set(stages["glue"].options.tasks)
    assert stages["glue"].models == ("bert-base-uncased",)
    for path in ("cohesive.yaml", "paper.yaml"):
        code, out, _ = run_cli(capsys, "run", "--config", REPO / "configs" / path, "--dry-run")
        assert code == 0 and len(out.splitlines()) == 15


SECTIONS = ("teachers", "distillation", "wsd", "forgetting", "glue", "paraphrase", "stages")


def check_rendered(report: Path, screenshot: Path | None = None) -> None:
    """Title, every section and every embedded image decoded (naturalWidth > 0) in a real browser."""
    from selenium.webdriver.common.by import By

    browser = headless_chromium(1600)
    try:
        browser.get(report.as_uri())
        assert browser.title.startswith("cohesive")
        assert [s.get_attribute("id") for s in browser.find_elements(By.CSS_SELECTOR, "section")] == list(SECTIONS)
        images = browser.find_elements(By.TAG_NAME, "img")
        assert images and all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i) > 0
                              for i in images)
        if screenshot is not None:
            browser.save_screenshot(str(screenshot))
    finally:
        browser.quit()


def test_the_committed_report_renders_in_chromium():
    if not QUICK_REPORT.is_file():
        pytest.fail(f"{QUICK_REPORT} missing: run `cohesive run --config configs/cohesive_quick.yaml`")
    html = QUICK_REPORT.read_text()
    assert "src=\"data:image/png;base64," in html and "src=\"http" not in html  # self-contained
    check_rendered(QUICK_REPORT, REPO / "docs" / "report.png" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else None)


def tiny_config(tmp_path: Path, tokenizer) -> Path:
    """A pipeline of tiny random models on a few SemCor sentences and tiny GLUE/paraphrase budgets."""
    make_tiny_mlm(tmp_path / "tiny", tokenizer)
    semcor = str(write_mini_semcor(tmp_path / "mini" / "semcor", 12))
    config = tmp_path / "pipeline.yaml"
    config.write_text(f"""
output_dir: run
results_dir: results
base_model: ./tiny
teachers: {{domains: [wordnet], seq_len: 32, batch_size: 4, minilm_steps: 2, minilm_texts_per_domain: 40,
           domain_steps: 2, domain_layers: 1, domain_hidden: 32, domain_heads: 2, domain_texts: 40,
           eval_texts_per_domain: 8, eval_blocks: 4, logging_steps: 1}}
cache: {{domains: [wordnet], per_domain: 16, seq_len: 32, shard_size: 8, batch_size: 8}}
student: {{student_layers: 1, student_hidden: 32, student_heads: 2, heldout_domains: [wordnet],
          heldout_per_domain: 8, max_steps: 4, batch_size: 4, eval_steps: 2, save_steps: 2, logging_steps: 1}}
lmgcm: {{train_data: {semcor}, dev: null, datasets: [{semcor}], max_steps: 4, batch_size: 8, max_length: 48,
        max_gloss_tokens: 16, negatives_per_positive: 2, logging_steps: 1, save_steps: 2}}
wsd: {{datasets: [{semcor}], dev: null}}
forgetting: {{domains: [wordnet], per_domain: 8, seq_len: 32}}
glue: {{tasks: [rte], seeds: [1], max_steps: 2, batch_size: 4, max_length: 48, max_train_examples: 8,
       logging_steps: 1, references: false}}
paraphrase_corpus: {{domains: [semcor], generators: [spin-max], train_per_class: 8, validation_per_class: 4,
                    test_per_class: 4, tagger_sentences: 200}}
detectors: {{kind: finetune, max_length: 48, batch_size: 4, max_train_examples: 8}}
""")
    return config


@pytest.mark.slow
def test_tiny_end_to_end_run_skip_and_downstream_rerun(tmp_path, tokenizer, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = tiny_config(tmp_path, tokenizer)
    code, out, err = run_cli(capsys, "run", "--config", config)
    assert code == 0, err
    html = (tmp_path / "results" / "report.html").read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in html and "has not run" not in html
    assert html.count("data:image/png;base64,") == 1 + 1 + 4  # curves, GLUE bars, a heatmap per detector
    assert (tmp_path / "results" / "report.md").read_text().count("](figures/") == 6
    code, out, _ = run_cli(capsys, "run", "--config", config)
    assert code == 0 and out.count("-> skipped") == 15 and "-> running" not in out
    code, out, _ = run_cli(capsys, "run", "--config", config, "--set", "lmgcm.max_steps=3")
    rerun = {line.split()[0] for line in out.splitlines() if line.endswith("-> running")}
    assert rerun == {"lmgcm-base", "lmgcm-student", "wsd", "forgetting", "glue", "detector-lmgcm-base",
                     "detector-lmgcm-student", "paraphrase-eval", "report"}
