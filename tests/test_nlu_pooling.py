"""Mean-pooling classifier, the GLUE reference rows (majority class, zero-shot STS-B cosine) and the
harness options that make fine-tuning fast."""

import math

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from cohesive.corpora.glue import read_split
from cohesive.errors import CohesiveError
from cohesive.nlu.finetune import NluConfig, OrderedEvalTrainer, training_arguments
from cohesive.nlu.pooling import BiEncoderClassifier, MeanPoolClassifier, PairCollator, mean_pool
from cohesive.nlu.reference import cosine_similarities, majority_baseline
from cohesive.nlu.suite import reference_rows


def test_mean_pool_of_a_hand_made_two_token_batch():
    states = torch.tensor([[[1.0, 2.0], [3.0, 6.0]],
                           [[5.0, -1.0], [7.0, 9.0]]])
    mask = torch.tensor([[1, 1], [1, 0]])  # the second row's second token is padding
    assert torch.equal(mean_pool(states, mask), torch.tensor([[2.0, 4.0], [5.0, -1.0]]))


@pytest.fixture(scope="module")
def classifier(tiny_mlm):
    torch.manual_seed(0)
    return MeanPoolClassifier.from_backbone(str(tiny_mlm), 2, regression=False).eval()


def test_padding_does_not_change_the_pooled_vector_or_the_logits(classifier, tokenizer):
    alone = tokenizer(["the bank of the river"], return_tensors="pt")
    padded = tokenizer(["the bank of the river", "a much longer sentence that forces padding on the first row"],
                       padding=True, return_tensors="pt")
    assert padded["attention_mask"][0].sum() < padded["attention_mask"].shape[1]
    with torch.no_grad():
        pooled_alone = mean_pool(classifier.encoder(**alone).last_hidden_state, alone["attention_mask"])
        pooled_padded = mean_pool(classifier.encoder(**padded).last_hidden_state, padded["attention_mask"])
        logits_alone, logits_padded = classifier(**alone).logits, classifier(**padded).logits
    torch.testing.assert_close(pooled_padded[0], pooled_alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits_padded[0], logits_alone[0], atol=1e-5, rtol=1e-5)


def test_losses_regression_mse_and_classification_cross_entropy(tiny_mlm, tokenizer):
    batch = tokenizer(["one", "two words"], padding=True, return_tensors="pt")
    torch.manual_seed(0)
    regressor = MeanPoolClassifier.from_backbone(str(tiny_mlm), 1, regression=True).eval()
    output = regressor(**batch, labels=torch.tensor([1.0, 4.0]))
    assert output.logits.shape == (2, 1)
    assert output.loss.item() == pytest.approx(((output.logits[:, 0] - torch.tensor([1.0, 4.0])) ** 2).mean().item())
    with pytest.raises(CohesiveError, match="one output"):
        MeanPoolClassifier.from_backbone(str(tiny_mlm), 2, regression=True)


def test_save_and_load_give_identical_logits(classifier, tokenizer, tmp_path):
    classifier.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors", "head.safetensors", "head.json"} <= {p.name for p in tmp_path.iterdir()}
    loaded = MeanPoolClassifier.from_pretrained(tmp_path).eval()
    batch = tokenizer(["a river bank", "money in the bank of england"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(loaded(**batch).logits, classifier(**batch).logits)
    with pytest.raises(CohesiveError, match="head.json"):
        MeanPoolClassifier.from_pretrained(tmp_path / "missing")


def test_bi_encoder_pairs_padded_apart_scored_by_scaled_cosine_and_reloaded(tiny_mlm, tokenizer, tmp_path):
    torch.manual_seed(0)
    model = BiEncoderClassifier.from_backbone(str(tiny_mlm), 1, regression=True, label_scale=5.0).eval()
    first, second = tokenizer(["a bank", "the river"]), tokenizer(["a bank by the river in spring", "water"])
    rows = [{**{k: first[k][i] for k in first.keys()}, **{f"{k}_b": second[k][i] for k in second.keys()},
             "labels": float(i)} for i in range(2)]
    batch = PairCollator(tokenizer)(rows)
    assert batch["input_ids"].shape[1] < batch["input_ids_b"].shape[1] and batch["labels"].tolist() == [0.0, 1.0]
    with torch.no_grad():
        scores = model(**batch).logits[:, 0]
        u = mean_pool(model.encoder(**tokenizer(["a bank"], return_tensors="pt")).last_hidden_state, torch.ones(1, 4))
        v = model.encoder(**tokenizer(["a bank by the river in spring"], return_tensors="pt")).last_hidden_state.mean(1)
    assert scores[0].item() == pytest.approx(5 * torch.nn.functional.cosine_similarity(u, v).item(), abs=1e-5)
    model.save_pretrained(tmp_path)
    loaded = MeanPoolClassifier.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, BiEncoderClassifier) and loaded.label_scale == 5.0
    with torch.no_grad():
        assert torch.equal(loaded(**batch).logits, model(**batch).logits)


def test_bi_encoder_fine_tune_end_to_end_and_old_runs_count_as_cross(tmp_path, tiny_mlm, data_root):
    import json

    from cohesive.nlu.finetune import finetune, run_dir

    config = NluConfig(model=str(tiny_mlm), task="stsb", output_dir=tmp_path, seeds=[1], max_train_examples=16,
                       max_steps=1, batch_size=8, pair_encoding="bi")
    summary = finetune(config)
    assert set(summary["metrics"]) == {"pearson", "spearman"}
    options = run_dir(config) / "seed1" / "options.json"
    assert json.loads(options.read_text())["pair_encoding"] == "bi"
    recorded = json.loads(options.read_text())
    del recorded["pair_encoding"]  # a run recorded before the option existed was a cross-encoder
    options.write_text(json.dumps(recorded))
    with pytest.raises(CohesiveError, match="pair_encoding: 'cross' -> 'bi'"):
        finetune(config)
    with pytest.raises(CohesiveError, match="pooling: mean"):
        NluConfig(pooling="cls", pair_encoding="bi").validate()


def test_zero_shot_cosine_on_real_stsb_rows_matches_a_hand_computation(minilm_path, data_root):
    rows = read_split("stsb", "dev")[:4]
    model, tokenizer = AutoModel.from_pretrained(minilm_path).eval(), AutoTokenizer.from_pretrained(minilm_path)

    def vector(text):  # one sentence at a time: no padding, a plain mean over its tokens
        with torch.no_grad():
            return model(**tokenizer(text, return_tensors="pt")).last_hidden_state[0].mean(dim=0).numpy()

    expected = [float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
                for a, b in ((vector(r.text_a), vector(r.text_b)) for r in rows)]
    assert cosine_similarities(minilm_path, rows) == pytest.approx(expected, abs=1e-5)


def test_majority_baselines_from_the_dev_label_distribution(data_root):
    rte = [e.label for e in read_split("rte", "dev")]
    assert majority_baseline("rte")["accuracy"] == pytest.approx(max(rte.count(0), rte.count(1)) / len(rte))
    mrpc = [e.label for e in read_split("mrpc", "dev")]
    positive = sum(mrpc) / len(mrpc)  # the majority (paraphrase) class: precision = its share, recall 1
    assert majority_baseline("mrpc") == pytest.approx({"f1": 2 * positive / (1 + positive), "accuracy": positive})
    assert majority_baseline("cola") == {"mcc": 0.0}
    with pytest.raises(CohesiveError, match="regression"):
        majority_baseline("stsb")


def test_reference_rows_in_the_table():
    refs = {"majority": {"rte": {"accuracy": 0.527}}, "zero_shot_stsb": {"minilm": {"spearman": 0.8672}}}
    assert reference_rows(refs, ["stsb", "rte"]) == ["| majority class (dev) | — | 52.7 | — |",
                                                     "| minilm: zero-shot cosine, no training | 86.7 | — | — |"]


def test_pooling_and_length_grouping_options(tmp_path):
    with pytest.raises(CohesiveError, match="pooling"):
        NluConfig(pooling="max").validate()
    with pytest.raises(CohesiveError, match="threads"):
        NluConfig(threads=0).validate()
    assert training_arguments(NluConfig(), 1, tmp_path).train_sampling_strategy == "group_by_length"
    assert training_arguments(NluConfig(group_by_length=False), 1, tmp_path).train_sampling_strategy == "random"


def test_predictions_come_back_in_dataset_order_under_length_grouping(classifier, tokenizer, tmp_path):
    """transformers 5 length-groups evaluation batches too; scores must still line up with the labels."""
    from transformers import DataCollatorWithPadding

    texts = ["a", "a much longer sentence with many more tokens in it than the others", "two words",
             "a sentence of medium length here", "b", "another fairly long sentence about the bank of the river"]
    rows = [dict(tokenizer(t)) for t in texts]
    args = training_arguments(NluConfig(eval_batch_size=2), 1, tmp_path)
    trainer = OrderedEvalTrainer(model=classifier, args=args, data_collator=DataCollatorWithPadding(tokenizer),
                                 processing_class=tokenizer)
    with torch.no_grad():
        expected = torch.cat([classifier(**tokenizer(t, return_tensors="pt")).logits for t in texts]).numpy()
    np.testing.assert_allclose(trainer.predict(rows).predictions, expected, atol=1e-5)


@pytest.mark.slow
def test_a_short_stsb_fine_tune_beats_an_untrained_head(minilm_path, data_root):
    """MiniLM under a new regression head: 96 STS-B training rows move the dev correlation well
    above where the random head starts."""
    from cohesive.nlu.metrics import spearman

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    model = MeanPoolClassifier.from_backbone(minilm_path, 1, regression=True)
    train, dev = read_split("stsb", "train")[:96], read_split("stsb", "dev")[:200]

    def batch(rows):
        return tokenizer([r.text_a for r in rows], [r.text_b for r in rows], padding=True, return_tensors="pt")

    def dev_spearman():
        model.eval()
        with torch.no_grad():
            scores = model(**batch(dev)).logits[:, 0].tolist()
        return spearman(scores, [r.label for r in dev])

    before = dev_spearman()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    for _ in range(2):
        for start in range(0, len(train), 16):
            rows = train[start:start + 16]
            loss = model(**batch(rows), labels=torch.tensor([r.label for r in rows])).loss
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
    after = dev_spearman()
    assert not math.isnan(after) and after > before + 0.2


def test_suite_tables_hold_the_references_and_each_task_as_it_finishes(tmp_path, tiny_mlm, data_root, monkeypatch):
    """A suite killed in its second task has already written the first task's scores and the reference rows."""
    import json

    from cohesive.nlu import suite as suite_module
    from cohesive.nlu.suite import SuiteConfig, run_suite

    real_finetune = suite_module.finetune

    def killed_in_rte(config):
        if config.task == "rte":
            raise KeyboardInterrupt
        return real_finetune(config)

    monkeypatch.setattr(suite_module, "finetune", killed_in_rte)
    config = SuiteConfig(models=[f"tiny={tiny_mlm}"], tasks=["stsb", "rte"], output_dir=tmp_path, seeds=[1],
                         max_train_examples=16, max_steps=1, batch_size=8, threads=1)
    with pytest.raises(KeyboardInterrupt):
        run_suite(config)
    report = json.loads((tmp_path / "results.json").read_text())
    assert list(report["results"]["tiny"]) == ["stsb"]
    assert set(report["references"]["zero_shot_stsb"]["tiny"]) == {"pearson", "spearman"}
    table = (tmp_path / "results.md").read_text()
    assert "| majority class (dev) | — | 52.7 | — |" in table
    assert "| tiny: zero-shot cosine, no training |" in table and table.count("…") == 2  # RTE cell, GLUE avg.
