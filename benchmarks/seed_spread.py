"""Mean ± std over trainings of one detector recipe, from their `paraphrase evaluate` results.

Trainings evaluated at different times may have been scored on test splits that differ in some
cells (the manual pages follow the machine's installed packages; a generator added later has no
column in an earlier result), so the spread is taken over the cells you name, which must be present
in every result: per training the mean macro-F1 and recall at the FPR over those cells, then the
mean ± sample std of those per-training means.

    python benchmarks/seed_spread.py results/paraphrase/shipped-hypo-2800{,-seed1,-seed2}/paraphrase.json \
        --domains gcide pydoc foldoc --generators spin-4th spin-2nd spin-max maskfill spin-hyper
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cohesive.paraphrase.compare import mean_std


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", type=Path, help="paraphrase.json files, one detector each")
    parser.add_argument("--domains", nargs="+", required=True)
    parser.add_argument("--generators", nargs="+", required=True)
    parser.add_argument("--output", type=Path, help="also write the result as JSON here")
    return parser.parse_args(argv)


def training_means(result: dict, domains: list[str], generators: list[str]) -> dict:
    """One detector's mean macro-F1 and recall at the FPR over the chosen cells (percent)."""
    (name, detector), = result["detectors"].items()
    cells = {(c["domain"], c["generator"]): c for c in detector["cells"]}
    wanted = [(d, g) for d in domains for g in generators]
    missing = [f"{d} x {g}" for d, g in wanted if (d, g) not in cells]
    if missing:
        raise SystemExit(f"{name}: no cell {', '.join(missing)} in its result")
    chosen = [cells[k] for k in wanted]
    return {"detector": name, "threshold": detector["threshold"],
            "macro_f1": 100 * sum(c["macro_f1"] for c in chosen) / len(chosen),
            "recall_at_fpr": 100 * sum(c["recall_at_fpr"] for c in chosen) / len(chosen)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs = [training_means(json.loads(path.read_text()), args.domains, args.generators) for path in args.results]
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
