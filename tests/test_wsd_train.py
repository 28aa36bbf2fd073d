"""LMGC / LMGC-M models, cross-encoder prediction, and a tiny train -> predict -> score run."""

import argparse
import itertools
import json

import pytest
import torch
from conftest import write_mini_semcor
from transformers import BertConfig, BertForPreTraining, BertModel

from cohesive.corpora.raganato import iter_instances, read_keys
from cohesive.errors import CohesiveError
from cohesive.paths import wsd_prefix
from cohesive.wsd.data import PairCollator, PairEncoder
from cohesive.wsd.inference import CrossEncoder, load_predictor
from cohesive.wsd.modeling import LmgcModel
from cohesive.wsd.scorer import score_files
from cohesive.wsd.train import train
from cohesive.wsd.types import WsdTrainConfig


def pair_batch(tokenizer, lex, mlm_probability=0.0, max_length=64):
    instances = list(itertools.islice(iter_instances(wsd_prefix("SE07")), 3))
    pairs = PairEncoder(tokenizer, lex, max_length=max_length, max_gloss_tokens=24).build(instances, {})
    items = [pairs[i] for i in range(min(len(pairs), 12))]
    return PairCollator(tokenizer, mlm_probability, seed=0)(items)


def test_lmgc_m_loss_is_the_sum_of_its_parts(tiny_mlm, tokenizer, lex):
    model = LmgcModel.from_pretrained(tiny_mlm, objective="lmgc-m").eval()
    batch = pair_batch(tokenizer, lex, mlm_probability=0.15)
    out = model(**batch)
    assert set(out.parts) == {"pair", "mlm"}
    torch.testing.assert_close(out.loss, out.parts["pair"] + out.parts["mlm"])
    # each part recomputed independently: classification alone, and HF's own full-vocabulary MLM loss
    pair_only = model(**{k: v for k, v in batch.items() if k != "mlm_labels"})
    torch.testing.assert_close(out.parts["pair"], pair_only.loss)
    reference = model.backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                               token_type_ids=batch["token_type_ids"], labels=batch["mlm_labels"])
    torch.testing.assert_close(out.parts["mlm"], reference.loss)


def test_lmgc_ignores_mlm_labels(tiny_mlm, tokenizer, lex):
    model = LmgcModel.from_pretrained(tiny_mlm, objective="lmgc").eval()
    out = model(**pair_batch(tokenizer, lex, mlm_probability=0.15))
    assert set(out.parts) == {"pair"}


def test_nsp_head_is_the_pair_classifier_and_adds_no_parameter(tmp_path, tokenizer):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertForPreTraining(config).save_pretrained(tmp_path)
    model = LmgcModel.from_pretrained(tmp_path, objective="lmgc-m").eval()
    assert model.pair_head_kind == "nsp" and model.classifier is None
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in model.backbone.parameters())
    ids = torch.tensor([[101, 2000, 102, 3000, 102]])
    nsp = model.backbone(input_ids=ids).seq_relationship_logits
    torch.testing.assert_close(model(ids, torch.ones_like(ids)).logits, nsp.flip(-1))  # index 1 = match = IsNext


def test_a_model_without_mlm_head_cannot_do_lmgc_m():
    config = BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32)
    with pytest.raises(CohesiveError, match="LMGC-M needs a masked-LM head") as error:
        LmgcModel(BertModel(config), objective="lmgc-m")
    assert "\n" not in str(error.value)
    assert LmgcModel(BertModel(config), objective="lmgc").classifier is not None  # plain LMGC works


def test_bad_options_are_clear_errors(tiny_mlm):
    with pytest.raises(CohesiveError, match="unknown pair_head"):
        LmgcModel.from_pretrained(tiny_mlm, pair_head="pooler")
    with pytest.raises(CohesiveError, match="no such model folder"):
        LmgcModel.from_pretrained("./no/such/folder")
    with pytest.raises(CohesiveError, match="cannot load model 'nosuchorg/nosuchmodel'"):
        LmgcModel.from_pretrained("nosuchorg/nosuchmodel")  # a hub id; offline in the tests
    with pytest.raises(CohesiveError, match="no next-sentence head"):
        LmgcModel.from_pretrained(tiny_mlm).__class__(LmgcModel.from_pretrained(tiny_mlm).backbone, pair_head="nsp")
    with pytest.raises(CohesiveError, match="unknown objective"):
        WsdTrainConfig(objective="glossbert").validate()


def test_save_and_reload_give_the_same_scores(tiny_mlm, tokenizer, lex, tmp_path):
    model = LmgcModel.from_pretrained(tiny_mlm, objective="lmgc-m", max_length=64).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    again = LmgcModel.from_pretrained(tmp_path).eval()
    assert (again.objective, again.pair_head_kind, again.max_length) == ("lmgc-m", "linear", 64)
    batch = pair_batch(tokenizer, lex)
    torch.testing.assert_close(model(**batch).logits, again(**batch).logits)


def test_exactly_one_sense_per_instance(tiny_mlm, tokenizer, lex):
    instances = list(itertools.islice(iter_instances(wsd_prefix("SE07")), 40))
    predictor = CrossEncoder(LmgcModel.from_pretrained(tiny_mlm).eval(), tokenizer, lex, batch_pairs=32)
    predictions = predictor.predict(instances)
    assert list(predictions) == [i.id for i in instances]
    for instance in instances:
        answer = predictions[instance.id]
        assert answer.key in {s.key for s in lex.senses(instance.lemma, instance.pos)}
        assert 0 < answer.probability <= 1


@pytest.fixture(scope="module")
def mini_semcor(tmp_path_factory):
    """The first 6 SemCor sentences as a Raganato corpus of their own."""
    return write_mini_semcor(tmp_path_factory.mktemp("corpus") / "mini", 6)


def tiny_config(model, prefix, output_dir, objective, **overrides):
    values = dict(model=str(model), output_dir=output_dir, objective=objective, train_data=str(prefix),
                  dev=str(prefix), datasets=[str(prefix)], max_steps=8, batch_size=8, eval_steps=4, save_steps=4,
                  logging_steps=2, learning_rate=1e-3, max_length=64, max_gloss_tokens=24, resume=False)
    return WsdTrainConfig(**{**values, **overrides})


def test_tiny_train_predict_score(tiny_mlm, mini_semcor, tmp_path, capsys):
    from cohesive.wsd import cli as wsd_cli

    parser = argparse.ArgumentParser()
    wsd_cli.register_models(parser.add_subparsers())
    output = tmp_path / "lmgc-m"
    options = {"train_data": mini_semcor, "dev": mini_semcor, "datasets": f"[{mini_semcor}]", "max_steps": 8,
               "batch_size": 8, "eval_steps": 6, "save_steps": 4, "learning_rate": 1e-3, "max_length": 64,
               "max_gloss_tokens": 24, "negatives_per_positive": 2, "resume": False}
    args = parser.parse_args(["train", "--model", str(tiny_mlm), "--objective", "lmgc-m", "--output-dir", str(output)]
                             + [a for k, v in options.items() for a in ("--set", f"{k}={v}")])
    args.handler(args)
    assert "best dev F1" in capsys.readouterr().out
    summary = json.loads((output / "summary.json").read_text())
    assert summary["steps"] == 8 and summary["positives"] == summary["instances"]
    assert 0 <= summary["best_dev_f1"] <= 1 and json.loads((output / "best.json").read_text())["step"] in (6, 8)
    assert json.loads((output / "wsd_model.json").read_text())["architecture"] == "cross-encoder"
    assert (output / "eval" / "results.md").is_file()
    # the saved model is an ordinary masked-LM checkpoint too
    from transformers import AutoModelForMaskedLM

    assert AutoModelForMaskedLM.from_pretrained(output).config.vocab_size == 30522

    keys = tmp_path / "mini.key.txt"
    args = parser.parse_args(["predict", "--model", str(output), str(mini_semcor), "--output", str(keys)])
    args.handler(args)
    assert "answers written" in capsys.readouterr().out
    gold = read_keys(f"{mini_semcor}.gold.key.txt")
    assert set(read_keys(keys)) == set(gold)  # one answer for every instance
    result = score_files(f"{mini_semcor}.gold.key.txt", str(keys))
    assert result.overall.answered == len(gold) and result.overall.f1 > 0
    # predict applies the prior tuned on dev and saved with the model, as the "+ prior" row did
    assert json.loads((output / "prior.json").read_text())["dev"] == str(mini_semcor)
    assert round(100 * result.overall.f1, 1) == summary["results"]["lmgc-m + prior"]["mini"]

    from cohesive.cli import main

    assert main(["wsd", "evaluate", "--model", str(output), "--datasets", str(mini_semcor), "--prior-dev", "none",
                 "--output-dir", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    assert list(again) == ["lmgc-m"]  # no dev set: the model alone
    assert round(100 * again["lmgc-m"]["mini"]["overall"]["f1"], 1) == summary["results"]["lmgc-m"]["mini"]
    assert main(["wsd", "evaluate", "--model", str(output), "--method", "lesk"]) == 2


def test_tiny_biencoder_train_and_predict(tiny_mlm, mini_semcor, tmp_path):
    output = tmp_path / "bem"
    summary = train(tiny_config(tiny_mlm, mini_semcor, output, "bem", max_steps=4, batch_size=4, dev=None,
                                negatives_per_positive=2, instance_share=0.5))
    assert summary["best_dev_f1"] is None and summary["results"]["bem"]["mini"] > 0
    assert not (output / "prior.json").exists()  # no dev set, no tuned prior
    predictor = load_predictor(output)
    instances = list(iter_instances(mini_semcor))
    predictions = predictor.predict(instances)
    assert list(predictions) == [i.id for i in instances]
    assert predictor.predict(instances) == predictions  # cached gloss vectors give the same answers


def test_a_folder_that_is_no_model_is_a_clear_error(tmp_path):
    with pytest.raises(CohesiveError, match="not a trained WSD model"):
        load_predictor(tmp_path)


def test_cli_train_without_dev_selection_reports_f1(tiny_mlm, mini_semcor, tmp_path, capsys):
    from cohesive.wsd import cli as wsd_cli

    parser = argparse.ArgumentParser()
    wsd_cli.register_models(parser.add_subparsers())
    options = {"train_data": mini_semcor, "dev": "null", "datasets": f"[{mini_semcor}]", "max_steps": 2,
               "batch_size": 8, "max_length": 64, "max_gloss_tokens": 24, "resume": False}
    args = parser.parse_args(["train", "--model", str(tiny_mlm), "--output-dir", str(tmp_path / "m")]
                             + [a for k, v in options.items() for a in ("--set", f"{k}={v}")])
    args.handler(args)
    out = capsys.readouterr().out
    assert "best dev F1" not in out and "F1:" in out
    assert json.loads((tmp_path / "m" / "summary.json").read_text())["best_dev_f1"] is None


def test_a_resumed_run_follows_its_new_eval_interval_and_evaluates_at_the_end(tiny_mlm, mini_semcor, tmp_path):
    output = tmp_path / "resumed"
    train(tiny_config(tiny_mlm, mini_semcor, output, "lmgc", max_steps=2, eval_steps=5, save_steps=2))
    train(tiny_config(tiny_mlm, mini_semcor, output, "lmgc", max_steps=6, eval_steps=3, save_steps=2,
                      resume=True))
    state = json.loads((output / "checkpoints" / "checkpoint-6" / "trainer_state.json").read_text())
    evaluated = [e["step"] for e in state["log_history"] if "eval_dev_f1" in e]
    assert evaluated == [2, 3, 6]  # HF alone would keep the checkpoint's interval (5) and skip the end
