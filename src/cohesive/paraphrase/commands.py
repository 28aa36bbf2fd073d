"""`cohesive paraphrase build|train|calibrate|evaluate|compare` and `cohesive detect FILE`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cohesive.config import cli_overrides, dump_config, load_config, parse_overrides


def _stage(parser: argparse.ArgumentParser, handler) -> None:
    parser.add_argument("--config", help="a YAML file of options (e.g. from configs/); without it, the defaults")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config option")
    parser.set_defaults(handler=handler)


def register(commands: argparse._SubParsersAction) -> None:
    paraphrase = commands.add_parser("paraphrase", help="machine-paraphrase detection: corpus, detectors, evaluation")
    stages = paraphrase.add_subparsers(dest="paraphrase_command", required=True)
    _stage(stages.add_parser("build", help="originals per domain + spinner and mask-and-fill paraphrases (JSONL)"),
           run_build)
    train = stages.add_parser("train", help="train one detector on the training cell, threshold on validation")
    train.add_argument("--kind", help="tfidf-lr | tfidf-svm | embed-lr | finetune")
    train.add_argument("--model", help="encoder for embed-lr / finetune (minilm, a folder, a hub id)")
    train.add_argument("--output-dir", help="where the detector is saved")
    _stage(train, run_train)
    _stage(stages.add_parser("calibrate", help="refit a word-level detector's paragraph aggregate and threshold on a "
                             "validation split (weights unchanged)"), run_calibrate)
    evaluate = stages.add_parser("evaluate", help="macro-F1 and recall at 1%% FPR per domain x generator cell")
    evaluate.add_argument("--detectors", nargs="+", metavar="DIR", help="trained detector folders")
    _stage(evaluate, run_evaluate)

    _stage(stages.add_parser("compare", help="one detector recipe on several backbones x seeds, every test cell, "
                             "differences from the first backbone"), run_compare)

    detect = commands.add_parser("detect", help="score each paragraph of a text file for machine paraphrase")
    detect.add_argument("file", type=Path, help="a UTF-8 text file (`-`: standard input); paragraphs are "
                                                "separated by blank lines")
    detect.add_argument("--detector", type=Path, help="a trained detector folder (default: the shipped "
                        "word-level detector)")
    detect.add_argument("--json", action="store_true", help="print the report as JSON")
    detect.add_argument("--html", type=Path, metavar="OUT", help="also write an HTML report highlighting flagged paragraphs")
    detect.add_argument("--window", type=int, default=200, help="words per window for long paragraphs (default 200)")
    detect.add_argument("--stride", type=int, default=100, help="words between window starts (default 100)")
    detect.add_argument("--threshold", type=float, help="flag at this probability (0-1) instead of the detector's own")
    detect.add_argument("--max-words", type=int, default=100_000, help="refuse longer documents (default 100000)")
    detect.set_defaults(handler=run_detect)


def run_build(args: argparse.Namespace) -> None:
    from cohesive.paraphrase.corpus import ParaphraseCorpusConfig, build_corpus, cells_markdown

    config = load_config(ParaphraseCorpusConfig, args.config, parse_overrides(args.set))
    manifest = build_corpus(config)
    dump_config(config, config.output_dir / "build.yaml")
    print(cells_markdown(manifest))
    print(f"corpus: {config.output_dir}")


def run_train(args: argparse.Namespace) -> None:
    from cohesive.paraphrase.train import DetectorTrainConfig, train_detector

    flags = {"kind": args.kind, "model": args.model, "output_dir": args.output_dir}
    config = load_config(DetectorTrainConfig, args.config, cli_overrides(flags, args.set))
    summary = train_detector(config)
    dump_config(config, config.output_dir / "train.yaml")
    print(json.dumps(summary, indent=2))


def run_calibrate(args: argparse.Namespace) -> None:
    from cohesive.paraphrase.train import DetectorCalibrateConfig, calibrate_detector

    config = load_config(DetectorCalibrateConfig, args.config, parse_overrides(args.set))
    print(json.dumps(calibrate_detector(config), indent=2))


def run_evaluate(args: argparse.Namespace) -> None:
    from cohesive.paraphrase.evaluate import ParaphraseEvalConfig, evaluate_detectors, results_markdown

    config = load_config(ParaphraseEvalConfig, args.config, cli_overrides({"detectors": args.detectors}, args.set))
    print(results_markdown(evaluate_detectors(config)))
    print(f"results: {config.results_dir}")


def run_compare(args: argparse.Namespace) -> None:
    from cohesive.paraphrase.compare import BackboneCompareConfig, compare_backbones, report_markdown

    config = load_config(BackboneCompareConfig, args.config, parse_overrides(args.set))
    report = compare_backbones(config)
    dump_config(config, (config.results_dir or config.output_dir) / "compare.yaml")
    print(report_markdown(report))
    print(f"results: {config.results_dir or config.output_dir}")


def run_detect(args: argparse.Namespace) -> None:
    from cohesive.files import check_output_file
    from cohesive.paraphrase.scan import report_html, report_text, scan_document, write_report

    if args.html:
        check_output_file(args.html)
    report = scan_document(args.file, args.detector, args.window, args.stride, args.threshold, args.max_words)
    if args.html:
        write_report(args.html, report_html(report))
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else report_text(report))
