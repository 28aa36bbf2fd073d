"""`cohesive nlu ...` subcommands: GLUE fine-tuning of one model, or a models x tasks suite."""

from __future__ import annotations

import argparse

from cohesive.config import cli_overrides, dump_config, load_config

MODEL_HELP = "`minilm`, a checkpoint folder (e.g. an LMGC model) or a hub id; NAME=PATH names it in tables"


def register(commands: argparse._SubParsersAction) -> None:
    from cohesive.corpora.glue import TASKS

    nlu = commands.add_parser("nlu", help="GLUE fine-tuning on the dev sets").add_subparsers(
        dest="nlu_command", required=True)

    finetune = nlu.add_parser("finetune", help="fine-tune one model on one GLUE task over several seeds")
    finetune.add_argument("--model", help=MODEL_HELP)
    finetune.add_argument("--task", help=f"one of {', '.join(TASKS)}")
    finetune.add_argument("--output-dir", help="runs go to OUTPUT_DIR/<model>/<task>/seed<k>")
    finetune.add_argument("--config", default="configs/nlu.yaml", help="YAML options (default configs/nlu.yaml)")
    finetune.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config option")
    finetune.set_defaults(handler=run_finetune)

    suite = nlu.add_parser("suite", help="every model on every task: results.md, results.json, results.png")
    suite.add_argument("--models", nargs="+", metavar="MODEL", help=MODEL_HELP)
    suite.add_argument("--tasks", nargs="+", metavar="TASK", help=f"from {', '.join(TASKS)}")
    suite.add_argument("--output-dir", help="runs go to OUTPUT_DIR/<model>/<task>/seed<k>")
    suite.add_argument("--config", help="YAML options (e.g. configs/nlu_forgetting.yaml)")
    suite.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config option")
    suite.set_defaults(handler=run_suite)


def run_finetune(args: argparse.Namespace) -> None:
    from cohesive.nlu.finetune import NluConfig, finetune, metrics_markdown, run_dir

    overrides = cli_overrides({"model": args.model, "task": args.task, "output_dir": args.output_dir}, args.set)
    config = load_config(NluConfig, args.config, overrides)
    config.validate()
    summary = finetune(config)
    dump_config(config, run_dir(config) / "nlu.yaml")  # only once the runs it describes are done
    print(metrics_markdown([summary]), end="")
    print(f"results: {run_dir(config) / 'results.md'}")


def run_suite(args: argparse.Namespace) -> None:
    from cohesive.nlu.suite import SuiteConfig, results_markdown
    from cohesive.nlu.suite import run_suite as suite

    overrides = cli_overrides({"models": args.models, "tasks": args.tasks, "output_dir": args.output_dir}, args.set)
    config = load_config(SuiteConfig, args.config, overrides)
    config.validate()
    target = config.results_dir or config.output_dir
    report = suite(config)
    dump_config(config, target / "nlu_suite.yaml")  # only once the results it describes are written
    print(results_markdown(report), end="")
    print(f"results: {target / 'results.md'} {target / 'results.json'} {target / 'results.png'}")
