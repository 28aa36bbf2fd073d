"""The distillation claim, measured: same students, same budget, same data order and masks per
seed, several targets (MLM only, best single teacher, uniform, confidence-weighted by the gold
token's probability or by negative entropy), several seeds. Writes mean +/- std held-out curves
(JSON, PNG) and, per student and arm, the steps needed to reach the single-teacher arm's final loss."""

from __future__ import annotations

import copy
import json
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cohesive.atomic import write_json, write_text, write_with
from cohesive.config import config_text, load_config
from cohesive.distill.heldout import MlmEvalConfig, evaluate_models, heldout_set
from cohesive.distill.mlm import masked_lm_outputs
from cohesive.distill.train import CONFIG_FILE, DistillTrainConfig, train_student
from cohesive.distill.weighting import Mixture, confidence_features
from cohesive.errors import CohesiveError
from cohesive.files import read_json

VARIANTS = {
    "mlm": {"mode": "mlm"},
    "single": {"mode": "cached", "confidence": "uniform"},  # teacher_subset filled with the best teacher
    "uniform": {"mode": "cached", "confidence": "uniform"},
    "weighted": {"mode": "cached"},  # the train config's confidence (default: gold-token probability)
    "neg-entropy": {"mode": "cached", "confidence": "neg_entropy", "weighting": "softmax"},
}
CURVES = ("eval_loss", "eval_perplexity", "eval_top1")


@dataclass
class DistillCompareConfig:
    """`cohesive distill compare`: the convergence experiment."""

    train_config: Path | None = None  # a DistillTrainConfig YAML; None: its defaults
    variants: list[str] = field(default_factory=lambda: ["mlm", "single", "uniform", "weighted"])
    # student name -> DistillTrainConfig options that make it (e.g. {student_from: ../runs/teachers/minilm-mlm})
    students: dict[str, dict[str, Any]] = field(default_factory=lambda: {"student": {}})
    seeds: list[int] = field(default_factory=lambda: [42])
    output_dir: Path = Path("runs/distill/compare")
    results_dir: Path = Path("runs/distill/compare-results")
    results_name: str = "compare"  # <results_dir>/<name>.{json,md,png}
    max_steps: int | None = None
    eval_steps: int | None = None

    def validate(self) -> None:
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown:
            raise CohesiveError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
        if not self.seeds or not self.students:
            raise CohesiveError("give at least one seed and one student")
        known = set(DistillTrainConfig.__dataclass_fields__)
        for name, options in self.students.items():
            bad = sorted(set(options or {}) - known)
            if bad:
                raise CohesiveError(f"student {name!r}: unknown DistillTrainConfig option(s) {', '.join(bad)}")


def run_compare(config: DistillCompareConfig) -> dict:
    """Train every student x arm x seed (each resumes where it stopped), then summarise."""
    config.validate()
    budget = {"max_steps": config.max_steps, "eval_steps": config.eval_steps}
    base = load_config(DistillTrainConfig, config.train_config, {k: v for k, v in budget.items() if v is not None})
    teachers = rank_teachers(base) if "single" in config.variants else []
    results = {"max_steps": base.max_steps, "batch_size": base.batch_size, "seeds": list(config.seeds),
               "teachers": teachers, "teacher_weights": teacher_weights_by_domain(base, config.variants),
               "students": {}}
    for student, options in config.students.items():
        arms = {}
        for name in config.variants:
            runs = [train_arm(base, student, options or {}, name, seed, teachers, config.output_dir)
                    for seed in config.seeds]
            arms[name] = summarise_arm(runs)
        results["students"][student] = with_steps_to_single(arms)
    write_results(results, config.results_dir, config.results_name)
    return results


def train_arm(base: DistillTrainConfig, student: str, options: dict, arm: str, seed: int, teachers: list[dict],
              output_dir: Path) -> dict:
    """One student x arm x seed: the same data order and masks as every other arm with this seed."""
    variant = copy.deepcopy(base)
    for key, value in {**options, **VARIANTS[arm], "seed": seed}.items():
        setattr(variant, key, value)
    if arm == "single":
        variant.teacher_subset = [teachers[0]["index"]]
    variant.output_dir = output_dir / student / arm / f"seed{seed}"
    final = finished_metrics(variant)
    if final is None:
        final = train_student(variant)
    return {"seed": seed, "final": final, "curve": read_curve(variant.output_dir / "metrics.jsonl")}


def finished_metrics(variant: DistillTrainConfig) -> dict | None:
    """The final metrics of a run this harness finished with exactly these options; a run folder
    left by other options (a changed budget, teacher or seed) is emptied so the run starts afresh."""
    folder = variant.output_dir
    recorded = folder / CONFIG_FILE
    if recorded.is_file() and recorded.read_text() == config_text(variant, folder):
        done = folder / "final_metrics.json"
        return read_json(done) if done.is_file() else None  # None: resume from its checkpoints
    if folder.exists():
        shutil.rmtree(folder)
    return None


def summarise_arm(runs: list[dict]) -> dict:
    """Mean and std over seeds, per evaluated step and at the end (std 0 for one seed), overall and per domain."""
    steps = sorted(set.intersection(*({p["step"] for p in run["curve"]} for run in runs)))
    by_step = [{p["step"]: p for p in run["curve"]} for run in runs]
    metrics = _shared_metrics([point for run in by_step for point in run.values()])
    curve = [{"step": step, **{f"{m}_{s}": v for m in metrics for s, v in _spread([r[step][m] for r in by_step]).items()}}
             for step in steps]
    final = {m: _spread([run["final"][m] for run in runs]) for m in _shared_metrics([run["final"] for run in runs])}
    return {"seeds": [run["seed"] for run in runs], "final_loss_mean": final["eval_loss"]["mean"],
            "final_loss_std": final["eval_loss"]["std"], "final_top1_mean": final["eval_top1"]["mean"],
            "final": final, "curve": curve, "runs": runs}


def _shared_metrics(points: list[dict]) -> list[str]:
    """The held-out metrics (overall and per domain) that every point has, in the first point's order."""
    return [k for k in points[0] if k.startswith("eval_") and k != "eval_tokens" and all(k in p for p in points)]


def _spread(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def with_steps_to_single(arms: dict[str, dict]) -> dict[str, dict]:
    """Each arm's first evaluated step whose mean held-out loss is at or below the single-teacher
    arm's final mean loss (None if it never gets there, or when no single-teacher arm ran)."""
    target = arms["single"]["final_loss_mean"] if "single" in arms else None
    for arm in arms.values():
        reached = [p["step"] for p in arm["curve"] if target is not None and p["eval_loss_mean"] <= target]
        arm["steps_to_single_final"] = reached[0] if reached else None
    return arms


def write_results(results: dict, directory: Path, name: str) -> None:
    write_json(directory / f"{name}.json", results)
    plot_curves(results, directory / f"{name}.png")
    write_text(directory / f"{name}.md", results_markdown(results))


def rank_teachers(config: DistillTrainConfig) -> list[dict]:
    """Each cached teacher's held-out MLM metrics on the students' held-out set, best (lowest loss) first."""
    from cohesive.distill.cache import TeacherCache

    cache = TeacherCache(config.cache_dir)
    rows = evaluate_models(MlmEvalConfig(models=cache.teacher_names, domains=config.heldout_domains,
                                         per_domain=config.heldout_per_domain, seq_len=cache.seq_len,
                                         mask_seed=config.heldout_mask_seed))
    ranked = [{"index": i, "name": row.pop("model"), **row} for i, row in enumerate(rows)]
    return sorted(ranked, key=lambda t: t["loss"])


def arm_mixtures(base: DistillTrainConfig, variants: list[str]) -> dict[str, Mixture]:
    """The per-token weighting of every arm that mixes teachers by confidence (not uniform, not single)."""
    mixtures = {}
    for arm in variants:
        options = {**{"confidence": base.confidence, "weighting": base.weighting, "tau": base.tau}, **VARIANTS[arm]}
        if options.get("mode") == "cached" and options["confidence"] != "uniform":
            mixtures[arm] = Mixture(options["confidence"], options["weighting"], options["tau"])
    return mixtures


@torch.no_grad()
def teacher_weights_by_domain(base: DistillTrainConfig, variants: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """{arm: {domain: {teacher: mean weight}}} over the held-out masked tokens of each domain: which
    teacher each confidence-weighted arm listens to, and whether that follows the domain."""
    from cohesive.distill.cache import TeacherCache
    from cohesive.distill.teachers import load_teachers

    mixtures = arm_mixtures(base, variants)
    if not mixtures:
        return {}
    cache = TeacherCache(base.cache_dir)
    loaded, tokenizer = load_teachers(cache.teacher_names)
    heldout = heldout_set(base.heldout_domains, base.heldout_per_domain, tokenizer, cache.seq_len,
                          base.heldout_mask_seed)
    sums = {arm: {d: torch.zeros(len(loaded)) for d in heldout.spans} for arm in mixtures}
    counts = dict.fromkeys(heldout.spans, 0)
    for domain, (start, end) in heldout.spans.items():
        for first in range(start, end, 32):
            ids, labels = heldout.input_ids[first:min(first + 32, end)], heldout.labels[first:min(first + 32, end)]
            outputs = [masked_lm_outputs(model, ids, torch.ones_like(ids), labels) for _, model in loaded]
            logits = torch.stack([o.logits for o in outputs], dim=1)
            features = confidence_features(logits, outputs[0].gold.unsqueeze(1).expand(-1, len(loaded)))
            counts[domain] += len(outputs[0].gold)
            for arm, mixture in mixtures.items():
                sums[arm][domain] += mixture.weights(features).sum(dim=0)
    names = [Path(name).name for name, _ in loaded]
    return {arm: {d: dict(zip(names, (total / max(counts[d], 1)).tolist())) for d, total in by_domain.items()}
            for arm, by_domain in sums.items()}


def read_curve(path: Path) -> list[dict]:
    """Held-out points by step; a resumed run re-logs steps after its checkpoint, so the last line per step wins."""
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    points = {r["step"]: {"step": r["step"], **{k: v for k, v in r.items() if k.startswith("eval_")}}
              for r in rows if "eval_loss" in r}
    return [points[step] for step in sorted(points)]


def plot_curves(results: dict, path: Path) -> None:
    """One row per student, one column per metric: mean over seeds with a +/- std band per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    students = results["students"]
    fig, axes = plt.subplots(len(students), len(CURVES), figsize=(5 * len(CURVES), 4 * len(students)), squeeze=False)
    for row, (student, arms) in zip(axes, students.items()):
        for name, arm in arms.items():
            steps = [p["step"] for p in arm["curve"]]
            for axis, metric in zip(row, CURVES):
                mean = [p[f"{metric}_mean"] for p in arm["curve"]]
                std = [p[f"{metric}_std"] for p in arm["curve"]]
                line, = axis.plot(steps, mean, marker="o", label=name)
                axis.fill_between(steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                                  color=line.get_color(), alpha=0.15)
        for axis, metric in zip(row, CURVES):
            axis.set_xlabel("training step")
            axis.set_title(f"{student}: held-out {metric.removeprefix('eval_')} ({len(results['seeds'])} seeds)")
            axis.grid(alpha=0.3)
        row[1].set_yscale("log")
        row[0].legend()
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)


def results_markdown(results: dict) -> str:
    lines = [f"{results['max_steps']} steps of {results['batch_size']} sequences; mean +/- std over seeds "
             f"{', '.join(map(str, results['seeds']))}.", "",
             "| student | target | held-out MLM loss | top-1 acc. | steps to the single teacher's final loss |",
             "|---|---|---|---|---|"]
    for student, arms in results["students"].items():
        for name, arm in arms.items():
            reached = "never" if arm["steps_to_single_final"] is None else str(arm["steps_to_single_final"])
            lines.append(f"| {student} | {name} | {arm['final_loss_mean']:.3f} +/- {arm['final_loss_std']:.3f} | "
                         f"{100 * arm['final_top1_mean']:.1f}% | {reached} |")
    return "\n".join(lines + ["", *per_domain_markdown(results), "", *weights_markdown(results)]) + "\n"


def per_domain_markdown(results: dict) -> list[str]:
    """Final held-out loss / top-1 per domain (mean +/- std over seeds) for every student and arm."""
    first = next(iter(next(iter(results["students"].values())).values()))
    domains = [m.removeprefix("eval_").removesuffix("_loss") for m in first["final"]
               if m.endswith("_loss") and m != "eval_loss"]
    if not domains:
        return []
    lines = ["Final held-out loss / top-1 per domain:", "",
             "| student | target | " + " | ".join(domains) + " |", "|---|---|" + "---|" * len(domains)]
    for student, arms in results["students"].items():
        for name, arm in arms.items():
            cells = [f"{arm['final'][f'eval_{d}_loss']['mean']:.3f} +/- {arm['final'][f'eval_{d}_loss']['std']:.3f} / "
                     f"{100 * arm['final'][f'eval_{d}_top1']['mean']:.1f}%" for d in domains]
            lines.append(f"| {student} | {name} | " + " | ".join(cells) + " |")
    return lines


def weights_markdown(results: dict) -> list[str]:
    """Mean teacher weight per held-out domain for every confidence-weighted arm."""
    lines = []
    for arm, by_domain in results.get("teacher_weights", {}).items():
        teachers = list(next(iter(by_domain.values())))
        lines += [f"Mean teacher weight per held-out domain, arm {arm}:", "",
                  "| domain | " + " | ".join(teachers) + " |", "|---|" + "---|" * len(teachers)]
        lines += [f"| {d} | " + " | ".join(f"{w[t]:.3f}" for t in teachers) + " |" for d, w in by_domain.items()]
        lines.append("")
    return lines
