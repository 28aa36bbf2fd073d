"""`cohesive nlu suite`: every model x task, the same options and seeds; one table and one chart.

Writes `results.json`, `results.md` (one row per model, the main metric of each task as mean ± std
over seeds, and the GLUE average: per task the mean of its official metrics, then the mean over
tasks) and `results.png` (grouped bars with std error bars). Runs that
finished are skipped, so a killed suite resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path

from cohesive.corpora.glue import task_spec
from cohesive.errors import CohesiveError
from cohesive.nlu.finetune import (
    METRIC_NAMES,
    FinetuneOptions,
    NluConfig,
    check_inputs,
    finetune,
    metrics_markdown,
    model_label,
    score,
    shared_options,
)

log = logging.getLogger(__name__)


@dataclass
class SuiteConfig(FinetuneOptions):
    """`cohesive nlu suite`: models x tasks."""

    models: list[str] = field(default_factory=lambda: ["minilm"])
    tasks: list[str] = field(default_factory=lambda: ["rte", "mrpc", "stsb", "cola"])
    results_dir: Path | None = None  # where results.{json,md,png} go (default: output_dir)

    def validate(self) -> None:
        super().validate()
        if not self.models or not self.tasks:
            raise CohesiveError("the suite needs at least one model and one task (--models ..., --tasks ...)")
        names = [model_label(m)[0] for m in self.models]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise CohesiveError(f"models share the name(s) {', '.join(repeated)}: name them with NAME=PATH")
        tasks = [task_spec(t).name for t in self.tasks]
        if len(set(tasks)) != len(tasks):
            raise CohesiveError(f"tasks repeat: {', '.join(self.tasks)}")
        check_inputs(self.models, tasks)


def run_suite(config: SuiteConfig) -> dict:
    """Fine-tune and score every model on every task; write the tables and chart."""
    config.validate()
    tasks = [task_spec(t).name for t in config.tasks]
    runs = [(model, task) for model in config.models for task in tasks]
    results: dict[str, dict[str, dict]] = {}
    for number, (model, task) in enumerate(runs, 1):
        log.info("[%d/%d] %s on %s", number, len(runs), model_label(model)[0], task)
        summary = finetune(_run_config(config, model, task))
        results.setdefault(summary["model"], {})[task] = summary
    report = {"models": list(results), "tasks": tasks, "options": shared_options(config), "results": results}
    target = config.results_dir or config.output_dir
    target.mkdir(parents=True, exist_ok=True)
    (target / "results.json").write_text(json.dumps(report, indent=2))
    (target / "results.md").write_text(results_markdown(report))
    plot_results(report, target / "results.png")
    return report


def _run_config(config: SuiteConfig, model: str, task: str) -> NluConfig:
    shared = {f.name: getattr(config, f.name) for f in fields(FinetuneOptions)}
    return NluConfig(model=model, task=task, **shared)


def column_title(task: str) -> str:
    spec = task_spec(task)
    return f"{spec.folder} {METRIC_NAMES[spec.main_metric]}"


def budget_line(options: dict) -> str:
    """The seeds and training budget behind a table, in one sentence."""
    seeds = ", ".join(map(str, options["seeds"]))
    steps = f"max_steps {options['max_steps']}" if options["max_steps"] > 0 else f"{options['epochs']:g} epochs"
    limit = options["max_train_examples"]
    examples = "all training examples" if limit is None else \
        f"at most {limit} training examples per task (a subsample drawn with each seed)"
    return (f"GLUE dev scores x100, mean ± std over seeds {seeds}; {steps}, {examples}; batch {options['batch_size']}, "
            f"lr {options['learning_rate']:g}, max length {options['max_length']}.")


GLUE_AVERAGE_NOTE = ("GLUE avg.: per task the mean of its official metrics (MRPC: F1 and accuracy, STS-B: Pearson "
                     "and Spearman, QQP: F1 and accuracy, the others their single metric), then the mean over the "
                     "tasks, as the GLUE leaderboard averages.")


def glue_average(by_task: dict[str, dict], tasks: list[str]) -> float:
    """The GLUE score of one model (0-1): per task the mean over seeds of each official metric,
    averaged over the task's metrics, then averaged over the tasks."""
    per_task = [sum(m["mean"] for m in by_task[t]["metrics"].values()) / len(by_task[t]["metrics"]) for t in tasks]
    return sum(per_task) / len(per_task)


def results_markdown(report: dict) -> str:
    """The main table (one row per model, the main metric per task and the GLUE average), then every metric."""
    tasks = report["tasks"]
    lines = [budget_line(report["options"]), "",
             "| model | " + " | ".join(column_title(t) for t in tasks) + " | GLUE avg. |",
             "|---|" + "---|" * (len(tasks) + 1)]
    for model, by_task in report["results"].items():
        mains = [by_task[t]["metrics"][by_task[t]["main_metric"]] for t in tasks]
        lines.append(f"| {model} | " + " | ".join(score(m) for m in mains) + f" | {100 * glue_average(by_task, tasks):.1f} |")
    summaries = [s for by_task in report["results"].values() for s in by_task.values()]
    return "\n".join([*lines, "", GLUE_AVERAGE_NOTE]) + "\n\nAll metrics:\n\n" + metrics_markdown(summaries)


def plot_results(report: dict, path: Path) -> None:
    """Grouped bars: one group per task (its main metric), one bar per model, std as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks, models = report["tasks"], report["models"]
    width = 0.8 / len(models)
    fig, axis = plt.subplots(figsize=(max(5.0, 1.6 * len(tasks) * max(1, len(models) / 2)), 4))
    for index, model in enumerate(models):
        mains = [report["results"][model][t]["metrics"][task_spec(t).main_metric] for t in tasks]
        positions = [i + (index - (len(models) - 1) / 2) * width for i in range(len(tasks))]
        axis.bar(positions, [100 * m["mean"] for m in mains], width, yerr=[100 * m["std"] for m in mains],
                 capsize=3, label=model)
    axis.set_xticks(range(len(tasks)), [column_title(t) for t in tasks])
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_ylabel("dev score x100 (mean ± std over seeds)")
    axis.set_title(f"GLUE dev, {len(report['options']['seeds'])} seed(s) per bar")
    axis.grid(axis="y", alpha=0.3)
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(len(models), 4), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
