"""Student training on the cache: reloadable output, exact resume, 2-process DDP, every mode."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForMaskedLM, TrainerCallback

from cohesive.config import dump_config
from cohesive.corpora.text import corpus_fingerprint, mixed_texts, tokenize_blocks
from cohesive.distill.cache import CacheError, build_cache
from cohesive.distill.teachers import load_teachers
from cohesive.distill.train import DistillTrainConfig, train_student
from cohesive.distill.weighting import Mixture
from cohesive.errors import CohesiveError


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory, tiny_teachers, tokenizer) -> Path:
    directory = tmp_path_factory.mktemp("cache")
    teachers, _ = load_teachers([str(p) for p in tiny_teachers])
    texts = mixed_texts(["wordnet"], "train", 48)
    blocks = tokenize_blocks(texts, tokenizer, 32)
    build_cache(blocks, tokenizer, teachers, directory, corpus_fingerprint=corpus_fingerprint(texts), shard_size=16)
    tokenizer.save_pretrained(directory / "tokenizer")
    return directory


def tiny_config(cache_dir: Path, output_dir: Path, **changes) -> DistillTrainConfig:
    config = DistillTrainConfig(cache_dir=cache_dir, output_dir=output_dir, student_layers=1, student_hidden=32,
                                student_heads=2, heldout_domains=["wordnet"], heldout_per_domain=6, max_steps=6,
                                eval_steps=3, save_steps=3, logging_steps=1, batch_size=4, seed=7)
    return replace(config, **changes)


def test_cached_training_logs_weights_and_saves_a_reloadable_student(cache_dir, tmp_path):
    metrics = train_student(tiny_config(cache_dir, tmp_path / "s"))
    assert set(metrics) == {"eval_loss", "eval_perplexity", "eval_top1", "eval_tokens", "eval_wordnet_loss",
                            "eval_wordnet_top1"}
    assert metrics["eval_wordnet_loss"] == pytest.approx(metrics["eval_loss"])  # the only domain is the whole set
    reloaded = AutoModelForMaskedLM.from_pretrained(tmp_path / "s")
    assert reloaded.config.num_hidden_layers == 1 and (tmp_path / "s" / "model.safetensors").is_file()
    assert not (tmp_path / "s" / "training_args.bin").exists()
    logged = [json.loads(line) for line in (tmp_path / "s" / "metrics.jsonl").read_text().splitlines()]
    train_lines = [r for r in logged if "loss" in r]
    assert {"weight_0", "weight_1", "weight_2", "weight_entropy", "kd", "mlm"} <= set(train_lines[0])
    assert pytest.approx(1.0, abs=1e-5) == sum(train_lines[0][f"weight_{k}"] for k in range(3))
    assert [r["step"] for r in logged if "eval_loss" in r] == [3, 6]


class Crash(RuntimeError):
    pass


class CrashAfterCheckpoint(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        if state.global_step == 3:
            raise Crash("simulated kill after the step-3 checkpoint")


def test_interrupted_run_resumes_to_the_same_weights_and_loss(cache_dir, tmp_path):
    straight = train_student(tiny_config(cache_dir, tmp_path / "straight"))
    with pytest.raises(Crash):
        train_student(tiny_config(cache_dir, tmp_path / "resumed"), callbacks=[CrashAfterCheckpoint()])
    assert (tmp_path / "resumed" / "checkpoint-3").is_dir() and not (tmp_path / "resumed" / "checkpoint-6").exists()
    resumed = train_student(tiny_config(cache_dir, tmp_path / "resumed"))
    assert resumed == straight
    digest = lambda d: (d / "weights_digest.rank0.txt").read_text()  # noqa: E731
    assert digest(tmp_path / "resumed") == digest(tmp_path / "straight")


def _first_train_line(output_dir: Path) -> dict:
    return next(r for r in map(json.loads, (output_dir / "metrics.jsonl").read_text().splitlines()) if "loss" in r)


@pytest.mark.parametrize("changes,check", [
    ({"mode": "mlm"}, lambda r: "kd" not in r and r["loss"] == pytest.approx(2.0 * r["mlm"], rel=1e-4)),
    ({"mode": "online", "alpha_cos": 1.0},  # DistilBERT's 5 T^2 KD + 2 MLM + 1 cos, at T = 2
     lambda r: r["cos"] > 0 and r["loss"] == pytest.approx(5.0 * 4 * r["kd"] + 2.0 * r["mlm"] + r["cos"], rel=1e-4)),
    ({"confidence": "uniform", "teacher_subset": [1]}, lambda r: r["weight_0"] == 1.0 and "weight_1" not in r),
])
def test_every_mode_trains_with_its_own_loss(cache_dir, tmp_path, changes, check):
    train_student(tiny_config(cache_dir, tmp_path / "m", max_steps=2, eval_steps=2, save_steps=2, **changes))
    assert check(_first_train_line(tmp_path / "m"))


def test_online_students_can_be_initialised_from_a_teacher(cache_dir, tmp_path, tiny_teachers):
    train_student(tiny_config(cache_dir, tmp_path / "o", mode="online", student_from=str(tiny_teachers[0]),
                              max_steps=2, eval_steps=2, save_steps=2))
    student, teacher = (AutoModelForMaskedLM.from_pretrained(p) for p in (tmp_path / "o", tiny_teachers[0]))
    assert student.config.num_hidden_layers == 1
    embeddings = [m.get_input_embeddings().weight.flatten() for m in (student, teacher)]
    assert torch.nn.functional.cosine_similarity(*embeddings, dim=0) > 0.95  # copied, then 2 small steps


def test_a_mixture_cache_trains_with_one_target_and_refuses_teacher_subsets(tmp_path, tiny_teachers, tokenizer):
    teachers, _ = load_teachers([str(p) for p in tiny_teachers])
    texts = mixed_texts(["wordnet"], "train", 48)
    build_cache(tokenize_blocks(texts, tokenizer, 32), tokenizer, teachers, tmp_path / "mix",
                corpus_fingerprint=corpus_fingerprint(texts), shard_size=16, mixture=Mixture())
    tokenizer.save_pretrained(tmp_path / "mix" / "tokenizer")
    train_student(tiny_config(tmp_path / "mix", tmp_path / "s", max_steps=2, eval_steps=2, save_steps=2))
    assert _first_train_line(tmp_path / "s")["weight_0"] == 1.0
    with pytest.raises(CohesiveError, match="teacher_subset needs a cache built with layout=per-teacher"):
        train_student(tiny_config(tmp_path / "mix", tmp_path / "t", teacher_subset=[0]))


def test_kd_on_all_positions_counts_unmasked_tokens_but_mlm_only_masked(cache_dir, tmp_path):
    import torch

    from cohesive.distill.cache import TeacherCache, collate_cached
    from cohesive.distill.mlm import IGNORE
    from cohesive.distill.train import DistillTrainer

    batch = collate_cached([TeacherCache(cache_dir)[0]])
    trainer = DistillTrainer.__new__(DistillTrainer)
    trainer.distill, trainer.special_ids = tiny_config(cache_dir, tmp_path), torch.tensor([0, 100, 101, 102, 103])
    kd = trainer._kd_labels(batch)
    masked = batch["labels"] != IGNORE
    assert torch.equal(kd[masked], batch["labels"][masked])
    visible = batch["input_ids"][~masked]
    special = torch.isin(visible, trainer.special_ids)  # [CLS], [SEP] (also between packed texts)
    assert torch.equal(kd[~masked], torch.where(special, IGNORE, visible))
    assert kd[0, 0] == IGNORE and kd[0, -1] == IGNORE and (~special).sum() > 10


def test_teacher_subset_out_of_range_is_refused(cache_dir, tmp_path):
    with pytest.raises(CohesiveError, match=r"teacher_subset \[7\] must list indices in 0..2"):
        train_student(tiny_config(cache_dir, tmp_path / "x", teacher_subset=[7]))


def test_kd_on_all_positions_needs_online_teachers(cache_dir, tmp_path):
    with pytest.raises(CohesiveError, match="kd_positions=all needs mode=online"):
        train_student(tiny_config(cache_dir, tmp_path / "a", kd_positions="all"))


def test_cache_at_another_temperature_is_refused(cache_dir, tmp_path):
    with pytest.raises(CacheError, match="T=2.0.*T=3.0"):
        train_student(tiny_config(cache_dir, tmp_path / "t", temperature=3.0))


@pytest.mark.slow
def test_two_process_gloo_run_keeps_identical_weights(cache_dir, tmp_path):
    config = tiny_config(cache_dir, tmp_path / "ddp", max_steps=3, eval_steps=3, save_steps=3)
    dump_config(config, tmp_path / "ddp.yaml")
    assert yaml.safe_load((tmp_path / "ddp.yaml").read_text())["batch_size"] == 4
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                             "29533", "-m", "cohesive.cli", "distill", "train", "--config", str(tmp_path / "ddp.yaml")],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    digests = [(tmp_path / "ddp" / f"weights_digest.rank{r}.txt").read_text() for r in (0, 1)]
    assert digests[0] == digests[1]
    state = json.loads((tmp_path / "ddp" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3


def test_curve_keeps_the_last_line_per_step_after_a_resume(tmp_path):
    from cohesive.distill.compare import read_curve

    lines = [{"step": 3, "eval_loss": 9.0, "eval_perplexity": 1.0, "eval_top1": 0.1}, {"step": 4, "loss": 1.0},
             {"step": 6, "eval_loss": 8.0, "eval_perplexity": 1.0, "eval_top1": 0.2},
             {"step": 6, "eval_loss": 7.0, "eval_perplexity": 1.0, "eval_top1": 0.3}]  # re-logged after resume
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines))
    assert [(p["step"], p["eval_loss"]) for p in read_curve(tmp_path / "metrics.jsonl")] == [(3, 9.0), (6, 7.0)]


def test_compare_summarises_seeds_and_repeats_a_seed_exactly(cache_dir, tmp_path):
    import statistics

    from cohesive.distill.compare import DistillCompareConfig, run_compare

    dump_config(tiny_config(cache_dir, tmp_path / "unused", max_steps=4, eval_steps=2, save_steps=4),
                tmp_path / "train.yaml")
    compare = DistillCompareConfig(train_config=tmp_path / "train.yaml", variants=["mlm", "single"], seeds=[1, 2],
                                   students={"tiny": {}}, output_dir=tmp_path / "a", results_dir=tmp_path / "r",
                                   results_name="claim")
    results = run_compare(compare)
    saved = json.loads((tmp_path / "r" / "claim.json").read_text())
    assert saved["max_steps"] == 4 and (tmp_path / "r" / "claim.png").is_file()
    mlm = saved["students"]["tiny"]["mlm"]
    finals = [run["final"]["eval_loss"] for run in mlm["runs"]]
    assert mlm["seeds"] == [1, 2] and finals[0] != finals[1]  # the seed changes the data order
    assert mlm["final_loss_mean"] == pytest.approx(statistics.fmean(finals))
    assert mlm["final_loss_std"] == pytest.approx(statistics.stdev(finals))
    single = saved["students"]["tiny"]["single"]
    assert single["steps_to_single_final"] == next(p["step"] for p in single["curve"]
                                                   if p["eval_loss_mean"] <= single["final_loss_mean"])
    assert results["students"]["tiny"]["mlm"]["curve"] == mlm["curve"]
    assert mlm["final"]["eval_wordnet_top1"]["mean"] == pytest.approx(
        statistics.fmean(run["final"]["eval_wordnet_top1"] for run in mlm["runs"]))
    assert "eval_wordnet_loss_mean" in mlm["curve"][0]
    assert "| tiny | mlm | " in (tmp_path / "r" / "claim.md").read_text().split("per domain")[1]
    again = run_compare(DistillCompareConfig(train_config=tmp_path / "train.yaml", variants=["mlm"], seeds=[1],
                                             students={"tiny": {}}, output_dir=tmp_path / "b",
                                             results_dir=tmp_path / "r2"))
    assert again["students"]["tiny"]["mlm"]["runs"][0]["curve"] == mlm["runs"][0]["curve"]  # same seed, same curve
    assert again["students"]["tiny"]["mlm"]["steps_to_single_final"] is None  # no single-teacher arm ran


def test_compare_skips_finished_runs_and_reruns_stale_ones(cache_dir, tmp_path, monkeypatch):
    from dataclasses import replace as changed

    from cohesive.distill import compare as harness

    dump_config(tiny_config(cache_dir, tmp_path / "unused", max_steps=2, eval_steps=1, save_steps=2),
                tmp_path / "train.yaml")
    config = harness.DistillCompareConfig(train_config=tmp_path / "train.yaml", variants=["mlm"], seeds=[1],
                                          students={"tiny": {}}, output_dir=tmp_path / "a", results_dir=tmp_path / "r")
    first = harness.run_compare(config)
    trained = []
    monkeypatch.setattr(harness, "train_student", _counting(trained, harness.train_student))
    assert harness.run_compare(config)["students"] == first["students"] and trained == []  # finished: read back
    longer = harness.run_compare(changed(config, max_steps=3))  # the budget changed: that run is stale
    assert len(trained) == 1 and [p["step"] for p in longer["students"]["tiny"]["mlm"]["curve"]] == [1, 2, 3]


def _counting(calls: list, function):
    def counted(variant):
        calls.append(variant)
        return function(variant)
    return counted


def test_compare_refuses_unknown_students_options(tmp_path):
    from cohesive.distill.compare import DistillCompareConfig

    with pytest.raises(CohesiveError, match="student 'x': unknown DistillTrainConfig option"):
        DistillCompareConfig(students={"x": {"layers": 2}}).validate()


def test_heldout_metrics_split_by_domain_and_pool_to_the_whole_set(tiny_teachers, tokenizer):
    from cohesive.distill.heldout import heldout_metrics, heldout_set
    from cohesive.distill.mlm import masked_lm_metrics

    heldout = heldout_set(["wordnet", "semcor"], 12, tokenizer, 32)
    (a, b), (c, d) = heldout.spans["wordnet"], heldout.spans["semcor"]
    assert a == 0 and b == c and d == len(heldout) and b > 0 and d > b
    model = load_teachers([str(tiny_teachers[0])])[0][0][1]
    scores = heldout_metrics(model, heldout)
    whole = masked_lm_metrics(model, heldout.input_ids, heldout.labels)
    semcor = masked_lm_metrics(model, heldout.input_ids[c:d], heldout.labels[c:d])
    assert scores["tokens"] == whole["tokens"] and scores["loss"] == pytest.approx(whole["loss"], rel=1e-5)
    assert scores["top1"] == pytest.approx(whole["top1"])
    assert (scores["semcor_loss"], scores["semcor_top1"]) == pytest.approx((semcor["loss"], semcor["top1"]))


def test_teacher_weights_by_domain_average_each_arms_per_token_weights(cache_dir, tmp_path, tiny_teachers, tokenizer):
    from cohesive.distill.compare import arm_mixtures, teacher_weights_by_domain
    from cohesive.distill.heldout import heldout_set
    from cohesive.distill.mlm import masked_lm_outputs
    from cohesive.distill.weighting import confidence_features

    base = tiny_config(cache_dir, tmp_path / "unused", confidence="gold", weighting="normalize")
    assert set(arm_mixtures(base, ["mlm", "single", "uniform", "weighted", "neg-entropy"])) == {"weighted",
                                                                                                "neg-entropy"}
    weights = teacher_weights_by_domain(base, ["uniform", "weighted"])
    assert list(weights) == ["weighted"] and list(weights["weighted"]) == ["wordnet"]
    got = weights["weighted"]["wordnet"]
    assert list(got) == [p.name for p in tiny_teachers] and sum(got.values()) == pytest.approx(1.0)
    heldout = heldout_set(["wordnet"], 6, tokenizer, 32)  # the same set, computed by hand: p_gold / sum p_gold
    teachers = [m for _, m in load_teachers([str(p) for p in tiny_teachers])[0]]
    with torch.no_grad():
        logits = torch.stack([masked_lm_outputs(t, heldout.input_ids, torch.ones_like(heldout.input_ids),
                                                heldout.labels).logits for t in teachers], dim=1)
    gold = heldout.labels[heldout.labels != -100]
    p_gold = confidence_features(logits, gold.unsqueeze(1).expand(-1, 3))["gold_prob"]
    expected = (p_gold / p_gold.sum(dim=1, keepdim=True)).mean(dim=0)
    assert list(got.values()) == pytest.approx(expected.tolist(), rel=1e-4)
