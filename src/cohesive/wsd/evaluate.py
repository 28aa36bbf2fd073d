"""Run a WSD system over the framework's datasets, write key files and a results table."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from cohesive.corpora.raganato import Instance, data_path, iter_instances, read_gold, write_keys
from cohesive.errors import CohesiveError, DataError
from cohesive.lexicon.wordnet import wordnet_pos
from cohesive.paths import wsd_prefix
from cohesive.wsd.scorer import Report, report

DATASET_ORDER = ["SE07", "SE2", "SE3", "SE13", "SE15", "ALL"]
SHORT_NAME = {"senseval2": "SE2", "senseval3": "SE3", "semeval2007": "SE07", "semeval2013": "SE13",
              "semeval2015": "SE15", "ALL": "ALL"}


@dataclass
class WsdEvalConfig:
    """`cohesive wsd evaluate`: knowledge-based baselines on the Raganato framework."""

    methods: list[str] = field(default_factory=lambda: ["first-sense"])
    datasets: list[str] = field(default_factory=lambda: list(DATASET_ORDER))
    output_dir: Path = Path("results/wsd")


def predict_dataset(prefix: Path, predict: Callable[[Instance], str | None], desc: str) -> tuple[dict, dict]:
    """Predict every instance of a dataset; returns (predicted keys, gold keys)."""
    predicted: dict[str, list[str]] = {}
    ids: list[str] = []
    for instance in tqdm(iter_instances(prefix), desc=desc, unit=" inst", leave=False, disable=None):
        check_instance_pos(instance, prefix)
        ids.append(instance.id)
        answer = predict(instance)
        if answer is not None:
            predicted[instance.id] = [answer]
    return predicted, read_gold(prefix, ids)


def check_instance_pos(instance: Instance, prefix: Path) -> None:
    """Instances must carry a WordNet POS; anything else would silently get no candidates."""
    try:
        wordnet_pos(instance.pos)
    except CohesiveError as exc:
        raise DataError(f"{data_path(prefix)}: instance {instance.id}: {exc}") from None


def evaluate_system(predict: Callable[[Instance], str | None], name: str, datasets: list[str],
                    output_dir: Path) -> dict[str, Report]:
    """Evaluate `predict` on each dataset; writes `OUTPUT_DIR/NAME/DATASET.key.txt` and `results.json`."""
    if not datasets:
        raise DataError("no datasets to evaluate")
    reports: dict[str, Report] = {}
    for dataset in datasets:
        prefix = wsd_prefix(dataset)
        predicted, gold = predict_dataset(prefix, predict, f"{name} {prefix.name}")
        write_keys(output_dir / name / f"{prefix.name}.key.txt", predicted.items())
        reports[SHORT_NAME.get(prefix.name, prefix.name)] = report(gold, predicted)
    (output_dir / name / "results.json").write_text(
        json.dumps({k: v.as_dict() for k, v in reports.items()}, indent=2))
    (output_dir / name / "results.md").write_text(results_markdown({name: reports}))
    return reports


def results_markdown(systems: dict[str, dict[str, Report]]) -> str:
    """F1 table (rows = systems, columns = datasets, then ALL per POS), as in the WSD literature."""
    seen = [d for r in systems.values() for d in r]
    datasets = [d for d in DATASET_ORDER if d in seen] + sorted({d for d in seen if d not in DATASET_ORDER})
    pos_cols = ["NOUN", "VERB", "ADJ", "ADV"]
    header = ["system", *datasets] + ([f"ALL {p}" for p in pos_cols] if any("ALL" in r for r in systems.values()) else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, reports in systems.items():
        cells = [f"{100 * reports[d].overall.f1:.1f}" if d in reports else "" for d in datasets]
        if "ALL" in reports:
            cells += [f"{100 * reports['ALL'].by_pos[p].f1:.1f}" if p in reports["ALL"].by_pos else "" for p in pos_cols]
        lines.append("| " + " | ".join([name, *cells[: len(header) - 1]]) + " |")
    return "\n".join(lines) + "\n"
