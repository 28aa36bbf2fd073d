"""`cohesive teachers ...` and `cohesive distill ...` subcommands."""

from __future__ import annotations

import argparse
import json

from cohesive.config import cli_overrides, load_config, parse_overrides


def _stage(parser: argparse.ArgumentParser, handler) -> None:
    parser.add_argument("--config", help="a YAML file of options (e.g. from configs/); without it, the defaults")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config option")
    parser.set_defaults(handler=handler)


def register(commands: argparse._SubParsersAction) -> None:
    teachers = commands.add_parser("teachers", help="build the offline teacher MLMs").add_subparsers(
        dest="teachers_command", required=True)
    _stage(teachers.add_parser("build", help="MiniLM with a fitted MLM head + small BERTs per text domain"),
           run_teachers_build)

    distill = commands.add_parser("distill", help="multi-teacher MLM distillation").add_subparsers(
        dest="distill_command", required=True)
    _stage(distill.add_parser("cache", help="run every teacher once over the masked corpus; store sparse top-k"),
           run_cache)
    _stage(distill.add_parser("train", help="train a student from the cache (or online teachers, or plain MLM)"),
           run_train)
    evaluate = distill.add_parser("evaluate", help="held-out MLM loss/perplexity/top-1 of several models, same masks")
    evaluate.add_argument("--models", nargs="+", metavar="MODEL", help="MLM checkpoints (teachers, students, LMGC models)")
    evaluate.add_argument("--output", help="write JSON (and .md beside it) here")
    _stage(evaluate, run_evaluate)
    _stage(distill.add_parser("compare", help="MLM only vs best single vs uniform vs confidence-weighted teachers"),
           run_compare)


def run_teachers_build(args: argparse.Namespace) -> None:
    from cohesive.distill.teachers import TeacherBuildConfig, build_teachers

    config = load_config(TeacherBuildConfig, args.config, parse_overrides(args.set))
    print(json.dumps(build_teachers(config), indent=2))


def run_cache(args: argparse.Namespace) -> None:
    from cohesive.distill.cache import DistillCacheConfig, build_cache_stage

    config = load_config(DistillCacheConfig, args.config, parse_overrides(args.set))
    print(build_cache_stage(config))


def run_train(args: argparse.Namespace) -> None:
    from cohesive.distill.train import DistillTrainConfig, train_student

    config = load_config(DistillTrainConfig, args.config, parse_overrides(args.set))
    print(json.dumps(train_student(config), indent=2))


def run_evaluate(args: argparse.Namespace) -> None:
    from cohesive.distill.heldout import MlmEvalConfig, evaluate_models, results_markdown

    config = load_config(MlmEvalConfig, args.config,
                         cli_overrides({"models": args.models, "output": args.output}, args.set))
    print(results_markdown(evaluate_models(config)))


def run_compare(args: argparse.Namespace) -> None:
    from cohesive.distill.compare import DistillCompareConfig, results_markdown
    from cohesive.distill.compare import run_compare as compare

    config = load_config(DistillCompareConfig, args.config, parse_overrides(args.set))
    results = compare(config)
    print(results_markdown(results))
    print(f"curves: {config.results_dir / (config.results_name + '.png')}")
