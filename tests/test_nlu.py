"""GLUE harness: official metrics, task readers on the real files, tiny fine-tunes end to end, resume."""

import json
import math
import os
import re
import shutil

import pytest

from cohesive.cli import main
from cohesive.corpora.glue import read_split, split_path, task_spec
from cohesive.errors import CohesiveError, DataError
from cohesive.models import model_label
from cohesive.nlu import finetune as finetune_module
from cohesive.nlu.finetune import FinetuneOptions, NluConfig, finetune, shared_options, train_loss
from cohesive.nlu.metrics import accuracy, f1, mcc, pearson, spearman, task_metrics
from cohesive.nlu.suite import GLUE_AVERAGE_NOTE, SuiteConfig, glue_average, results_markdown, with_measured

# --- metrics -------------------------------------------------------------------------------------


def test_classification_metrics_match_hand_computed_values():
    # 2 x 2 table: TP 3, FN 1, FP 2, TN 4
    labels = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    predictions = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]
    assert accuracy(predictions, labels) == pytest.approx(7 / 10)
    assert f1(predictions, labels) == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert mcc(predictions, labels) == pytest.approx((3 * 4 - 2 * 1) / math.sqrt((3 + 2) * (3 + 1) * (4 + 2) * (4 + 1)))
    assert mcc([1, 1, 1], [1, 0, 1]) == 0.0  # a constant prediction has no correlation


def test_correlations_match_hand_computed_values():
    # x deviations -2.5 -1.5 -0.5 4.5, y deviations -1.5 0.5 -0.5 1.5: cov 10, sums of squares 29 and 5
    assert pearson([0, 1, 2, 7], [1, 3, 2, 4]) == pytest.approx(10 / math.sqrt(29 * 5))
    # ranks 1 2 3 4 vs 1 3 2 4: one swapped pair, sum d^2 = 2, rho = 1 - 6 * 2 / (4 * 15)
    assert spearman([0, 1, 2, 7], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert pearson([2, 2, 2], [1, 2, 3]) == 0.0


def test_task_metrics_are_the_official_ones():
    assert set(task_metrics("cola", [1, 0], [1, 0])) == {"mcc"}
    assert set(task_metrics("mrpc", [1, 0], [1, 0])) == {"f1", "accuracy"}
    # deviations -4/3 -5/6 13/6 and -1 0 1: cov 7/2, sums of squares 43/6 and 2; the ranks agree
    assert task_metrics("stsb", [0.5, 1.0, 4.0], [1.0, 2.0, 3.0]) == {
        "pearson": pytest.approx(3.5 / math.sqrt(43 / 6 * 2)), "spearman": pytest.approx(1.0)}
    assert {t: task_spec(t).main_metric for t in ("cola", "sst2", "mrpc", "stsb", "rte", "wnli")} == {
        "cola": "mcc", "sst2": "accuracy", "mrpc": "f1", "stsb": "spearman", "rte": "accuracy", "wnli": "accuracy"}


# --- readers -------------------------------------------------------------------------------------

ROWS = {"cola": (8551, 1043), "sst2": (67349, 872), "mrpc": (3668, 408), "stsb": (5749, 1500), "rte": (2490, 277),
        "wnli": (635, 71)}
FIRST_DEV = {
    "cola": ("The sailors rode the breeze clear of the rocks.", None, 1),
    "sst2": ("it 's a charming and often affecting journey .", None, 1),
    "mrpc": ("He said the foodservice pie business doesn 't fit the company 's long-term growth strategy .",
             '" The foodservice pie business does not fit our long-term growth strategy .', 1),
    "stsb": ("A man with a hard hat is dancing.", "A man wearing a hard hat is dancing.", 5.0),
    "rte": ("Dana Reeve, the widow of the actor Christopher Reeve, has died of lung cancer at age 44, according to the "
            + "Christopher Reeve Foundation.", "Christopher Reeve had an accident.", 1),  # label 1: not_entailment
    "wnli": ("The drain is clogged with hair. It has to be cleaned.", "The hair has to be cleaned.", 0),
}


@pytest.mark.parametrize("task", sorted(ROWS))
def test_each_reader_on_the_real_files(data_root, task):
    train, dev = read_split(task, "train"), read_split(task, "dev")
    assert (len(train), len(dev)) == ROWS[task]
    first = dev[0]
    assert (first.text_a, first.text_b, first.label) == FIRST_DEV[task]
    spec = task_spec(task)
    labels = {e.label for e in train + dev}
    if spec.is_regression:
        assert min(labels) == 0.0 and max(labels) == 5.0
    else:
        assert labels == set(range(len(spec.labels)))
    assert all(e.text_a and (e.text_b is None) == (len(spec.text_columns) == 1) for e in train + dev)


def test_task_names_are_forgiving_and_unknown_ones_listed():
    assert task_spec("SST-2").name == "sst2" and task_spec("STS-B").name == "stsb" and task_spec("CoLA").name == "cola"
    with pytest.raises(DataError, match="unknown GLUE task 'squad'; choose from cola, sst2"):
        task_spec("squad")


def test_mnli_qqp_qnli_read_in_their_glue_formats(tmp_path, monkeypatch):
    monkeypatch.setenv("COHESIVE_DATA", str(tmp_path))
    files = {
        "MNLI/dev_matched.tsv": "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
        "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n"
        "0\t1\t1n\tslate\t(x)\t(y)\t(X)\t(Y)\tThe new rights are \"nice\".\tEveryone hates it.\tneutral\tneutral\t"
        "neutral\tneutral\tcontradiction\tneutral\n",
        "QQP/train.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t1\t2\tWhy?\tHow?\t0\n2\t3\t4\ttruncated\n"
        "3\t5\t6\tWhat is 2+2?\tWhat's 2 + 2?\t1\n",
        "QNLI/dev.tsv": "index\tquestion\tsentence\tlabel\n0\tWho?\tHe did.\tentailment\n",
    }
    for name, text in files.items():
        (tmp_path / "glue" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "glue" / name).write_text(text)
    [mnli] = read_split("mnli", "dev")
    assert (mnli.text_a, mnli.text_b, mnli.label) == ('The new rights are "nice".', "Everyone hates it.", 2)
    assert [(e.text_a, e.label) for e in read_split("qqp", "train")] == [("Why?", 0), ("What is 2+2?", 1)]
    assert read_split("qnli", "dev")[0].label == 0


def test_missing_task_data_names_the_expected_path(tmp_path, monkeypatch):
    monkeypatch.setenv("COHESIVE_DATA", str(tmp_path))
    expected = tmp_path / "glue" / "RTE" / "train.tsv"
    assert split_path("rte", "train") == expected
    with pytest.raises(DataError, match=re.escape(str(expected)) + " not found.*make data"):
        read_split("rte", "train")
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "glue" / "MNLI" / "dev_matched.tsv"))):
        read_split("mnli", "dev")


def test_malformed_rows_and_labels_name_the_line(tmp_path, monkeypatch):
    monkeypatch.setenv("COHESIVE_DATA", str(tmp_path))
    (tmp_path / "glue" / "RTE").mkdir(parents=True)
    path = tmp_path / "glue" / "RTE" / "dev.tsv"
    path.write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\tmaybe\n")
    with pytest.raises(DataError, match=re.escape(f"{path}:3: label 'maybe'")):
        read_split("rte", "dev")
    path.write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\n")
    with pytest.raises(DataError, match=re.escape(f"{path}:2: 3 columns")):
        read_split("rte", "dev")


# --- fine-tuning ---------------------------------------------------------------------------------

TINY = ["--set", "max_train_examples=16", "--set", "max_steps=1", "--set", "batch_size=8", "--set", "save_steps=1"]


@pytest.fixture(scope="module")
def lmgc_folder(tmp_path_factory, tiny_mlm):
    """What `cohesive wsd train` writes: the MLM backbone, the tokenizer, pair_head.safetensors, wsd_model.json."""
    from transformers import AutoTokenizer

    from cohesive.wsd.modeling import LmgcModel

    folder = tmp_path_factory.mktemp("lmgc") / "forget-lmgc-m"
    LmgcModel.from_pretrained(str(tiny_mlm), objective="lmgc-m", pair_head="linear").save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(tiny_mlm)).save_pretrained(folder)
    return folder


def test_suite_end_to_end_through_the_cli(capsys, tmp_path, tiny_mlm, lmgc_folder, data_root):
    runs, results = tmp_path / "runs", tmp_path / "results"
    code = main(["nlu", "suite", "--models", f"tiny={tiny_mlm}", str(lmgc_folder), "--tasks", "rte", "stsb",
                 "--output-dir", str(runs), "--set", f"results_dir={results}", "--set", "seeds=[1]", *TINY])
    out = capsys.readouterr().out
    assert code == 0
    assert {p.name for p in results.iterdir()} == {"results.json", "results.md", "results.png", "nlu_suite.yaml"}
    report = json.loads((results / "results.json").read_text())
    assert report["models"] == ["tiny", "forget-lmgc-m"] and report["tasks"] == ["rte", "stsb"]
    rte = report["results"]["forget-lmgc-m"]["rte"]
    assert rte["main_metric"] == "accuracy" and rte["seeds"] == [1] and rte["train_examples"] == [16]
    assert 0 <= rte["metrics"]["accuracy"]["mean"] <= 1 and rte["dev_examples"] == 277
    table = (results / "results.md").read_text()
    assert "| model | RTE acc. | STS-B Spearman | GLUE avg. |" in table and "| forget-lmgc-m |" in table
    assert GLUE_AVERAGE_NOTE in table
    assert "at most 16 training examples" in table and table.split("\n")[0] in out
    seed = runs / "tiny" / "stsb" / "seed1"
    assert json.loads((seed / "result.json").read_text())["steps"] == 1
    assert not (seed / "checkpoints").exists() and not (seed / "model").exists()
    assert (results / "results.png").read_bytes()[:4] == b"\x89PNG"


def test_finetune_over_seeds_then_rerun_skips_finished_seeds(capsys, tmp_path, tiny_mlm, data_root, monkeypatch):
    argv = ["nlu", "finetune", "--model", str(tiny_mlm), "--task", "cola", "--output-dir", str(tmp_path),
            "--set", "seeds=[1,2]", *TINY]
    assert main(argv) == 0
    summary = json.loads((tmp_path / tiny_mlm.name / "cola" / "results.json").read_text())
    assert summary["seeds"] == [1, 2] and len(summary["metrics"]["mcc"]["values"]) == 2
    assert "| CoLA | MCC |" in capsys.readouterr().out

    def no_training(*args, **kwargs):
        raise AssertionError("a finished seed was trained again")

    monkeypatch.setattr(finetune_module, "SeedRunner", no_training)
    assert main(argv) == 0
    assert json.loads((tmp_path / tiny_mlm.name / "cola" / "results.json").read_text()) == summary
    saved_config = (tmp_path / tiny_mlm.name / "cola" / "nlu.yaml").read_text()
    assert main([*argv, "--set", "learning_rate=1e-3"]) == 2
    assert "was run with other options (learning_rate: 5e-05 -> 0.001)" in capsys.readouterr().err
    assert (tmp_path / tiny_mlm.name / "cola" / "nlu.yaml").read_text() == saved_config  # a refused rerun keeps it


def test_a_model_retrained_in_place_reruns_its_stale_seeds(capsys, tmp_path, tiny_mlm, data_root):
    model = shutil.copytree(tiny_mlm, tmp_path / "model")
    argv = ["nlu", "finetune", "--model", str(model), "--task", "wnli", "--output-dir", str(tmp_path / "runs"),
            "--set", "seeds=[1]", *TINY]
    assert main(argv) == 0
    options_path = tmp_path / "runs" / "model" / "wnli" / "seed1" / "options.json"
    options = json.loads(options_path.read_text())
    assert options["model_fingerprint"].startswith("sha256:")
    capsys.readouterr()
    weights = model / "model.safetensors"
    (options_path.parent / "result.json").write_text(json.dumps({"planted": "an old score"}))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # "retrained"
    assert main(argv) == 0  # the stale seed ran again on the new weights
    rerun = json.loads(options_path.read_text())
    assert rerun["model_fingerprint"] != options["model_fingerprint"]
    assert "planted" not in json.loads((options_path.parent / "result.json").read_text())
    options = rerun
    del options["model_fingerprint"]  # a seed written before fingerprints were recorded
    options_path.write_text(json.dumps(options))
    assert main(argv) == 2
    assert "before model fingerprints were recorded" in capsys.readouterr().err


def test_train_loss_after_a_resume_covers_the_logged_and_the_resumed_steps():
    assert train_loss([{"loss": 9.0, "step": 20}], None, 1.23456, 64) == (1.2346, 64)
    history = [{"loss": 2.0, "step": 20}, {"loss": 1.0, "step": 40}, {"loss": 0.7, "step": 60},
               {"train_loss": 0.5, "step": 64}]
    # resumed at 50: steps 1-40 from the logs, 51-64 from the resumed session; 41-50 unknown
    assert train_loss(history, 50, 0.5, 64) == (round((2.0 * 20 + 1.0 * 20 + 0.5 * 14) / 54, 4), 54)
    assert train_loss(history[:2], 40, 0.0, 40) == (1.5, 40)  # killed while scoring: nothing left to train
    assert train_loss([], 4, 0.0, 4) == (None, 0)


def test_an_interrupted_seed_resumes_from_its_checkpoint(tmp_path, tiny_mlm, data_root, monkeypatch):
    from transformers import Trainer

    config = NluConfig(model=str(tiny_mlm), task="wnli", output_dir=tmp_path, seeds=[3], max_train_examples=32,
                       max_steps=4, batch_size=4, save_steps=1)
    step = Trainer.training_step

    def killed_in_step_3(self, *args, **kwargs):
        if self.state.global_step == 2:
            raise KeyboardInterrupt
        return step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", killed_in_step_3)
    with pytest.raises(KeyboardInterrupt):
        finetune(config)
    seed = tmp_path / tiny_mlm.name / "wnli" / "seed3"
    assert not (seed / "result.json").exists()
    assert [p.name for p in (seed / "checkpoints").iterdir()] == ["checkpoint-2"]
    monkeypatch.setattr(Trainer, "training_step", step)
    finetune(config)
    result = json.loads((seed / "result.json").read_text())
    assert result["resumed_from_step"] == 2 and result["steps"] == 4
    assert result["train_seconds"] is None and result["train_loss_steps"] == 2 and result["train_loss"] > 0
    assert not (seed / "checkpoints").exists()


def test_model_names():
    assert model_label("minilm") == ("minilm", "minilm")
    assert model_label("base=runs/teachers/minilm-mlm") == ("base", "runs/teachers/minilm-mlm")
    assert model_label("org/some-model") == ("some-model", "org/some-model")


@pytest.mark.parametrize("argv,needle", [
    (["nlu", "finetune", "--task", "squad"], "unknown GLUE task 'squad'"),
    (["nlu", "suite", "--models", "minilm", "--tasks", "rte", "mnli"], "glue/MNLI/train.tsv not found"),
    (["nlu", "finetune", "--model", "/nonexistent/model"], "no such model folder: '/nonexistent/model'"),
    (["nlu", "suite", "--models", "a/x", "b/x"], "models share the name(s) x"),
    (["nlu", "finetune", "--set", "seeds=[]"], "no seeds configured"),
])
def test_bad_input_is_one_line_exit_2(capsys, data_root, tmp_path, argv, needle):
    assert main([*argv, "--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cohesive: error:") and needle in err[0], err
    assert not any(tmp_path.iterdir())


def test_a_model_that_cannot_be_loaded_stops_the_suite_before_training(capsys, data_root, tmp_path, tiny_mlm,
                                                                        monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(finetune_module, "SeedRunner", no_training)
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    runs = tmp_path / "runs"
    code = main(["nlu", "suite", "--models", str(tiny_mlm), str(not_a_model), "--tasks", "rte",
                 "--output-dir", str(runs), *TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("cohesive: error: cannot load"), err
    assert str(not_a_model) in err[0] and not runs.exists()


def _summary(model: str, task: str, main_metric: str, **means: float) -> dict:
    return {"model": model, "task": task, "main_metric": main_metric,
            "metrics": {name: {"mean": mean, "std": 0.0, "values": [mean]} for name, mean in means.items()}}


def test_glue_average_takes_each_tasks_metric_mean_then_the_task_mean():
    by_task = {"mrpc": _summary("m", "mrpc", "f1", f1=0.9, accuracy=0.7),
               "stsb": _summary("m", "stsb", "spearman", pearson=0.6, spearman=0.5),
               "cola": _summary("m", "cola", "mcc", mcc=0.35)}
    tasks = ["mrpc", "stsb", "cola"]
    # (0.8 + 0.55 + 0.35) / 3, not the mean of the main metrics (0.9 + 0.5 + 0.35) / 3
    assert glue_average(by_task, tasks) == pytest.approx(1.7 / 3)
    report = {"models": ["m"], "tasks": tasks, "options": shared_options(FinetuneOptions()), "results": {"m": by_task}}
    table = results_markdown(report)
    assert "| model | MRPC F1 | STS-B Spearman | CoLA MCC | GLUE avg. |" in table
    assert "| m | 90.0 | 50.0 | 35.0 | 56.7 |" in table and GLUE_AVERAGE_NOTE in table  # one seed: no spread
    by_task["cola"]["metrics"]["mcc"] = {"mean": 0.35, "std": 0.02, "values": [0.33, 0.37]}
    assert "| m | 90.0 | 50.0 | 35.0 ± 2.0 | 56.7 |" in results_markdown(report)


def _earlier_report(path, **option_changes):
    """An earlier suite's results.json: model `old` on RTE and STS-B, with a zero-shot reference."""
    options = {**shared_options(FinetuneOptions(seeds=[1])), **option_changes}
    report = {"models": ["old"], "tasks": ["rte", "stsb"], "options": options,
              "results": {"old": {"rte": _summary("old", "rte", "accuracy", accuracy=0.6),
                                  "stsb": _summary("old", "stsb", "spearman", pearson=0.8, spearman=0.7)}},
              "references": {"zero_shot_stsb": {"old": {"pearson": 0.5, "spearman": 0.4}}}}
    path.write_text(json.dumps(report))
    return path


def test_measured_rows_join_the_table_before_the_new_ones(tmp_path):
    config = SuiteConfig(models=["new"], tasks=["rte"], seeds=[1], measured=[_earlier_report(tmp_path / "r.json")])
    report = {"models": ["new"], "tasks": ["rte"], "options": shared_options(config),
              "results": {"new": {"rte": _summary("new", "rte", "accuracy", accuracy=0.55)}}, "references": {}}
    merged = with_measured(report, config)
    assert merged["models"] == ["old", "new"] and list(merged["results"]["old"]) == ["rte"]  # STS-B is not asked for
    table = results_markdown(merged)
    assert "| old | 60.0 | 60.0 |" in table and "| new | 55.0 | 55.0 |" in table
    assert table.index("| old |") < table.index("| new |")
    assert f"Rows old: measured earlier with the same options and seeds, read from `{tmp_path / 'r.json'}`." in table


def test_measured_zero_shot_reference_joins_the_stsb_column(tmp_path):
    config = SuiteConfig(models=["new"], tasks=["stsb"], seeds=[1], measured=[_earlier_report(tmp_path / "r.json")])
    report = {"models": ["new"], "tasks": ["stsb"], "options": shared_options(config), "results": {"new": {}},
              "references": {"majority": {}, "zero_shot_stsb": {"new": {"pearson": 0.9, "spearman": 0.85}}}}
    table = results_markdown(with_measured(report, config))
    assert "| old: zero-shot cosine, no training | 40.0 | — |" in table
    assert table.index("| old: zero-shot") < table.index("| new: zero-shot")


@pytest.mark.parametrize("changes, tasks, needle", [
    ({"learning_rate": 1e-4}, ["rte"], "fine-tuned with other options (learning_rate)"),
    ({"seeds": [1, 2]}, ["rte"], "has seeds [1, 2], this suite [1]"),
    ({}, ["rte", "cola"], "has no cola: run those tasks in models instead"),
])
def test_a_measured_report_that_would_not_compare_is_refused(tmp_path, changes, tasks, needle):
    config = SuiteConfig(models=["new"], tasks=tasks, seeds=[1], measured=[_earlier_report(tmp_path / "r.json", **changes)])
    report = {"models": ["new"], "tasks": tasks, "options": shared_options(config), "results": {"new": {}}}
    with pytest.raises(CohesiveError, match=re.escape(needle)):
        with_measured(report, config)


def test_measured_rows_differing_only_in_neutral_options_are_accepted(tmp_path):
    earlier = _earlier_report(tmp_path / "r.json", threads=4, output_dir="elsewhere", save_steps=7)
    config = SuiteConfig(models=["new"], tasks=["rte"], seeds=[1], measured=[earlier])
    report = {"models": ["new"], "tasks": ["rte"], "options": shared_options(config), "results": {"new": {}}}
    assert with_measured(report, config)["models"] == ["old", "new"]


def test_a_measured_model_named_like_a_new_one_is_refused(capsys, tmp_path, tiny_mlm, data_root):
    earlier = _earlier_report(tmp_path / "r.json")
    code = main(["nlu", "suite", "--models", f"old={tiny_mlm}", "--tasks", "rte", "--output-dir", str(tmp_path / "runs"),
                 "--set", "seeds=[1]", "--set", f"measured=[{earlier}]"])
    assert code == 2
    assert "model name(s) old appear in more than one measured report or in models" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_missing_data_through_the_cli_names_the_path(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COHESIVE_DATA", str(tmp_path / "data"))
    assert main(["nlu", "finetune", "--task", "rte", "--output-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"cohesive: error: {tmp_path / 'data' / 'glue' / 'RTE' / 'train.tsv'} not found; set " \
                  "$COHESIVE_DATA or run `make data` (GLUE layout: docs/DATA.md)"


def test_lmgc_folder_loads_as_a_classification_backbone(lmgc_folder):
    from transformers import AutoModelForSequenceClassification

    model, info = AutoModelForSequenceClassification.from_pretrained(
        str(lmgc_folder), num_labels=3, trust_remote_code=False, output_loading_info=True)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert {k for k in info["missing_keys"] if not k.startswith(("classifier.", "bert.pooler."))} == set()
