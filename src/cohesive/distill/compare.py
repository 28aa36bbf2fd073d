"""Same student, same budget, four targets: MLM only, best single teacher, uniform and
confidence-weighted multi-teacher mixtures. Writes held-out curves as JSON and PNG."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

from cohesive.atomic import write_json, write_text, write_with
from cohesive.config import load_config
from cohesive.distill.heldout import MlmEvalConfig, evaluate_models
from cohesive.distill.train import DistillTrainConfig, train_student
from cohesive.errors import CohesiveError

VARIANTS = {
    "mlm": {"mode": "mlm"},
    "single": {"mode": "cached", "confidence": "uniform"},  # teacher_subset filled with the best teacher
    "uniform": {"mode": "cached", "confidence": "uniform"},
    "weighted": {"mode": "cached"},  # the train config's confidence (default: gold-token probability)
}
CURVES = ("eval_loss", "eval_perplexity", "eval_top1")


@dataclass
class DistillCompareConfig:
    """`cohesive distill compare`: the convergence experiment."""

    train_config: Path | None = None  # a DistillTrainConfig YAML; None: its defaults
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    output_dir: Path = Path("runs/distill/compare")
    results_dir: Path = Path("results/distill")
    max_steps: int | None = None
    eval_steps: int | None = None


def run_compare(config: DistillCompareConfig) -> dict:
    unknown = [v for v in config.variants if v not in VARIANTS]
    if unknown:
        raise CohesiveError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    budget = {"max_steps": config.max_steps, "eval_steps": config.eval_steps}
    base = load_config(DistillTrainConfig, config.train_config, {k: v for k, v in budget.items() if v is not None})
    teachers = rank_teachers(base) if "single" in config.variants else []
    results = {"teachers": teachers, "budget": {"max_steps": base.max_steps, "batch_size": base.batch_size},
               "variants": {}}
    for name in config.variants:
        variant = copy.deepcopy(base)
        for key, value in VARIANTS[name].items():
            setattr(variant, key, value)
        if name == "single":
            variant.teacher_subset = [teachers[0]["index"]]
        variant.output_dir = config.output_dir / name
        final = train_student(variant)
        results["variants"][name] = {"final": final, "curve": read_curve(variant.output_dir / "metrics.jsonl")}
    config.results_dir.mkdir(parents=True, exist_ok=True)
    write_json(config.results_dir / "compare.json", results)
    plot_curves(results, config.results_dir / "compare.png")
    write_text(config.results_dir / "compare.md", results_markdown(results))
    return results


def rank_teachers(config: DistillTrainConfig) -> list[dict]:
    """Each cached teacher's held-out MLM metrics on the students' held-out set, best (lowest loss) first."""
    from cohesive.distill.cache import TeacherCache

    cache = TeacherCache(config.cache_dir)
    rows = evaluate_models(MlmEvalConfig(models=cache.teacher_names, domains=config.heldout_domains,
                                         per_domain=config.heldout_per_domain, seq_len=cache.seq_len,
                                         mask_seed=config.heldout_mask_seed))
    ranked = [{"index": i, "name": row.pop("model"), **row} for i, row in enumerate(rows)]
    return sorted(ranked, key=lambda t: t["loss"])


def read_curve(path: Path) -> list[dict]:
    """Held-out points by step; a resumed run re-logs steps after its checkpoint, so the last line per step wins."""
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    points = {r["step"]: {"step": r["step"], **{k: r[k] for k in CURVES}} for r in rows if "eval_loss" in r}
    return [points[step] for step in sorted(points)]


def plot_curves(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CURVES), figsize=(5 * len(CURVES), 4))
    for name, variant in results["variants"].items():
        steps = [p["step"] for p in variant["curve"]]
        for axis, metric in zip(axes, CURVES):
            axis.plot(steps, [p[metric] for p in variant["curve"]], marker="o", label=name)
    for axis, metric in zip(axes, CURVES):
        axis.set_xlabel("training step")
        axis.set_title(f"held-out MLM {metric.removeprefix('eval_')} (mixed domains)")
        axis.grid(alpha=0.3)
    axes[1].set_yscale("log")
    axes[0].legend()
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)


def results_markdown(results: dict) -> str:
    lines = ["| target | held-out MLM loss | perplexity | top-1 acc. |", "|---|---|---|---|"]
    for name, variant in results["variants"].items():
        f = variant["final"]
        lines.append(f"| {name} | {f['eval_loss']:.3f} | {f['eval_perplexity']:.1f} | {100 * f['eval_top1']:.1f}% |")
    return "\n".join(lines) + "\n"
