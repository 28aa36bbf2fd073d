"""`cohesive wsd score | evaluate | train | predict | tag`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from cohesive.atomic import staged_dir, write_text
from cohesive.config import cli_overrides, dump_config, load_config
from cohesive.errors import CohesiveError
from cohesive.files import STDIN, check_output_dir, check_output_file, read_text
from cohesive.wsd.types import OBJECTIVES

if TYPE_CHECKING:  # the scorer loads nltk: imported by the commands that score, not at start-up
    from cohesive.wsd.scorer import Report

console = Console()


def register(commands: argparse._SubParsersAction) -> None:
    wsd = commands.add_parser("wsd", help="word sense disambiguation").add_subparsers(dest="wsd_command", required=True)

    score = wsd.add_parser("score", help="score a key file against a gold key file (official scorer semantics)")
    score.add_argument("gold", help="gold key file (id key [key ...] per line)")
    score.add_argument("predicted", help="system key file")
    score.add_argument("--json", action="store_true", help="print the full report as JSON")
    score.set_defaults(handler=run_score)

    evaluate = wsd.add_parser("evaluate", help="evaluate a trained model (default: the shipped one) or, with --method / "
                              "--config, the knowledge-based baselines on the Raganato framework")
    evaluate.add_argument("--model", help="a trained model folder (default: $COHESIVE_WSD_MODEL or the shipped model)")
    evaluate.add_argument("--prior-dev", default="SE07",
                          help="dev set that tunes the sense-frequency prior of a model ('none': model alone)")
    evaluate.add_argument("--save-prior", action="store_true",
                          help="also store the tuned prior in the model folder (changes what it answers later)")
    evaluate.add_argument("--config", help="YAML file of WsdEvalConfig options (configs/wsd_baselines.yaml)")
    evaluate.add_argument("--method", dest="methods", nargs="+", metavar="METHOD",
                          help="first-sense, lesk and/or mfs (SemCor most frequent sense)")
    evaluate.add_argument("--datasets", nargs="+", metavar="NAME", help="SE2 SE3 SE07 SE13 SE15 ALL")
    evaluate.add_argument("--output-dir", help="where key files and results go (models: runs/wsd-eval/MODEL)")
    evaluate.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config option")
    evaluate.set_defaults(handler=run_evaluate)

    register_models(wsd)


def register_models(wsd: argparse._SubParsersAction) -> None:
    train = wsd.add_parser("train", help="train a WSD model on SemCor: LMGC / LMGC-M cross-encoder, BEM or gloss-bank bi-encoder")
    train.add_argument("--config", help="YAML file of WsdTrainConfig options (configs/wsd_default.yaml: the shipped model)")
    train.add_argument("--model", help="encoder to start from: `minilm` or a checkpoint folder")
    train.add_argument("--objective", choices=list(OBJECTIVES))
    train.add_argument("--output-dir", help="where the selected model, checkpoints and results go")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config option")
    train.set_defaults(handler=run_train)

    backbone = wsd.add_parser("backbone", help="write a gloss-bank model's context encoder (LoRA folded in) as a "
                              "plain checkpoint, for GLUE and the held-out MLM check")
    backbone.add_argument("--model", required=True, help="a trained gloss-bank / gloss-bank-m model folder")
    backbone.add_argument("--output", required=True, help="the checkpoint folder to write (replaced whole)")
    backbone.set_defaults(handler=run_backbone)

    predict = wsd.add_parser("predict", help="write a key file for a Raganato dataset with a trained model")
    predict.add_argument("--model", help="trained model folder (default: $COHESIVE_WSD_MODEL or the shipped model)")
    predict.add_argument("prefix", help="SE2 SE3 SE07 SE13 SE15 ALL, or a path prefix (PREFIX.data.xml)")
    predict.add_argument("--output", help="key file (default: runs/wsd-keys/MODEL/NAME.key.txt)")
    predict.add_argument("--batch-pairs", type=int, default=256, help="pairs per forward pass")
    predict.add_argument("--prior-weight", type=float,
                         help="weight of the sense-frequency prior (default: the one tuned with the model; 0 = off)")
    predict.set_defaults(handler=run_predict)

    tag = wsd.add_parser("tag", help="disambiguate every content word of a text or a file")
    tag.add_argument("text", nargs="?", help="the text (quote it), `-` for standard input; or give --file")
    tag.add_argument("--file", help="a UTF-8 text file (`-`: standard input), disambiguated sentence by sentence "
                                    "with a progress bar")
    tag.add_argument("--model", help="trained model folder (default: $COHESIVE_WSD_MODEL or the shipped model)")
    tag.add_argument("--json", action="store_true", help="print JSON instead of a table")
    tag.set_defaults(handler=run_tag)


def run_score(args: argparse.Namespace) -> None:
    from cohesive.wsd.scorer import score_files

    result = score_files(args.gold, args.predicted)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return
    print_report(result)


def print_report(result: Report) -> None:
    table = Table("subset", "P", "R", "F1", "gold", "answered")
    rows = [("overall", result.overall)] + list(result.by_dataset.items()) + [(f"POS {k}", v) for k, v in result.by_pos.items()]
    for name, s in rows:
        table.add_row(name, f"{100 * s.precision:.1f}", f"{100 * s.recall:.1f}", f"{100 * s.f1:.1f}", str(s.gold), str(s.answered))
    console.print(table)


def run_evaluate(args: argparse.Namespace) -> None:
    if args.model or not (args.methods or args.config or args.set):
        run_evaluate_model(args)
        return
    from cohesive.wsd.types import BASELINES, WsdEvalConfig

    overrides = cli_overrides({"methods": args.methods, "datasets": args.datasets, "output_dir": args.output_dir}, args.set)
    config = load_config(WsdEvalConfig, args.config, overrides)
    if not config.methods:
        raise CohesiveError(f"no method to evaluate; choose from {', '.join(BASELINES)}")
    unknown = [m for m in config.methods if m not in BASELINES]
    if unknown:
        raise CohesiveError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(BASELINES)}")
    from cohesive.lexicon import lexicon  # heavy imports only once the options are known to be right
    from cohesive.paths import semcor_prefix
    from cohesive.wsd.baselines import build_baseline
    from cohesive.wsd.evaluate import evaluate_system, results_markdown

    lex = lexicon()
    systems = {}
    with staged_dir(config.output_dir) as staging:
        for method in config.methods:
            system = build_baseline(method, lex, semcor_prefix() if method == "mfs" else None)
            systems[method] = evaluate_system(system.predict, method, config.datasets, staging)
        table = results_markdown(systems)
        write_text(staging / "results.md", table)
        dump_config(config, staging / "config.yaml")
    console.print(f"F1 (%) on the Raganato framework; key files under {config.output_dir}/")
    print(table)


def run_evaluate_model(args: argparse.Namespace) -> None:
    """A trained model on the framework: alone and with the prior tuned on the dev set."""
    from cohesive.wsd.evaluate import evaluate_model, model_name
    from cohesive.wsd.inference import default_model
    from cohesive.wsd.types import DATASET_ORDER

    if args.methods or args.config or args.set:
        raise CohesiveError("--model evaluates a trained model; --method, --config and --set are for the baselines")
    model = Path(args.model) if args.model else default_model()
    output_dir = Path(args.output_dir) if args.output_dir else Path("runs/wsd-eval") / model_name(model)
    dev = None if args.prior_dev.lower() == "none" else args.prior_dev
    check_output_dir(output_dir)
    with staged_dir(output_dir) as staging:
        evaluate_model(model, args.datasets or list(DATASET_ORDER), staging, dev=dev, save_prior=args.save_prior)
    console.print(f"F1 (%) on the Raganato framework; key files under {output_dir}/")
    print((output_dir / "results.md").read_text())


def run_train(args: argparse.Namespace) -> None:
    from cohesive.wsd.train import train
    from cohesive.wsd.types import WsdTrainConfig

    overrides = cli_overrides({"model": args.model, "objective": args.objective, "output_dir": args.output_dir},
                              args.set)
    summary = train(load_config(WsdTrainConfig, args.config, overrides))
    selected = "" if summary["best_dev_f1"] is None else f"best dev F1 {100 * summary['best_dev_f1']:.1f}, "
    console.print(f"{selected}{summary['train_seconds']:.0f} s of training on {summary['pairs']} pairs; "
                  f"F1: {summary['results']}")


def run_backbone(args: argparse.Namespace) -> None:
    from cohesive.wsd.glossbank import export_backbone, read_meta

    read_meta(Path(args.model))  # not a gloss-bank folder: one line, before anything loads
    console.print(f"wrote {export_backbone(args.model, Path(args.output))}")


def run_predict(args: argparse.Namespace) -> None:
    from cohesive.corpora.raganato import gold_path, read_gold
    from cohesive.paths import wsd_prefix
    from cohesive.wsd.evaluate import model_name
    from cohesive.wsd.inference import check_prior_weight, default_model, load_predictor, predict_to_file
    from cohesive.wsd.scorer import report

    check_prior_weight(args.prior_weight)  # the cheap checks first
    prefix = wsd_prefix(args.prefix)
    model = Path(args.model) if args.model else default_model()
    output = Path(args.output) if args.output else Path("runs/wsd-keys") / model_name(model) / f"{prefix.name}.key.txt"
    check_output_file(output)
    predictions = predict_to_file(load_predictor(model, args.batch_pairs, args.prior_weight), prefix, output)
    console.print(f"{len(predictions)} answers written to {output}")
    if gold_path(prefix).is_file():
        print_report(report(read_gold(prefix), {i: [p.key] for i, p in predictions.items()}))


def run_tag(args: argparse.Namespace) -> None:
    from cohesive.wsd.disambiguate import disambiguate

    tags = disambiguate(read_text_argument(args), model=args.model, progress=bool(args.file))
    if args.json:
        print(json.dumps([t.as_dict() for t in tags], indent=2))
        return
    table = Table("token", "lemma", "POS", "sense key", "synset", "P", "gloss")
    for t in tags:
        table.add_row(t.token, t.lemma, t.pos, t.key, t.synset, f"{t.probability:.2f}", t.gloss)
    console.print(table)


def read_text_argument(args: argparse.Namespace) -> str:
    """The text of `wsd tag`: the argument, or the UTF-8 contents of --file (exactly one of them);
    `-` for either reads standard input."""
    if (args.text is None) == (args.file is None):
        raise CohesiveError("give the text to tag or --file FILE (one of them)")
    if args.text is not None and args.text != STDIN:
        return args.text
    return read_text(args.file or STDIN)
