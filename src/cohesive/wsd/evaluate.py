"""Run a WSD system over the framework's datasets, write key files and a results table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cohesive.atomic import write_json, write_text
from cohesive.corpora.raganato import Instance, data_path, iter_instances, read_gold, write_keys
from cohesive.errors import CohesiveError, DataError
from cohesive.lexicon.wordnet import wordnet_pos
from cohesive.paths import wsd_prefix
from cohesive.wsd.inference import load_predictor
from cohesive.wsd.prior import choose, tune_weight, with_prior, write_weight
from cohesive.wsd.scorer import Report, report
from cohesive.wsd.types import DATASET_ORDER

SHORT_NAME = {"senseval2": "SE2", "senseval3": "SE3", "semeval2007": "SE07", "semeval2013": "SE13",
              "semeval2015": "SE15", "ALL": "ALL"}


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
    write_json(output_dir / name / "results.json", {k: v.as_dict() for k, v in reports.items()})
    write_text(output_dir / name / "results.md", results_markdown({name: reports}))
    return reports


def evaluate_model(model_dir: Path, datasets: list[str], output_dir: Path, batch_pairs: int = 256,
                   dev: str | None = None, save_prior: bool = False) -> dict[str, dict[str, float]]:
    """F1 of a trained model per dataset and POS: the model alone and, when a `dev` set is given,
    with the sense-frequency prior tuned on it (written to `output_dir`, and into the model folder
    only with `save_prior`: evaluating never changes what a model answers).

    Every instance is scored once: a framework part (SE2 ... SE15) requested beside ALL is read off
    ALL's scores; both systems choose from the same scores."""
    if not datasets:
        raise DataError("no datasets to evaluate")
    predictor = load_predictor(model_dir, batch_pairs, prior_weight=0.0)
    lex = predictor.encoder.lexicon
    scored = score_datasets(predictor, list(dict.fromkeys([*datasets, *[dev] * bool(dev)])))
    name = model_name(model_dir)
    weights = {name: 0.0}
    if dev:
        pairs, scores, gold = scored[dev]
        weight, table = tune_weight(pairs, scores, gold, lex)
        for folder in [output_dir, *[model_dir] * save_prior]:
            write_weight(folder, weight, dev, table)
        weights[f"{name} + prior"] = weight
    systems: dict[str, dict[str, Report]] = {}
    for system, weight in weights.items():
        reports = {}
        for dataset in datasets:
            pairs, scores, gold = scored[dataset]
            predicted = {i: [p.key] for i, p in choose(pairs, with_prior(pairs, scores, weight, lex)).items()}
            prefix = wsd_prefix(dataset)
            write_keys(output_dir / system.replace(" + ", "+") / f"{prefix.name}.key.txt", predicted.items())
            reports[SHORT_NAME.get(prefix.name, prefix.name)] = report(gold, predicted)
        systems[system] = reports
    note = f"\nPrior weight {weights[f'{name} + prior']} (tuned on {dev} F1).\n" if dev else ""
    write_text(output_dir / "results.md", results_markdown(systems) + note)
    write_json(output_dir / "results.json", {s: {d: r.as_dict() for d, r in reports.items()} for s, reports in systems.items()})
    return {s: {d: round(100 * r.overall.f1, 1) for d, r in reports.items()} for s, reports in systems.items()}


def model_name(model_dir: Path) -> str:
    """The row name of a model in result tables: its folder's name."""
    return Path(model_dir).resolve().name


def score_datasets(predictor, datasets: list[str]) -> dict[str, tuple]:
    """(pairs, per-pair scores, gold) per dataset name; parts of ALL are sliced from ALL's scores."""
    prefixes = {name: wsd_prefix(name) for name in datasets}
    everything = next((n for n, p in prefixes.items() if p.name == "ALL"), None)
    scored = {everything: _score_dataset(predictor, prefixes[everything])} if everything else {}
    for name, prefix in prefixes.items():
        if name in scored:
            continue
        part = _slice_of_all(scored[everything], prefix.name) if everything and prefix.name in SHORT_NAME else None
        scored[name] = part or _score_dataset(predictor, prefix)
    return scored


def _slice_of_all(all_scored: tuple, dataset: str) -> tuple | None:
    """One framework dataset's pairs, scores and gold, cut out of ALL's (ids are `dataset.d000...`)."""
    pairs, scores, gold = all_scored
    instances = np.array([i for i, iid in enumerate(pairs.instance_ids) if iid.startswith(f"{dataset}.")], dtype=np.int64)
    if not len(instances):
        return None
    subset, pair_index = pairs.subset(instances)
    prefix = len(dataset) + 1
    own_gold = {i[prefix:]: gold[i] for i in subset.instance_ids if i in gold}
    subset.instance_ids = [i[prefix:] for i in subset.instance_ids]  # the dataset's own ids, as in its gold file
    return subset, scores[pair_index], own_gold


def _score_dataset(predictor, prefix: Path):
    """(pairs, per-pair model scores, gold keys) of a whole dataset, in one length-bucketed pass."""
    instances = list(iter_instances(prefix))
    for instance in instances:
        check_instance_pos(instance, prefix)
    pairs = predictor.encoder.build(instances, desc=f"pairs {prefix.name}")
    return pairs, predictor.score(pairs, desc=f"score {prefix.name}"), read_gold(prefix, [i.id for i in instances])


def results_markdown(systems: dict[str, dict[str, Report]]) -> str:
    """F1 table (rows = systems, columns = datasets, then ALL per POS), as in the WSD literature.

    A dataset evaluated only as part of ALL gets its column from ALL's per-dataset breakdown (the
    same instances in the same sentences, so the same F1), which saves scoring it twice."""
    seen = {d for r in systems.values() for d in [*r, *_parts_of_all(r)]}
    datasets = [d for d in DATASET_ORDER if d in seen] + sorted(d for d in seen if d not in DATASET_ORDER)
    pos_cols = ["NOUN", "VERB", "ADJ", "ADV"]
    header = ["system", *datasets] + ([f"ALL {p}" for p in pos_cols] if any("ALL" in r for r in systems.values()) else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, reports in systems.items():
        scores = {**_parts_of_all(reports), **{d: r.overall for d, r in reports.items()}}
        cells = [f"{100 * scores[d].f1:.1f}" if d in scores else "" for d in datasets]
        if "ALL" in reports:
            cells += [f"{100 * reports['ALL'].by_pos[p].f1:.1f}" if p in reports["ALL"].by_pos else "" for p in pos_cols]
        lines.append("| " + " | ".join([name, *cells[: len(header) - 1]]) + " |")
    return "\n".join(lines) + "\n"


def _parts_of_all(reports: dict[str, Report]) -> dict:
    """SE2, SE3, ... scores read off ALL's per-dataset breakdown."""
    if "ALL" not in reports:
        return {}
    return {SHORT_NAME.get(name, name): s for name, s in reports["ALL"].by_dataset.items()}
