"""`cohesive paraphrase compare`: one detector recipe trained on several backbones x seeds and scored on
every test cell, to test whether a sense-aware encoder detects machine paraphrase better.

Each run lives in `output_dir/<backbone>/seed<k>/` (the detector and its `cells.json`). Runs go seed
by seed, every backbone before the next seed; finished runs are skipped and runs whose backbone was
retrained since are run again (`cohesive.seedruns`), so a killed comparison resumes where it stopped.
After every run `results_dir/compare.{json,md,png}` hold what has finished: per backbone the mean ±
std over seeds of each cell's macro-F1 and recall at the FPR, and per cell each other backbone's
difference from the first (the reference), paired by seed.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cohesive.atomic import write_json, write_text, write_with
from cohesive.config import load_config
from cohesive.errors import CohesiveError
from cohesive.files import read_json
from cohesive.models import check_model, model_fingerprint, model_label
from cohesive.paraphrase.corpus import read_manifest, read_split
from cohesive.paraphrase.detectors import DETECTOR_FILE
from cohesive.paraphrase.evaluate import score_detector
from cohesive.paraphrase.train import ENCODER_KINDS, DetectorTrainConfig, train_detector
from cohesive.seedruns import prepare_seed_dirs

log = logging.getLogger(__name__)

CELLS_FILE = "cells.json"
METRICS = {"macro_f1": "macro-F1", "recall_at_fpr": "recall"}


@dataclass
class BackboneCompareConfig:
    """Backbones x seeds of one `paraphrase train` recipe; the first backbone is the reference."""

    backbones: list[str] = field(default_factory=lambda: ["minilm"])  # NAME=PATH, `minilm`, a folder
    detector: Path | None = None  # a `cohesive paraphrase train` config: kind, corpus, budget
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    output_dir: Path = Path("runs/paraphrase/backbones")
    results_dir: Path | None = None  # compare.{json,md,png} (default: output_dir)
    fpr: float = 0.01

    def validate(self) -> None:
        if self.detector is None or not Path(self.detector).is_file():
            raise CohesiveError(f"detector: give a `cohesive paraphrase train` config file (got {self.detector})")
        if not self.backbones or not self.seeds:
            raise CohesiveError("the comparison needs at least one backbone and one seed")
        names = [model_label(b)[0] for b in self.backbones]
        if len(set(names)) < len(names) or len(set(self.seeds)) < len(self.seeds):
            raise CohesiveError(f"backbone names or seeds repeat: {names}, {self.seeds} (name backbones with NAME=PATH)")
        if not 0 < self.fpr < 1:
            raise CohesiveError(f"fpr must be in (0, 1), got {self.fpr}")
        for backbone in self.backbones:
            check_model(model_label(backbone)[1])


def compare_backbones(config: BackboneCompareConfig) -> dict:
    """Train and score every backbone x seed not done yet; write the comparison after each."""
    config.validate()
    recipe = load_config(DetectorTrainConfig, config.detector)
    if recipe.kind not in ENCODER_KINDS:  # a TF-IDF recipe ignores the backbone: every difference would be 0
        raise CohesiveError(f"{config.detector}: kind {recipe.kind!r} does not use a backbone; choose one of "
                            f"{', '.join(ENCODER_KINDS)}")
    claims = {(name, seed): _claim(config, recipe, name, path, seed)
              for seed in config.seeds for name, path in map(model_label, config.backbones)}
    prepare_seed_dirs(list(claims.values()))
    manifest = read_manifest(recipe.corpus_dir)
    test = read_split(recipe.corpus_dir, "test")
    runs: dict[str, dict[int, dict]] = {model_label(b)[0]: {} for b in config.backbones}
    models = {name: options["model"] for (name, _), (_, options) in claims.items()}
    for (name, seed), (run, _) in claims.items():
        if (run / CELLS_FILE).is_file():
            runs[name][seed] = read_json(run / CELLS_FILE)
    pending = [(key, claim) for key, claim in claims.items() if key[1] not in runs[key[0]]]
    target = config.results_dir or config.output_dir
    for number, ((name, seed), (run, options)) in enumerate(pending, 1):
        if not (run / DETECTOR_FILE).is_file():
            log.info("[%d/%d] %s, seed %d: training", number, len(pending), name, seed)
            train_detector(dataclasses.replace(recipe, model=options["model"], seed=seed, output_dir=run))
        log.info("[%d/%d] %s, seed %d: scoring the test cells", number, len(pending), name, seed)
        runs[name][seed] = score_detector(run, test, manifest["train_cell"], config.fpr)
        write_json(run / CELLS_FILE, runs[name][seed])
        write_report(summarise(runs, models, manifest["train_cell"], config.fpr), target)
    report = summarise(runs, models, manifest["train_cell"], config.fpr)
    if not pending:  # everything was read back: the report has not been written by this run yet
        write_report(report, target)
    return report


def _claim(config: BackboneCompareConfig, recipe: DetectorTrainConfig, name: str, path: str,
           seed: int) -> tuple[Path, dict]:
    """A run's folder and the options it is recorded (and checked) with; the recipe's folders as
    absolute paths, so a run reads the same from any directory."""
    recipe_options = {k: str(Path(v).resolve()) if isinstance(v, Path) else v
                      for k, v in dataclasses.asdict(recipe).items() if k not in ("model", "seed", "output_dir")}
    return config.output_dir / name / f"seed{seed}", {
        "model": path, "model_fingerprint": model_fingerprint(path), "seed": seed, "fpr": config.fpr, **recipe_options}


def mean_std(values: list[float]) -> dict:
    """Mean and sample standard deviation (None for one value) of per-seed values."""
    return {"values": values, "mean": float(np.mean(values)),
            "std": statistics.stdev(values) if len(values) > 1 else None}


def summarise(runs: dict[str, dict[int, dict]], models: dict[str, str], train_cell: dict, fpr: float) -> dict:
    """Per backbone: every cell and the means over seeds; per other backbone: per-cell differences
    from the reference (the first), paired by seed over the seeds both have."""
    reference = next(iter(runs))
    report = {"reference": reference, "train_cell": train_cell, "fpr": fpr, "backbones": {}, "differences": {}}
    for name, by_seed in runs.items():
        if not by_seed:
            continue
        seeds = sorted(by_seed)
        first = by_seed[seeds[0]]
        cells = [{"domain": c["domain"], "generator": c["generator"], "trained_here": c["trained_here"],
                  **{m: mean_std([_cell(by_seed[s], c)[m] for s in seeds]) for m in METRICS}}
                 for c in first["cells"]]
        report["backbones"][name] = {
            "seeds": seeds, "model": models[name], "cells": cells,
            **{key: mean_std([by_seed[s][key] for s in seeds]) for key in
               ("mean_macro_f1", "unseen_macro_f1", "mean_recall_at_fpr", "unseen_recall_at_fpr")},
            "validation_macro_f1": mean_std([by_seed[s]["validation"]["macro_f1"] for s in seeds])}
    for name, by_seed in runs.items():
        paired = sorted(set(by_seed) & set(runs[reference]))
        if name == reference or not paired:
            continue
        base = runs[reference]
        report["differences"][name] = {
            "seeds": paired,
            **{key: mean_std([by_seed[s][key] - base[s][key] for s in paired])
               for key in ("unseen_macro_f1", "unseen_recall_at_fpr")},
            "cells": [{"domain": c["domain"], "generator": c["generator"],
                       **{m: mean_std([_cell(by_seed[s], c)[m] - _cell(base[s], c)[m] for s in paired])
                          for m in METRICS}}
                      for c in base[paired[0]]["cells"]]}
    return report


def _cell(run: dict, like: dict) -> dict:
    """The cell of `run` with `like`'s domain and generator (runs scored on other test cells are refused)."""
    for cell in run["cells"]:
        if (cell["domain"], cell["generator"]) == (like["domain"], like["generator"]):
            return cell
    raise CohesiveError(f"{run.get('path', 'a run')} has no {like['domain']} x {like['generator']} cell: its test "
                        "split differs from the other runs' (corpus rebuilt?); delete its cells.json to score it again")


def write_report(report: dict, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    write_json(target / "compare.json", report)
    write_text(target / "compare.md", report_markdown(report))
    if report["differences"]:
        plot_differences(report, target / "compare.png")
    else:  # nothing to compare yet (or any more): no chart left over from an earlier run
        (target / "compare.png").unlink(missing_ok=True)


def _pct(entry: dict, signed: bool = False) -> str:
    mean = f"{100 * entry['mean']:+.1f}" if signed else f"{100 * entry['mean']:.1f}"
    return mean if entry["std"] is None else f"{mean} ± {100 * entry['std']:.1f}"


def report_markdown(report: dict) -> str:
    fpr = f"R@{100 * report['fpr']:g}%FPR"
    cell = report["train_cell"]
    generators = "+".join(cell.get("generators", [cell["generator"]]))
    lines = [f"One detector recipe per backbone, trained on {cell['domain']} x {generators}; macro-F1 at the "
             f"validation threshold and {fpr} at each cell's own originals, percent, mean ± std over seeds. "
             f"Differences: backbone minus {report['reference']}, per seed, then mean ± std.", "",
             "| backbone | seeds | val. macro-F1 | macro-F1 (all cells) | macro-F1 (unseen cells) | "
             f"{fpr} (unseen cells) |", "|---|---|---|---|---|---|"]
    for name, b in report["backbones"].items():
        lines.append(f"| {name} | {', '.join(map(str, b['seeds']))} | {_pct(b['validation_macro_f1'])} | "
                     f"{_pct(b['mean_macro_f1'])} | {_pct(b['unseen_macro_f1'])} | {_pct(b['unseen_recall_at_fpr'])} |")
    for name, d in report["differences"].items():
        lines.append(f"\n{name} - {report['reference']}, over the unseen cells: mean macro-F1 "
                     f"{_pct(d['unseen_macro_f1'], signed=True)}, mean {fpr} {_pct(d['unseen_recall_at_fpr'], signed=True)} "
                     f"(seeds {', '.join(map(str, d['seeds']))})")
    for metric, title in METRICS.items():
        names, others = list(report["backbones"]), list(report["differences"])
        lines += ["", f"**{title if metric == 'macro_f1' else fpr} per cell**", "",
                  "| domain | generator | " + " | ".join(names) + "".join(f" | {n} - {report['reference']}" for n in others)
                  + " |", "|---|---|" + "---|" * (len(names) + len(others))]
        for c in report["backbones"][names[0]]["cells"]:
            row = [_pct(_cell(report["backbones"][n], c)[metric]) for n in names]
            row += [_pct(_cell(report["differences"][n], c)[metric], signed=True) for n in others]
            mark = " (trained)" if c["trained_here"] else ""
            lines.append(f"| {c['domain']}{mark} | {c['generator']} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def plot_differences(report: dict, path: Path) -> None:
    """One heatmap per other backbone: its macro-F1 minus the reference's per cell (mean ± std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = report["backbones"][report["reference"]]["cells"]
    domains, generators = list(dict.fromkeys(c["domain"] for c in cells)), list(dict.fromkeys(c["generator"] for c in cells))
    others = list(report["differences"])
    fig, axes = plt.subplots(1, len(others), figsize=(1.5 * len(generators) * len(others) + 2, 0.8 * len(domains) + 1.8),
                             squeeze=False)
    for axis, name in zip(axes[0], others):
        grid = np.full((len(domains), len(generators)), np.nan)
        for c in report["differences"][name]["cells"]:
            i, j = domains.index(c["domain"]), generators.index(c["generator"])
            grid[i, j] = 100 * c["macro_f1"]["mean"]
            std = c["macro_f1"]["std"]
            axis.text(j, i, f"{grid[i, j]:+.1f}" + ("" if std is None else f"\n±{100 * std:.1f}"),
                      ha="center", va="center", fontsize=8, color="white" if abs(grid[i, j]) > 6 else "black")
        image = axis.imshow(grid, cmap="RdBu", vmin=-10, vmax=10)
        axis.set_xticks(range(len(generators)), generators, rotation=30, ha="right")
        axis.set_yticks(range(len(domains)), domains)
        axis.set_title(f"{name} - {report['reference']}: macro-F1 (points)", fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.03)
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png", bbox_inches="tight"))
    plt.close(fig)
