"""What each stage does: the existing stage function on its filled config, then a small summary for
the manifest (the report reads these summaries and the files the stage functions write)."""

from __future__ import annotations

from pathlib import Path


def teachers(options) -> dict:
    from cohesive.distill.teachers import build_teachers

    return {"teachers": [t["name"] for t in build_teachers(options)["teachers"]]}


def cache(options) -> dict:
    from cohesive.distill.cache import build_cache_stage

    return build_cache_stage(options)


def student(options) -> dict:
    """The distilled student, plus a plot of its held-out curves."""
    from cohesive.distill.compare import CURVES, read_curve
    from cohesive.distill.train import train_student

    final = train_student(options)
    curve = read_curve(options.output_dir / "metrics.jsonl")
    plot_curve(curve, CURVES, options.output_dir.parent / "curves.png")
    return {"final": final, "curve": curve}


def plot_curve(curve: list[dict], metrics: tuple[str, ...], path: Path) -> None:
    """One panel per held-out metric against the training step (compare.py plots several students)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cohesive.atomic import write_with

    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        axis.plot([p["step"] for p in curve], [p[metric] for p in curve], marker="o")
        axis.set_xlabel("training step")
        axis.set_title(f"held-out MLM {metric.removeprefix('eval_')}")
        axis.grid(alpha=0.3)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def lmgcm(options) -> dict:
    from cohesive.wsd.train import train

    summary = train(options)
    return {key: summary[key] for key in ("steps", "pairs", "train_seconds", "results")}


def label(model_dir: Path) -> str:
    """A pipeline model's name in tables: its stage (the folder above `model/`)."""
    return Path(model_dir).parent.name


def wsd(options) -> dict:
    """F1 of each LMGC-M model, its rows named after its stage."""
    from cohesive.wsd.evaluate import evaluate_model, model_name

    scores = {}
    for model in options.models:
        results = evaluate_model(model, options.datasets, options.output_dir / label(model), options.batch_pairs,
                                 dev=options.dev)
        scores.update({system.replace(model_name(model), label(model), 1): f1 for system, f1 in results.items()})
    return {"datasets": options.datasets, "f1": scores}


def forgetting(options) -> dict:
    """Held-out MLM loss/top-1 of each encoder before and after LMGC-M, on the same masks."""
    from cohesive.distill.heldout import evaluate_models

    names = {str(model): Path(model).name if Path(model).name != "model" else label(model) for model in options.models}
    return {"rows": [{**row, "model": names[row["model"]]} for row in evaluate_models(options)]}


def glue(options) -> dict:
    from cohesive.nlu.suite import run_suite

    report = run_suite(options)
    return {"models": report["models"], "tasks": report["tasks"]}


def paraphrase_corpus(options) -> dict:
    from cohesive.paraphrase.corpus import build_corpus

    manifest = build_corpus(options)
    return {"train_cell": manifest["train_cell"], "cells": len(manifest["cells"])}


def detector(options) -> dict:
    from cohesive.paraphrase.train import train_detector

    info = train_detector(options)
    return {key: info.get(key) for key in ("kind", "threshold", "validation", "train_seconds")}


def paraphrase_eval(options) -> dict:
    from cohesive.paraphrase.evaluate import evaluate_detectors

    results = evaluate_detectors(options)
    return {name: {key: d[key] for key in ("mean_macro_f1", "unseen_macro_f1", "mean_recall_at_fpr")}
            for name, d in results["detectors"].items()}


def report(options) -> dict:
    from cohesive.pipeline.report import write_report

    return write_report(options)
