"""`cohesive nlu suite`: every model x task, the same options and seeds; one table and one chart.

Writes `results.json`, `results.md` (one row per model, the main metric of each task as mean ± std
over seeds, and the GLUE average: per task the mean of its official metrics, then the mean over
tasks) and `results.png` (grouped bars with std error bars). With `references`, the table also
holds each dev set's majority class and each model's zero-shot STS-B cosine (mean-pooled
embeddings), the floors a fine-tune must clear. The three files are rewritten after every finished
model x task (later cells read `…`), and runs that finished are skipped, so a killed suite resumes
where it stopped and loses nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path

from cohesive.atomic import write_json, write_text, write_with
from cohesive.corpora.glue import task_spec
from cohesive.errors import CohesiveError
from cohesive.files import read_json
from cohesive.models import model_label
from cohesive.nlu.finetune import (
    ADDED_OPTIONS,
    METRIC_NAMES,
    FinetuneOptions,
    NluConfig,
    check_inputs,
    finetune,
    metrics_markdown,
    score,
    shared_options,
    use_threads,
)

log = logging.getLogger(__name__)


@dataclass
class SuiteConfig(FinetuneOptions):
    """`cohesive nlu suite`: models x tasks."""

    models: list[str] = field(default_factory=lambda: ["minilm"])
    tasks: list[str] = field(default_factory=lambda: ["rte", "mrpc", "stsb", "cola"])
    results_dir: Path | None = None  # where results.{json,md,png} go (default: output_dir)
    references: bool = True  # majority-class rows and each model's zero-shot STS-B cosine
    # results.json of earlier suites: their models join the table and chart as measured, not retrained
    measured: list[Path] = field(default_factory=list)

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


#: Options that do not change a fine-tune's scores: reports that differ only in these can share a table.
SCORE_NEUTRAL = {"output_dir", "seeds", "save_steps", "logging_steps", "save_model", "threads", "eval_batch_size"}


def measured_report(path: Path, config: SuiteConfig) -> dict:
    """An earlier suite's report, refused unless it covers this suite's tasks and seeds with the same
    score-changing options — so its rows can stand in one table with the new ones."""
    report = read_json(path, keys=("models", "tasks", "options", "results"))
    missing = [t for t in (task_spec(t).name for t in config.tasks) if t not in report["tasks"]]
    if missing:
        raise CohesiveError(f"measured report {path} has no {', '.join(missing)}: run those tasks in models instead")
    ours = shared_options(config)
    differ = sorted(k for k in ours if k not in SCORE_NEUTRAL and report["options"].get(k, ADDED_OPTIONS.get(k)) != ours[k])
    if differ:
        raise CohesiveError(f"measured report {path} was fine-tuned with other options ({', '.join(differ)}): "
                            "its rows would not compare")
    if report["options"]["seeds"] != ours["seeds"]:
        raise CohesiveError(f"measured report {path} has seeds {report['options']['seeds']}, this suite {ours['seeds']}")
    return report


def with_measured(report: dict, config: SuiteConfig) -> dict:
    """The report with the earlier suites' models first: their results on this suite's tasks and
    their zero-shot references, and where each came from. Each report is read and checked once, here,
    before any training."""
    reports = [(path, measured_report(path, config)) for path in config.measured]
    earlier_names = [n for _, earlier in reports for n in earlier["models"]]
    clashes = sorted({n for n in earlier_names if n in report["models"] or earlier_names.count(n) > 1})
    if clashes:
        raise CohesiveError(f"model name(s) {', '.join(clashes)} appear in more than one measured report or "
                            "in models: name them apart with NAME=PATH")
    for path, earlier in reversed(reports):
        report["models"] = earlier["models"] + report["models"]
        report["results"] = {**{m: {t: earlier["results"][m][t] for t in report["tasks"] if t in earlier["results"][m]}
                                for m in earlier["models"]}, **report["results"]}
        zero_shot = earlier.get("references", {}).get("zero_shot_stsb", {})
        if config.references and "stsb" in report["tasks"] and zero_shot:
            report["references"]["zero_shot_stsb"] = {**zero_shot, **report["references"]["zero_shot_stsb"]}
        report.setdefault("measured", {}).update({m: str(path) for m in earlier["models"]})
    return report


def run_suite(config: SuiteConfig) -> dict:
    """Fine-tune and score every model on every task; write the tables and chart."""
    config.validate()
    use_threads(config)
    tasks = [task_spec(t).name for t in config.tasks]
    runs = [(model, task) for model in config.models for task in tasks]
    names = [model_label(m)[0] for m in config.models]
    report = {"models": names, "tasks": tasks, "options": shared_options(config),
              "results": {name: {} for name in names},
              "references": references(config.models, tasks) if config.references else {}}
    report = with_measured(report, config)
    for number, (model, task) in enumerate(runs, 1):
        log.info("[%d/%d] %s on %s", number, len(runs), model_label(model)[0], task)
        summary = finetune(_run_config(config, model, task))
        report["results"][summary["model"]][task] = summary
        write_report(report, config.results_dir or config.output_dir)
    return report


def references(models: list[str], tasks: list[str]) -> dict:
    """The majority class of each classification task's dev set and, when STS-B is run, each
    model's zero-shot cosine on it."""
    from cohesive.nlu.reference import majority_baseline, zero_shot_stsb

    majority = {t: majority_baseline(t) for t in tasks if not task_spec(t).is_regression}
    zero_shot = {}
    if "stsb" in tasks:
        for model in models:
            name, path = model_label(model)
            log.info("zero-shot STS-B cosine of %s", name)
            zero_shot[name] = zero_shot_stsb(path)
    return {"majority": majority, "zero_shot_stsb": zero_shot}


def write_report(report: dict, target: Path) -> None:
    """results.json, results.md and results.png of what has finished so far."""
    target.mkdir(parents=True, exist_ok=True)
    write_json(target / "results.json", report)
    write_text(target / "results.md", results_markdown(report))
    plot_results(report, target / "results.png")


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


def glue_average(by_task: dict[str, dict], tasks: list[str]) -> float | None:
    """The GLUE score of one model (0-1): per task the mean over seeds of each official metric,
    averaged over the task's metrics, then averaged over the tasks; None until every task has finished."""
    if any(t not in by_task for t in tasks):
        return None
    per_task = [sum(m["mean"] for m in by_task[t]["metrics"].values()) / len(by_task[t]["metrics"]) for t in tasks]
    return sum(per_task) / len(per_task)


def results_markdown(report: dict) -> str:
    """The main table (one row per model, the main metric per task and the GLUE average), then every metric."""
    tasks = report["tasks"]
    lines = [budget_line(report["options"]), "",
             "| model | " + " | ".join(column_title(t) for t in tasks) + " | GLUE avg. |",
             "|---|" + "---|" * (len(tasks) + 1)]
    lines += reference_rows(report.get("references", {}), tasks)
    for model, by_task in report["results"].items():
        cells = [score(by_task[t]["metrics"][by_task[t]["main_metric"]]) if t in by_task else "…" for t in tasks]
        average = glue_average(by_task, tasks)
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {'…' if average is None else f'{100 * average:.1f}'} |")
    summaries = [s for by_task in report["results"].values() for s in by_task.values()]
    lines += ["", GLUE_AVERAGE_NOTE, *measured_note(report.get("measured", {}))]
    return "\n".join(lines) + "\n\nAll metrics:\n\n" + metrics_markdown(summaries)


def measured_note(measured: dict[str, str]) -> list[str]:
    """Which rows were read back from earlier suites (same options and seeds), one sentence per report."""
    by_report: dict[str, list[str]] = {}
    for model, path in measured.items():
        by_report.setdefault(path, []).append(model)
    return ["", *(f"Rows {', '.join(models)}: measured earlier with the same options and seeds, read from `{path}`."
                  for path, models in by_report.items())] if by_report else []


def reference_rows(refs: dict, tasks: list[str]) -> list[str]:
    """`majority class (dev)` and `<model>: zero-shot cosine` rows; `—` where a reference does not apply."""
    rows = []
    if refs.get("majority"):
        cells = [f"{100 * refs['majority'][t][task_spec(t).main_metric]:.1f}" if t in refs["majority"] else "—"
                 for t in tasks]
        rows.append("| majority class (dev) | " + " | ".join(cells) + " | — |")
    for model, metrics in refs.get("zero_shot_stsb", {}).items():
        cells = [f"{100 * metrics['spearman']:.1f}" if t == "stsb" else "—" for t in tasks]
        rows.append(f"| {model}: zero-shot cosine, no training | " + " | ".join(cells) + " | — |")
    return rows


def plot_results(report: dict, path: Path) -> None:
    """Grouped bars: one group per task (its main metric), one bar per model, std as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks, models = report["tasks"], report["models"]
    width = 0.8 / len(models)
    fig, axis = plt.subplots(figsize=(max(5.0, 1.6 * len(tasks) * max(1, len(models) / 2)), 4))
    for index, model in enumerate(models):
        done = [i for i, t in enumerate(tasks) if t in report["results"][model]]
        mains = [report["results"][model][tasks[i]]["metrics"][task_spec(tasks[i]).main_metric] for i in done]
        positions = [i + (index - (len(models) - 1) / 2) * width for i in done]
        axis.bar(positions, [100 * m["mean"] for m in mains], width, yerr=[100 * m["std"] for m in mains],
                 capsize=3, label=model)
    axis.set_xticks(range(len(tasks)), [column_title(t) for t in tasks])
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_ylabel("dev score x100 (mean ± std over seeds)")
    axis.set_title(f"GLUE dev, {len(report['options']['seeds'])} seed(s) per bar")
    axis.grid(axis="y", alpha=0.3)
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(len(models), 4), frameon=False)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
