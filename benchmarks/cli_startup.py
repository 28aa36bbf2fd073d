"""How fast `cohesive` answers when no model runs: help, version and a user mistake.

Each command runs in a fresh process `--runs` times; the table gives the median wall time and the
exit code. Heavy libraries (torch, transformers) must be imported only by the commands that use
them, so these answers should take about a second (issue 12).

    python benchmarks/cli_startup.py            # writes results/cli_startup.md
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "cohesive --help": ["--help"],
    "cohesive --version": ["--version"],
    "cohesive wsd evaluate --help": ["wsd", "evaluate", "--help"],
    "cohesive serve --help": ["serve", "--help"],
    "config error (unknown option)": ["wsd", "evaluate", "--method", "first-sense", "--set", "bogus=1"],
    "argument error (unknown method)": ["wsd", "evaluate", "--method", "magic"],
}
TARGET_S = 1.0


def time_command(argv: list[str], runs: int) -> tuple[float, int]:
    seconds, code = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        code = subprocess.run([sys.executable, "-m", "cohesive.cli", *argv], capture_output=True, check=False).returncode
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "cli_startup.md")
    args = parser.parse_args()
    lines = [f"CLI answers without a model (median of {args.runs} fresh processes; target about {TARGET_S:.0f} s):", "",
             "| command | seconds | exit code |", "|---|---|---|"]
    for name, argv in COMMANDS.items():
        seconds, code = time_command(argv, args.runs)
        lines.append(f"| {name} | {seconds:.2f} | {code} |")
    text = "\n".join(lines) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
