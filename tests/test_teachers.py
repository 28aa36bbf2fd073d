"""Teachers: loading rules, held-out evaluation, and a tiny real build."""

import json
from pathlib import Path

import pytest
import torch
from conftest import make_tiny_mlm
from transformers import AutoModelForMaskedLM, BertConfig, BertForMaskedLM, BertTokenizerFast

from cohesive.config import load_config
from cohesive.distill.teachers import (
    TeacherBuildConfig,
    build_domain_teacher,
    evaluate_mlm,
    load_teachers,
    param_groups,
)
from cohesive.errors import CohesiveError

REPO = Path(__file__).resolve().parent.parent


def _custom_vocab_mlm(directory: Path) -> Path:
    """A tiny MLM whose tokenizer has its own 9-token vocabulary."""
    directory.mkdir()
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "."]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(directory)
    BertForMaskedLM(BertConfig(vocab_size=9, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32)).save_pretrained(directory)
    return directory


def test_load_teachers_gives_frozen_models_and_one_tokenizer(tiny_teachers):
    loaded, tokenizer = load_teachers(tiny_teachers[:2])
    assert [name for name, _ in loaded] == [str(p) for p in tiny_teachers[:2]]
    for _, model in loaded:
        assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert tokenizer.mask_token == "[MASK]" and len(tokenizer) == 30522


def test_load_teachers_refuses_differing_vocabularies(tiny_mlm, tmp_path):
    other = _custom_vocab_mlm(tmp_path / "custom")
    with pytest.raises(CohesiveError, match=f"teachers {tiny_mlm} and {other} use different vocabularies"):
        load_teachers([tiny_mlm, other])


def test_load_teachers_refuses_a_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(CohesiveError, match="not a model checkpoint") as error:
        load_teachers([tmp_path])
    assert "\n" not in str(error.value)
    with pytest.raises(CohesiveError, match="no teachers"):
        load_teachers([])


def test_evaluate_mlm_is_repeatable_with_fixed_masks(tiny_mlm, tokenizer):
    model = AutoModelForMaskedLM.from_pretrained(tiny_mlm)
    blocks = torch.randint(1000, 2000, (6, 32))
    blocks[:, 0], blocks[:, -1] = tokenizer.cls_token_id, tokenizer.sep_token_id
    first = evaluate_mlm(model, blocks, tokenizer, seed=7)
    assert first == evaluate_mlm(model, blocks, tokenizer, seed=7)
    assert first["tokens"] > 0 and 0 <= first["top1"] <= 1
    assert first["perplexity"] == pytest.approx(torch.tensor(first["loss"]).exp().item(), rel=1e-5)


def test_head_parameters_get_their_own_rate_but_not_the_tied_decoder(tokenizer):
    model = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=32))
    groups = param_groups(model, lr=1e-4, head_lr=1e-3, weight_decay=0.01)
    head = {id(p) for g in groups if g["lr"] == 1e-3 for p in g["params"]}
    assert id(model.cls.predictions.transform.dense.weight) in head
    assert id(model.get_input_embeddings().weight) not in head
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_config_file_loads():
    cfg = load_config(TeacherBuildConfig, REPO / "configs" / "teachers.yaml")
    assert cfg.domains == ["wordnet", "semcor", "gcide"] and cfg.minilm_steps > 0 and cfg.domain_steps > 0


def test_tiny_domain_teacher_learns_and_reloads(tmp_path, data_root):
    cfg = TeacherBuildConfig(output_dir=tmp_path, seq_len=32, batch_size=8, domain_steps=15, domain_lr=1e-2,
                             domain_layers=1, domain_hidden=32, domain_heads=2, domain_texts=600,
                             eval_texts_per_domain=300, eval_blocks=48, logging_steps=5)
    record = build_domain_teacher("glue", cfg)
    path = tmp_path / "bert-glue"
    assert record["path"] == str(path) and record["steps"] == 15
    assert record["heldout_after"]["loss"] < record["heldout_before"]["loss"] - 0.5
    model = AutoModelForMaskedLM.from_pretrained(path)
    assert model.config.num_hidden_layers == 1 and (path / "model.safetensors").is_file()
    assert json.loads((path / "teacher.json").read_text())["train_fingerprint"] == record["train_fingerprint"]
    assert build_domain_teacher("glue", cfg) == record  # a finished build is reused, not retrained
    loaded, _ = load_teachers([path, make_tiny_mlm(tmp_path / "other", load_teachers([path])[1])])
    assert len(loaded) == 2


def test_an_expert_is_the_general_teacher_fine_tuned_on_its_domain_with_a_heldout_curve(tmp_path, tokenizer, data_root):
    general = make_tiny_mlm(tmp_path / "minilm-mlm", tokenizer)
    (general / "teacher.json").write_text(json.dumps({"name": "minilm-mlm", "steps": 0}))
    cfg = TeacherBuildConfig(output_dir=tmp_path, domain_init="general", seq_len=32, batch_size=8, domain_steps=12,
                             domain_lr=1e-2, domain_texts=600, eval_texts_per_domain=300, eval_blocks=48, eval_steps=4,
                             logging_steps=4)
    record = build_domain_teacher("glue", cfg)
    assert record["name"] == "expert-glue" and record["kind"] == "expert" and record["base"] == str(general)
    assert [p["step"] for p in record["curve"]] == [0, 4, 8, 12]
    assert record["curve"][0]["loss"] == record["heldout_before"]["loss"]  # it starts where the general teacher is
    assert record["curve"][-1]["loss"] == pytest.approx(record["heldout_after"]["loss"])
    assert record["heldout_after"]["loss"] < record["heldout_before"]["loss"] - 0.5
    started = AutoModelForMaskedLM.from_pretrained(general).bert.encoder.layer[0].output.dense.weight
    tuned = AutoModelForMaskedLM.from_pretrained(tmp_path / "expert-glue").bert.encoder.layer[0].output.dense.weight
    assert torch.nn.functional.cosine_similarity(started.flatten(), tuned.flatten(), dim=0) > 0.5  # from it, not new


def test_experts_need_the_general_teacher(tmp_path):
    cfg = TeacherBuildConfig(output_dir=tmp_path, domain_init="general", build_minilm=False)
    with pytest.raises(CohesiveError, match="set build_minilm: true"):
        cfg.validate()
    with pytest.raises(CohesiveError, match="no general teacher in"):
        build_domain_teacher("glue", TeacherBuildConfig(output_dir=tmp_path, domain_init="general"))
    with pytest.raises(CohesiveError, match="unknown domain_init 'nope'"):
        TeacherBuildConfig(domain_init="nope").validate()


def test_results_list_every_teacher_domain_build_time_and_curve(tmp_path):
    from cohesive.distill.teachers import write_results

    def teacher(name, losses, curve):
        return {"name": name, "steps": 10, "train_seconds": 61.4, "tokens_per_second": 420, "curve": curve,
                "heldout": {d: {"loss": loss, "top1": 0.25} for d, loss in zip(("wordnet", "semcor"), losses)}}

    manifest = {"teachers": [teacher("general", (3.0, 4.0), [{"step": 0, "loss": 9.0, "top1": 0.0},
                                                             {"step": 10, "loss": 3.5, "top1": 0.3}]),
                             teacher("expert-wordnet", (2.5, 4.25), [])]}
    write_results(manifest, tmp_path / "r")
    text = (tmp_path / "r" / "teachers.md").read_text()
    assert "| expert-wordnet | 2.50 / 25.0% | 4.25 / 25.0% |" in text
    assert "| general | 10 | 61 | 420 |" in text and "| 10 | 3.500 | 30.0% |" in text
    assert "expert-wordnet: held-out curve" not in text  # no curve recorded, no empty table
    assert json.loads((tmp_path / "r" / "teachers.json").read_text()) == manifest
    assert (tmp_path / "r" / "teachers.png").read_bytes()[:4] == b"\x89PNG"
