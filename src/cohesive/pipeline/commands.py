"""`cohesive run`: the stage graph from one config file (heavy imports only inside the handler, so
`cohesive --help` stays fast); the parser is the CLI's `Parser`, so --help shows the defaults."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="the whole pipeline: teachers -> student -> LMGC-M -> WSD, GLUE, paraphrase -> report")
    run.add_argument("--config", required=True, 
                     help="a pipeline YAML file (configs/cohesive_quick.yaml, configs/cohesive.yaml, ...)")
    run.add_argument("--dry-run", action="store_true", help="print each stage's status (done / stale / todo) and why; run nothing")
    run.add_argument("--only", action="append", metavar="STAGE", help="run only this stage (repeatable); its inputs must have run")
    run.add_argument("--force", action="append", metavar="STAGE", help="redo this stage even if unchanged (repeatable)")
    run.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                     help="override an option of a section (student.max_steps=80) or of the top (output_dir=...)")
    run.set_defaults(handler=run_pipeline)


def run_pipeline(args: argparse.Namespace) -> None:
    from cohesive.pipeline.graph import check_names, execute, plan
    from cohesive.pipeline.stages import build_stages, load_pipeline

    config = load_pipeline(args.config, args.set)
    stages = build_stages(config)
    root = Path(os.path.abspath(config.output_dir))
    force = check_names(stages, args.force or [], "--force")
    only = check_names(stages, args.only, "--only") if args.only else None
    if args.dry_run:
        for step in plan(stages, root, force, only):
            print(step.line())
        return
    execute(stages, root, force, only)
    print(f"report: {config.results_dir / 'report.html'} {config.results_dir / 'report.md'}")
