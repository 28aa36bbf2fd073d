"""The `cohesive` command line. Each part of the architecture registers its own subcommands."""

from __future__ import annotations

import argparse
import logging
import sys

from cohesive import __version__
from cohesive.errors import CohesiveError


class DefaultsFormatter(argparse.HelpFormatter):
    """Every option's help shows its default when it has a real one (not None/False) and does not say it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not action.option_strings or action.default in (None, False, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """The parser class of every (sub)command, so that all of them show their defaults."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    from cohesive.distill import commands as distill_commands
    from cohesive.nlu import commands as nlu_commands
    from cohesive.paraphrase import commands as paraphrase_commands
    from cohesive.pipeline import commands as pipeline_commands
    from cohesive.serve import commands as serve_commands
    from cohesive.wsd import cli as wsd_commands

    parser = Parser(prog="cohesive", description=__doc__)
    parser.add_argument("--version", action="version", version=f"cohesive {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show transformers' load reports and warnings")
    commands = parser.add_subparsers(dest="command", required=True)
    wsd_commands.register(commands)
    distill_commands.register(commands)
    nlu_commands.register(commands)
    paraphrase_commands.register(commands)
    serve_commands.register(commands)
    pipeline_commands.register(commands)
    return parser


def quiet_transformers() -> None:
    """transformers' per-load reports, weight-loading bars and the libraries' deprecation notices
    (FutureWarning, meant for developers) drown the results and the one-line errors on a terminal."""
    import warnings

    from transformers.utils import logging as hf_logging

    warnings.filterwarnings("ignore", category=FutureWarning)

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes print one line and exit 2, an interrupt (at any moment, imports
    included) one line and exit 130; bugs keep their traceback. `-v` may stand anywhere."""
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        print("cohesive: interrupted", file=sys.stderr)
        return 130


def _run(argv: list[str]) -> int:
    verbose = any(a in ("-v", "--verbose") for a in argv)
    argv = [a for a in argv if a not in ("-v", "--verbose")]
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    if not verbose:
        quiet_transformers()
    try:
        args.handler(args)
    except CohesiveError as exc:
        print(f"cohesive: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
