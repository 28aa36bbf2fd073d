"""Mean ± std over trainings of one detector recipe, from their `paraphrase evaluate` results.

Trainings evaluated at different times may have been scored on test splits that differ in some
cells (the manual pages follow the machine's installed packages; a generator added later has no
column in an earlier result), so the spread is taken over the cells you name, which must be present
in every result: per training the mean macro-F1 and recall at the FPR over those cells, then the
mean ± sample std of those per-training means.

    python benchmarks/seed_spread.py results/paraphrase/shipped-hypo-2800{,-seed1,-seed2}/paraphrase.json \
        --domains gcide pydoc foldoc --generators spin-4th spin-2nd spin-max maskfill spin-hyper
    python benchmarks/seed_spread.py results/paraphrase/shipped-more-2800{,-seed1}/paraphrase.json \
        --only word-lora-cf-more-2800 word-lora-cf-more-2800-seed1 --domains ... --generators ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cohesive.paraphrase.compare import mean_std


def fail(message: str) -> None:
    """A user mistake: one line on stderr, exit code 2."""
    print(f"seed_spread: {message}", file=sys.stderr)
    raise SystemExit(2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", type=Path, help="paraphrase.json files")
    parser.add_argument("--only", nargs="+", help="the detectors to take (default: every detector in the files)")
    parser.add_argument("--domains", nargs="+", required=True)
    parser.add_argument("--generators", nargs="+", required=True)
    parser.add_argument("--output", type=Path, help="also write the result as JSON here")
    return parser.parse_args(argv)


def read_detectors(path: Path) -> dict:
    """The `detectors` of one `paraphrase evaluate` result file."""
    try:
        return json.loads(path.read_text())["detectors"]
    except (ValueError, KeyError, TypeError):
        fail(f"{path}: not the paraphrase.json of a `cohesive paraphrase evaluate` run")


def training_means(name: str, detector: dict, domains: list[str], generators: list[str]) -> dict:
    """One detector's mean macro-F1 and recall at the FPR over the chosen cells (percent)."""
    cells = {(c["domain"], c["generator"]): c for c in detector["cells"]}
    wanted = [(d, g) for d in domains for g in generators]
    missing = [f"{d} x {g}" for d, g in wanted if (d, g) not in cells]
    if missing:
        fail(f"{name}: no cell {', '.join(missing)} in its result")
    chosen = [cells[k] for k in wanted]
    return {"detector": name, "threshold": detector["threshold"],
            "macro_f1": 100 * sum(c["macro_f1"] for c in chosen) / len(chosen),
            "recall_at_fpr": 100 * sum(c["recall_at_fpr"] for c in chosen) / len(chosen)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for path in args.results:
        if not path.is_file():
            fail(f"{path}: no such file (give the paraphrase.json of a `cohesive paraphrase evaluate` run)")
    found = [(name, detector) for path in args.results
             for name, detector in read_detectors(path).items()
             if args.only is None or name in args.only]
    detectors = dict(found)
    if len(detectors) < len(found):
        fail("a detector name appears in more than one file: choose one with --only")
    if args.only and set(args.only) - set(detectors):
        fail(f"no detector {', '.join(sorted(set(args.only) - set(detectors)))} in these results")
    runs = [training_means(name, detector, args.domains, args.generators) for name, detector in detectors.items()]
    report = {"domains": args.domains, "generators": args.generators, "trainings": runs,
              **{m: mean_std([r[m] for r in runs]) for m in ("macro_f1", "recall_at_fpr")}}
    for run in runs:
        print(f"{run['detector']:<36} macro-F1 {run['macro_f1']:5.1f}  R@FPR {run['recall_at_fpr']:5.1f}")
    for metric in ("macro_f1", "recall_at_fpr"):
        spread = report[metric]
        std = f" ± {spread['std']:.1f}" if spread["std"] is not None else ""
        print(f"{metric}: {spread['mean']:.1f}{std} over {len(runs)} trainings, "
              f"{len(args.domains) * len(args.generators)} cells each")
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
