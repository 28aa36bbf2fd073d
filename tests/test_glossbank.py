"""The gloss-bank bi-encoder: sentence-grouped batches, the disk-cached gloss bank, training with
resume, the small saved delta and its base-weights check."""

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import write_mini_semcor
from safetensors.torch import load_file

from cohesive.corpora.raganato import iter_instances, read_keys
from cohesive.errors import CohesiveError
from cohesive.wsd import train as train_module
from cohesive.wsd.data import Batcher, PairEncoder, sentence_batches
from cohesive.wsd.glossbank import GlossBank, GlossBankEncoder, mean_pool
from cohesive.wsd.inference import load_predictor
from cohesive.wsd.scorer import score_files
from cohesive.wsd.train import train
from cohesive.wsd.types import WsdTrainConfig


@pytest.fixture(scope="module")
def mini_semcor(tmp_path_factory):
    """The first 8 SemCor sentences as a Raganato corpus of their own."""
    return write_mini_semcor(tmp_path_factory.mktemp("corpus") / "mini", 8)


@pytest.fixture(scope="module")
def pairs(mini_semcor, tokenizer, lex):
    encoder = PairEncoder(tokenizer, lex, max_length=64, max_gloss_tokens=24, marker="")
    return encoder.build(iter_instances(mini_semcor), read_keys(f"{mini_semcor}.gold.key.txt"))


def test_mean_pool_averages_only_the_unmasked_states():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]


def test_sentence_batches_keep_sentences_whole_and_cover_every_instance(pairs):
    batches = sentence_batches(pairs, batch_instances=10, seed=0)
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(len(pairs.instance_ids)))
    sentence_of = pairs.instance_context
    for batch in batches:
        for context in set(sentence_of[batch].tolist()):  # every target of a sentence is in the same batch
            assert set(np.flatnonzero(sentence_of == context)) <= set(batch.tolist())
    assert all(len(b) >= 10 for b in batches[:-1])
    assert [b.tolist() for b in sentence_batches(pairs, 10, seed=0)] == [b.tolist() for b in batches]


def test_one_context_pass_per_sentence_equals_one_pass_per_instance(pairs, tiny_mlm, tokenizer):
    model = GlossBankEncoder.create(str(tiny_mlm), lora_rank=4, max_length=64, max_gloss_tokens=24).eval()
    batcher = Batcher(pairs, tokenizer)
    sentence = np.flatnonzero(pairs.instance_context == 0)
    assert len(sentence) > 2
    inputs = batcher.contexts(sentence)
    assert inputs["context_ids"].shape[0] == 1  # all targets of the sentence share one encoded row
    with torch.no_grad():
        grouped = model.context_vectors(**inputs)
        alone = torch.cat([model.context_vectors(**batcher.contexts([i])) for i in sentence])
    torch.testing.assert_close(grouped, alone, atol=1e-5, rtol=1e-5)


def test_a_bank_built_once_and_read_back_equals_fresh_encoding(pairs, tiny_mlm, tokenizer, lex, tmp_path):
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(tiny_mlm)
    pair_encoder = PairEncoder(tokenizer, lex, 64, 24, marker="")
    keys = pairs.gloss_keys[:40]
    bank = GlossBank(encoder, tokenizer, pair_encoder, "sha256:test", root=tmp_path, batch_size=7)
    first = bank.vectors(keys)
    assert len(list(bank.folder.glob("part-*.safetensors"))) == 1
    reread = GlossBank(encoder, tokenizer, pair_encoder, "sha256:test", root=tmp_path)
    assert set(keys) <= set(reread._vectors)  # read from disk, nothing left to encode
    torch.testing.assert_close(reread.vectors(keys), first)
    fresh = bank.encode(keys[::-1]).flip(0)  # other batches, other padding: same vectors
    torch.testing.assert_close(fresh, first, atol=1e-5, rtol=1e-5)
    other = GlossBank(encoder, tokenizer, pair_encoder, "sha256:other-weights", root=tmp_path)
    assert other.folder != bank.folder and not other._vectors  # another base model never reads these vectors


def tiny_config(model, prefix, output_dir, **overrides):
    values = dict(model=str(model), output_dir=output_dir, objective="gloss-bank", train_data=str(prefix),
                  dev=None, datasets=[str(prefix)], max_steps=4, batch_size=8, eval_steps=2, save_steps=2,
                  logging_steps=1, learning_rate=1e-2, max_length=64, max_gloss_tokens=24, lora_rank=4, resume=True)
    return WsdTrainConfig(**{**values, **overrides})


def test_train_predict_score_and_a_small_saved_delta(tiny_mlm, mini_semcor, tmp_path):
    output = tmp_path / "bank"
    summary = train(tiny_config(tiny_mlm, mini_semcor, output, dev=str(mini_semcor), max_steps=6))
    assert summary["steps"] == 6 and 0 <= summary["best_dev_f1"] <= 1
    assert json.loads((output / "wsd_model.json").read_text())["architecture"] == "gloss-bank"
    assert not list(output.glob("model.safetensors")) and (output / "adapter" / "adapter_model.safetensors").is_file()
    predictor = load_predictor(output)
    instances = list(iter_instances(mini_semcor))
    predictions = predictor.predict(instances)
    assert list(predictions) == [i.id for i in instances]
    keys = tmp_path / "mini.key.txt"
    keys.write_text("".join(f"{i} {p.key}\n" for i, p in predictions.items()))
    result = score_files(f"{mini_semcor}.gold.key.txt", str(keys))
    assert result.overall.answered == len(instances)
    assert round(100 * result.overall.f1, 1) == summary["results"]["bank + prior"]["mini"]


def test_the_base_weights_are_checked_at_load(tiny_mlm, mini_semcor, tmp_path):
    output = tmp_path / "bank"
    train(tiny_config(tiny_mlm, mini_semcor, output, max_steps=1))
    meta = json.loads((output / "wsd_model.json").read_text())
    meta["base_digest"] = "sha256:" + "0" * 64
    (output / "wsd_model.json").write_text(json.dumps(meta))
    with pytest.raises(CohesiveError, match="was trained on sha256:0000"):
        load_predictor(output)


def test_resume_after_a_kill_gives_the_uninterrupted_weights(tiny_mlm, mini_semcor, tmp_path, monkeypatch):
    train(tiny_config(tiny_mlm, mini_semcor, tmp_path / "straight"))
    step = train_module.WsdTrainer.training_step

    def killed_after_step_two(self, *args, **kwargs):
        if self.state.global_step == 2:  # checkpoint-2 is on disk: die in the middle of step 3
            raise KeyboardInterrupt
        return step(self, *args, **kwargs)

    monkeypatch.setattr(train_module.WsdTrainer, "training_step", killed_after_step_two)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(tiny_mlm, mini_semcor, tmp_path / "killed"))
    monkeypatch.setattr(train_module.WsdTrainer, "training_step", step)
    with pytest.raises(CohesiveError, match="is being trained, or its training stopped"):
        load_predictor(tmp_path / "killed")  # the killed run's folder is not a finished model
    assert train(tiny_config(tiny_mlm, mini_semcor, tmp_path / "killed"))["steps"] == 4
    assert not (tmp_path / "killed" / "TRAINING").exists()
    for name in ("heads.safetensors", "adapter/adapter_model.safetensors"):
        straight, resumed = load_file(tmp_path / "straight" / name), load_file(tmp_path / "killed" / name)
        assert straight.keys() == resumed.keys()
        for key in straight:
            torch.testing.assert_close(resumed[key], straight[key], atol=0, rtol=0)


def test_a_folder_with_missing_adapter_is_one_clear_error(tiny_mlm, mini_semcor, tmp_path):
    output = tmp_path / "bank"
    train(tiny_config(tiny_mlm, mini_semcor, output, max_steps=1))
    shutil.rmtree(output / "adapter")
    with pytest.raises(CohesiveError, match="incomplete gloss-bank model"):
        load_predictor(output)


def test_sense_offsets_are_learnt_for_gold_senses_saved_and_reloaded(tiny_mlm, mini_semcor, tmp_path):
    output = tmp_path / "bank"
    train(tiny_config(tiny_mlm, mini_semcor, output, max_steps=3, sense_rank=4))
    gold_keys = {k for keys in read_keys(f"{mini_semcor}.gold.key.txt").values() for k in keys}
    codes = load_file(output / "senses.safetensors")["codes"]
    model = GlossBankEncoder.from_pretrained(output)
    assert set(model.sense_keys) == gold_keys and codes.shape == (len(gold_keys), 4) and codes.dtype == torch.float16
    assert model.sense_up.weight.abs().sum() > 0  # trained away from its zero start
    key = sorted(gold_keys)[0]
    bank = torch.randn(2, model.config.hidden_size)
    with torch.no_grad():
        offset = model.gloss_vectors(bank, model.sense_ids([key, "unseen%1:00:00::"]))
        plain = model.gloss_vectors(bank)
    assert not torch.allclose(offset[0], plain[0]) and torch.equal(offset[1], plain[1])  # unseen senses: bank only
    assert load_predictor(output).predict(list(iter_instances(mini_semcor)))


def test_masked_contexts_never_hide_a_target_special_or_padding_token(pairs, tokenizer):
    from cohesive.distill.mlm import IGNORE
    from cohesive.wsd.data import BankCollator, target_tokens

    bank = torch.zeros(len(pairs.gloss_keys), 4)
    collate = BankCollator(pairs, tokenizer, bank, mlm_probability=0.5, seed=3)
    batch = collate(sentence_batches(pairs, batch_instances=10, seed=0))
    plain = BankCollator(pairs, tokenizer, bank)(sentence_batches(pairs, batch_instances=10, seed=0))
    labels, chosen = batch["mlm_labels"], batch["mlm_labels"] != IGNORE
    targets = target_tokens(plain)
    assert targets.sum() >= len(batch["starts"])  # every target owns at least one token
    special = torch.isin(plain["context_ids"], torch.tensor(tokenizer.all_special_ids))
    assert chosen.sum() > 10 and not (chosen & (targets | special | ~plain["context_mask"].bool())).any()
    assert torch.equal(labels[chosen], plain["context_ids"][chosen])  # labels: the original tokens
    assert torch.equal(batch["context_ids"][~chosen], plain["context_ids"][~chosen])
    assert (batch["context_ids"][chosen] == tokenizer.mask_token_id).float().mean() > 0.6  # 80% [MASK]


def test_gloss_bank_m_adds_the_frozen_heads_mlm_loss_and_exports_a_backbone(tiny_mlm, mini_semcor, pairs, tokenizer,
                                                                            tmp_path):
    from transformers import AutoModelForMaskedLM

    from cohesive.wsd.data import BankCollator
    from cohesive.wsd.glossbank import export_backbone

    output = tmp_path / "bank-m"
    train(tiny_config(tiny_mlm, mini_semcor, output, objective="gloss-bank-m", max_steps=3))
    meta = json.loads((output / "wsd_model.json").read_text())
    assert meta["objective"] == "gloss-bank-m"
    model = GlossBankEncoder.from_pretrained(output).eval()
    base = AutoModelForMaskedLM.from_pretrained(tiny_mlm)
    fresh = GlossBankEncoder.create(str(tiny_mlm), lora_rank=4, mlm=True)
    trainable = {name for name, p in fresh.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith(("context_head", "gloss_head", "log_scale")) for n in trainable)
    batch = BankCollator(pairs, tokenizer, torch.randn(len(pairs.gloss_keys), 32), mlm_probability=0.15)(
        sentence_batches(pairs, batch_instances=10, seed=0)[:2])
    with torch.no_grad():
        out = model(**batch)
        unmasked = model(**{k: v for k, v in batch.items() if k != "mlm_labels"})
    assert set(out.parts) == {"bank", "mlm"} and out.parts["mlm"] > 0
    assert out.loss == pytest.approx(float(out.parts["bank"] + out.parts["mlm"]))
    assert unmasked.loss == pytest.approx(float(out.parts["bank"]))  # the same pass, without the MLM term
    exported = export_backbone(output, tmp_path / "backbone")
    backbone = AutoModelForMaskedLM.from_pretrained(exported).eval()
    ids = torch.randint(1000, 2000, (2, 12))
    with torch.no_grad():
        expected = model.context_encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        got = backbone.base_model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        untrained = base.base_model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got, untrained, atol=1e-4)  # the LoRA update is in the exported weights


def test_an_lmgc_backbone_keeps_the_start_mlm_head_and_a_headless_start_exports_a_plain_encoder(
        tiny_mlm, mini_semcor, tmp_path):
    """The forgetting check scores the LMGC arm with the head it started from, as LMGC-M's frozen one."""
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    from cohesive.wsd.glossbank import export_backbone

    train(tiny_config(tiny_mlm, mini_semcor, tmp_path / "bank", max_steps=2))
    with_head = AutoModelForMaskedLM.from_pretrained(export_backbone(tmp_path / "bank", tmp_path / "backbone"))
    start = AutoModelForMaskedLM.from_pretrained(tiny_mlm)
    for name, value in start.cls.state_dict().items():
        torch.testing.assert_close(with_head.cls.state_dict()[name], value)
    headless = tmp_path / "encoder-only"
    AutoModel.from_pretrained(tiny_mlm).save_pretrained(headless)
    AutoTokenizer.from_pretrained(tiny_mlm).save_pretrained(headless)
    train(tiny_config(headless, mini_semcor, tmp_path / "bank-headless", max_steps=2))
    exported = export_backbone(tmp_path / "bank-headless", tmp_path / "backbone-headless")
    assert json.loads((exported / "config.json").read_text())["architectures"] == ["BertModel"]


def test_gloss_bank_m_refuses_a_base_without_an_mlm_head(minilm_path):
    with pytest.raises(CohesiveError, match="no trained masked-LM head, which gloss-bank-m needs"):
        GlossBankEncoder.create(str(minilm_path), lora_rank=4, mlm=True)
