"""`cohesive wsd train | predict | tag`: LMGC models, key files and raw-text tagging."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()


def register(wsd: argparse._SubParsersAction) -> None:
    train = wsd.add_parser("train", help="train an LMGC / LMGC-M cross-encoder or BEM bi-encoder on SemCor")
    train.add_argument("--config", help="YAML file of LmgcConfig options (configs/lmgc.yaml)")
    train.add_argument("--model", help="encoder to start from: `minilm` or a checkpoint folder")
    train.add_argument("--objective", choices=["lmgc", "lmgc-m", "bem"])
    train.add_argument("--output-dir", help="where the selected model, checkpoints and results go")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config option")
    train.set_defaults(handler=run_train)

    predict = wsd.add_parser("predict", help="write a key file for a Raganato dataset with a trained model")
    predict.add_argument("--model", required=True, help="trained model folder (cohesive wsd train)")
    predict.add_argument("prefix", help="SE2 SE3 SE07 SE13 SE15 ALL, or a path prefix (PREFIX.data.xml)")
    predict.add_argument("--output", help="key file (default: MODEL/keys/NAME.key.txt)")
    predict.add_argument("--batch-pairs", type=int, default=256, help="pairs per forward pass")
    predict.add_argument("--prior-weight", type=float,
                         help="weight of the sense-frequency prior (default: the one tuned with the model; 0 = off)")
    predict.set_defaults(handler=run_predict)

    tag = wsd.add_parser("tag", help="disambiguate every content word of a text")
    tag.add_argument("text", help="the text (quote it)")
    tag.add_argument("--model", help="trained model folder (default: $COHESIVE_WSD_MODEL or runs/lmgc/bem-minilm)")
    tag.add_argument("--json", action="store_true", help="print JSON instead of a table")
    tag.set_defaults(handler=run_tag)


def run_train(args: argparse.Namespace) -> None:
    from cohesive.config import cli_overrides, load_config
    from cohesive.wsd.lmgc import LmgcConfig, train

    overrides = cli_overrides({"model": args.model, "objective": args.objective, "output_dir": args.output_dir},
                              args.set)
    summary = train(load_config(LmgcConfig, args.config, overrides))
    selected = "" if summary["best_dev_f1"] is None else f"best dev F1 {100 * summary['best_dev_f1']:.1f}, "
    console.print(f"{selected}{summary['train_seconds']:.0f} s of training on {summary['pairs']} pairs; "
                  f"F1: {summary['results']}")


def run_predict(args: argparse.Namespace) -> None:
    from cohesive.corpora.raganato import gold_path, read_gold
    from cohesive.paths import wsd_prefix
    from cohesive.wsd.commands import print_report
    from cohesive.wsd.predict import load_predictor, predict_to_file
    from cohesive.wsd.scorer import report

    prefix = wsd_prefix(args.prefix)
    output = Path(args.output) if args.output else Path(args.model) / "keys" / f"{prefix.name}.key.txt"
    predictions = predict_to_file(load_predictor(args.model, args.batch_pairs, args.prior_weight), prefix, output)
    console.print(f"{len(predictions)} answers written to {output}")
    if gold_path(prefix).is_file():
        print_report(report(read_gold(prefix), {i: [p.key] for i, p in predictions.items()}))


def run_tag(args: argparse.Namespace) -> None:
    from cohesive.wsd.disambiguate import disambiguate

    tags = disambiguate(args.text, model=args.model)
    if args.json:
        print(json.dumps([t.as_dict() for t in tags], indent=2))
        return
    table = Table("token", "lemma", "POS", "sense key", "synset", "P", "gloss")
    for t in tags:
        table.add_row(t.token, t.lemma, t.pos, t.key, t.synset, f"{t.probability:.2f}", t.gloss)
    console.print(table)
