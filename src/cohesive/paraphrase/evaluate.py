"""`cohesive paraphrase evaluate`: every detector on every test cell (domain x generator).

Per cell: macro-F1 at the detector's validation threshold (chosen on the training cell's
validation split, as a deployed detector would be), with the recall and false-positive rate behind
it (which side a miss comes from), and recall at 1% false-positive rate, where
the threshold is set on *that cell's own originals* (the ROC operating point, so it measures how
well a cell's paraphrases are ranked above its originals, independent of calibration). Averages
over all cells and over the cells the detector never saw in training. Writes `paraphrase.json`,
`paraphrase.md` and one heatmap per detector (`<detector>.png`) to `results_dir`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cohesive.atomic import write_json, write_text, write_with
from cohesive.errors import CohesiveError
from cohesive.paraphrase.corpus import read_manifest, read_split
from cohesive.paraphrase.detectors import load_detector
from cohesive.paraphrase.metrics import macro_f1, rates_at_threshold, recall_at_fpr


@dataclass
class ParaphraseEvalConfig:
    """Which detectors, on which corpus, at which false-positive rate."""

    corpus_dir: Path = Path("runs/paraphrase/corpus")
    detectors: list[Path] = field(default_factory=lambda: [Path("runs/paraphrase/detectors/tfidf-lr")])
    results_dir: Path = Path("runs/paraphrase/results")
    fpr: float = 0.01


def evaluate_detectors(config: ParaphraseEvalConfig) -> dict:
    if not config.detectors:
        raise CohesiveError("no detectors to evaluate: give --detectors DIR ...")
    if not 0 < config.fpr < 1:
        raise CohesiveError(f"fpr must be in (0, 1), got {config.fpr}")
    names = [Path(d).name for d in config.detectors]
    if len(set(names)) < len(names):
        raise CohesiveError(f"detector folders need distinct names (results are keyed by them): {', '.join(names)}")
    manifest = read_manifest(config.corpus_dir)
    test = read_split(config.corpus_dir, "test")
    results = {"corpus_dir": str(config.corpus_dir), "train_cell": manifest["train_cell"], "fpr": config.fpr,
               "domains": _ordered(test, "domain"), "generators": _ordered(test, "generator"), "detectors": {}}
    config.results_dir.mkdir(parents=True, exist_ok=True)
    for directory in config.detectors:
        results["detectors"][Path(directory).name] = score_detector(directory, test, manifest["train_cell"], config.fpr)
        plot_heatmap(results, Path(directory).name, config.results_dir / f"{Path(directory).name}.png")
    write_json(config.results_dir / "paraphrase.json", results)
    write_text(config.results_dir / "paraphrase.md", results_markdown(results))
    return results


def score_detector(directory: Path, test: list[dict], train_cell: dict, fpr: float) -> dict:
    """One detector's cells, means, threshold and provenance on the test split."""
    detector = load_detector(directory)
    texts = list(dict.fromkeys(r["text"] for r in test))  # a domain's originals recur in its generator cells
    started = time.perf_counter()
    scores = dict(zip(texts, detector(texts).tolist()))
    seconds = time.perf_counter() - started
    return {"path": str(directory), "kind": detector.kind, "threshold": detector.threshold,
            "trained_on": detector.info.get("train_cell"), "validation": detector.info.get("validation"),
            "scoring_seconds": round(seconds, 1), **score_cells(test, scores, detector.threshold, fpr, train_cell)}


def _ordered(rows: list[dict], key: str) -> list[str]:
    return list(dict.fromkeys(r[key] for r in rows))


def score_cells(rows: list[dict], scores: dict[str, float], threshold: float, fpr: float, train_cell: dict) -> dict:
    """Per-cell metrics and their means (all cells, and the cells other than the training cell)."""
    cells = []
    for domain, generator in dict.fromkeys((r["domain"], r["generator"]) for r in rows):
        cell = [r for r in rows if r["domain"] == domain and r["generator"] == generator]
        labels, values = [r["label"] for r in cell], [scores[r["text"]] for r in cell]
        recall_fixed_fpr, fpr_threshold = recall_at_fpr(labels, values, fpr)
        recall, false_positives = rates_at_threshold(labels, values, threshold)
        cells.append({"domain": domain, "generator": generator, "examples": len(cell),
                      "macro_f1": round(macro_f1(labels, values, threshold), 4),
                      "recall_at_threshold": round(recall, 4), "fpr_at_threshold": round(false_positives, 4),
                      "recall_at_fpr": round(recall_fixed_fpr, 4), "fpr_threshold": fpr_threshold,
                      "trained_here": domain == train_cell["domain"]
                      and generator in train_cell.get("generators", [train_cell["generator"]])})
    unseen = [c for c in cells if not c["trained_here"]] or cells
    return {"cells": cells, "mean_macro_f1": _mean(cells, "macro_f1"), "mean_recall_at_fpr": _mean(cells, "recall_at_fpr"),
            "unseen_macro_f1": _mean(unseen, "macro_f1"), "unseen_recall_at_fpr": _mean(unseen, "recall_at_fpr")}


def _mean(cells: list[dict], key: str) -> float:
    return round(float(np.mean([c[key] for c in cells])), 4)


def _grid(results: dict, name: str, key: str) -> np.ndarray:
    """domains x generators matrix of one metric (NaN where a cell is missing)."""
    grid = np.full((len(results["domains"]), len(results["generators"])), np.nan)
    for cell in results["detectors"][name]["cells"]:
        grid[results["domains"].index(cell["domain"]), results["generators"].index(cell["generator"])] = cell[key]
    return grid


def plot_heatmap(results: dict, name: str, path: Path) -> None:
    """Macro-F1 per cell, colour-coded, with recall at the FPR underneath; the training cell boxed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    f1, recall = _grid(results, name, "macro_f1"), _grid(results, name, "recall_at_fpr")
    domains, generators = results["domains"], results["generators"]
    fig, axis = plt.subplots(figsize=(1.6 * len(generators) + 2.5, 0.9 * len(domains) + 1.8))
    image = axis.imshow(f1, vmin=0.0, vmax=1.0, cmap="viridis")
    for i, j in np.ndindex(f1.shape):
        if not np.isnan(f1[i, j]):
            axis.text(j, i, f"{100 * f1[i, j]:.1f}\n({100 * recall[i, j]:.0f})", ha="center", va="center",
                      color="white" if f1[i, j] < 0.6 else "black", fontsize=9)
    cell = results["train_cell"]
    for generator in cell.get("generators", [cell["generator"]]):
        if cell["domain"] in domains and generator in generators:
            origin = (generators.index(generator) - 0.5, domains.index(cell["domain"]) - 0.5)
            axis.add_patch(Rectangle(origin, 1, 1, fill=False, edgecolor="red", linewidth=2))
    axis.set_xticks(range(len(generators)), generators)
    axis.set_yticks(range(len(domains)), domains)
    axis.set_title(f"{name}: macro-F1 % (recall @ {100 * results['fpr']:g}% FPR); red = training cell(s)", fontsize=9)
    fig.colorbar(image, ax=axis, fraction=0.046)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)


def _trained_beyond(name: str, trained: dict, corpus_cell: dict) -> list[str]:
    """A line on what a detector trained on beyond the test corpus's training cell: more registers
    (no test cell comes from them) and more generators (the cells they made count as unseen)."""
    extra = trained.get("extra_domains") or {}
    generators = [g for g in trained.get("generators", []) if g not in corpus_cell.get("generators", [corpus_cell["generator"]])]
    parts = [f"{k} ({v} paragraphs per class)" for k, v in extra.items()] + [f"the generator {g}" for g in generators]
    return ["", f"{name} also trained on " + ", ".join(parts) + ", which no test cell comes from."] if parts else []


def results_markdown(results: dict) -> str:
    fpr = f"R@{100 * results['fpr']:g}%FPR"
    cell = results["train_cell"]
    generators = "+".join(cell.get("generators", [cell["generator"]]))
    caption = (f"Trained on {cell['domain']} x {generators}; macro-F1 at the validation threshold, "
               f"{fpr} at each cell's own originals (percent).")
    lines = [caption, "",
             f"| detector | kind | val. macro-F1 | macro-F1 (all cells) | macro-F1 (unseen cells) | {fpr} (all) |",
             "|---|---|---|---|---|---|"]
    for name, d in results["detectors"].items():
        val = d["validation"]["macro_f1"] if d.get("validation") else float("nan")
        lines.append(f"| {name} | {d['kind']} | {100 * val:.1f} | {100 * d['mean_macro_f1']:.1f} | "
                     f"{100 * d['unseen_macro_f1']:.1f} | {100 * d['mean_recall_at_fpr']:.1f} |")
    for name, d in results["detectors"].items():
        lines += _trained_beyond(name, d.get("trained_on") or {}, cell)
    for name in results["detectors"]:
        f1, recall = _grid(results, name, "macro_f1"), _grid(results, name, "recall_at_fpr")
        lines += ["", f"**{name}**: macro-F1 ({fpr}) per domain x generator", "",
                  "| domain | " + " | ".join(results["generators"]) + " |",
                  "|---|" + "---|" * len(results["generators"])]
        for i, domain in enumerate(results["domains"]):
            values = [f"{100 * f1[i, j]:.1f} ({100 * recall[i, j]:.1f})" if not np.isnan(f1[i, j]) else "-"
                      for j in range(len(results["generators"]))]
            lines.append(f"| {domain} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"
