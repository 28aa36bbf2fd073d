"""`cohesive wsd ...` subcommands."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from cohesive.config import cli_overrides, dump_config, load_config
from cohesive.wsd.scorer import Report, score_files

console = Console()


def register(commands: argparse._SubParsersAction) -> None:
    wsd = commands.add_parser("wsd", help="word sense disambiguation").add_subparsers(dest="wsd_command", required=True)

    score = wsd.add_parser("score", help="score a key file against a gold key file (official scorer semantics)")
    score.add_argument("gold", help="gold key file (id key [key ...] per line)")
    score.add_argument("predicted", help="system key file")
    score.add_argument("--json", action="store_true", help="print the full report as JSON")
    score.set_defaults(handler=run_score)

    evaluate = wsd.add_parser("evaluate", help="evaluate baselines, or a trained --model, on the Raganato framework")
    evaluate.add_argument("--model", help="a trained model folder (cohesive wsd train) instead of the baselines")
    evaluate.add_argument("--prior-dev", default="SE07",
                          help="with --model: dev set that tunes the sense-frequency prior ('none': model alone)")
    evaluate.add_argument("--config", help="YAML file of WsdEvalConfig options (configs/wsd_baselines.yaml)")
    evaluate.add_argument("--method", dest="methods", nargs="+", metavar="METHOD",
                          help="first-sense, lesk and/or mfs (SemCor most frequent sense)")
    evaluate.add_argument("--datasets", nargs="+", metavar="NAME", help="SE2 SE3 SE07 SE13 SE15 ALL")
    evaluate.add_argument("--output-dir", help="where key files and results go")
    evaluate.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config option")
    evaluate.set_defaults(handler=run_evaluate)

    from cohesive.wsd import lmgc_commands

    lmgc_commands.register(wsd)


def run_score(args: argparse.Namespace) -> None:
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
    if args.model:
        run_evaluate_model(args)
        return
    from cohesive.lexicon import lexicon
    from cohesive.paths import semcor_prefix
    from cohesive.wsd.baselines import METHODS, build_baseline
    from cohesive.wsd.evaluate import WsdEvalConfig, evaluate_system, results_markdown

    overrides = cli_overrides({"methods": args.methods, "datasets": args.datasets, "output_dir": args.output_dir}, args.set)
    config = load_config(WsdEvalConfig, args.config, overrides)
    unknown = [m for m in config.methods if m not in METHODS]
    if unknown:
        from cohesive.errors import CohesiveError

        raise CohesiveError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    dump_config(config, config.output_dir / "config.yaml")
    lex = lexicon()
    systems = {}
    for method in config.methods:
        system = build_baseline(method, lex, semcor_prefix() if method == "mfs" else None)
        systems[method] = evaluate_system(system.predict, method, config.datasets, config.output_dir)
    table = results_markdown(systems)
    (config.output_dir / "results.md").write_text(table)
    console.print(f"F1 (%) on the Raganato framework; key files under {config.output_dir}/")
    print(table)


def run_evaluate_model(args: argparse.Namespace) -> None:
    """A trained model on the framework: alone and with the prior tuned on the dev set."""
    from pathlib import Path

    from cohesive.wsd.evaluate import DATASET_ORDER, evaluate_model

    if args.methods or args.config or args.set:
        from cohesive.errors import CohesiveError

        raise CohesiveError("--model evaluates a trained model; --method, --config and --set are for the baselines")
    model = Path(args.model)
    output_dir = Path(args.output_dir) if args.output_dir else model / "eval"
    dev = None if args.prior_dev.lower() == "none" else args.prior_dev
    evaluate_model(model, args.datasets or list(DATASET_ORDER), output_dir, dev=dev)
    console.print(f"F1 (%) on the Raganato framework; key files under {output_dir}/")
    print((output_dir / "results.md").read_text())

