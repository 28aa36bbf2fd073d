"""One report of a pipeline run: `report.md` (figures beside it) and a self-contained `report.html`
(the same tables, the PNGs embedded as data URIs, so the file can be mailed or opened offline).

It reads what the stages wrote (their manifests' summaries and their own tables and plots) and
computes nothing new; a stage that has not run shows as such instead of failing the report.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from cohesive.atomic import write_bytes, write_text
from cohesive.pipeline.graph import MANIFEST

FIGURES = "figures"


@dataclass
class Section:
    """A titled part of the report: Markdown blocks (paragraphs and tables) and figures."""

    key: str
    title: str
    blocks: list[str] = field(default_factory=list)
    figures: list[tuple[str, Path]] = field(default_factory=list)  # (caption, PNG)


def _manifest(run_dir: Path, stage: str) -> dict | None:
    path = run_dir / stage / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def _missing(stage: str) -> str:
    return f"*Stage `{stage}` has not run.*"


def teachers_section(run_dir: Path) -> Section:
    from cohesive.distill.teachers import MANIFEST as TEACHERS
    from cohesive.distill.teachers import heldout_table

    section = Section("teachers", "Teachers: held-out masked-LM loss / top-1 per domain")
    path = run_dir / "teachers" / TEACHERS
    section.blocks.append(heldout_table(json.loads(path.read_text())) if _manifest(run_dir, "teachers") else
                          _missing("teachers"))
    return section


def distillation_section(run_dir: Path) -> Section:
    section = Section("distillation", "Distilled student: held-out curves")
    done = _manifest(run_dir, "student")
    if not done:
        return Section(section.key, section.title, [_missing("student")])
    final = done["summary"]["final"]
    section.blocks.append("| student | held-out MLM loss | perplexity | top-1 |\n|---|---|---|---|\n"
                          f"| {done['config']['confidence']}-weighted, {done['config']['max_steps']} steps | "
                          f"{final['eval_loss']:.3f} | {final['eval_perplexity']:.1f} | {100 * final['eval_top1']:.1f}% |")
    section.figures.append(("held-out MLM curves of the distilled student", run_dir / "student" / "curves.png"))
    return section


def wsd_section(run_dir: Path) -> Section:
    section = Section("wsd", "WSD: LMGC-M models on the Raganato framework (F1 %)")
    done = _manifest(run_dir, "wsd")
    if not done:
        return Section(section.key, section.title, [_missing("wsd")])
    datasets = [Path(d).name for d in done["summary"]["datasets"]]
    rows = [f"| {system} | " + " | ".join(f"{f1:.1f}" for f1 in scores.values()) + " |"
            for system, scores in done["summary"]["f1"].items()]
    section.blocks.append("\n".join([f"| model | {' | '.join(datasets)} |", "|---|" + "---|" * len(datasets), *rows]))
    return section


#: (encoder before LMGC-M, the same encoder after) in the forgetting table.
PAIRS = (("minilm-mlm", "lmgcm-base"), ("student", "lmgcm-student"))


def forgetting_section(run_dir: Path) -> Section:
    section = Section("forgetting", "Forgetting check: held-out MLM before and after LMGC-M")
    done = _manifest(run_dir, "forgetting")
    if not done:
        return Section(section.key, section.title, [_missing("forgetting")])
    rows = {row["model"]: row for row in done["summary"]["rows"]}
    lines = ["| encoder | MLM loss before | after | top-1 before | after |", "|---|---|---|---|---|"]
    lines += [f"| {before} -> {after} | {rows[before]['loss']:.3f} | {rows[after]['loss']:.3f} | "
              f"{100 * rows[before]['top1']:.1f}% | {100 * rows[after]['top1']:.1f}% |" for before, after in PAIRS]
    section.blocks += ["Same held-out passages and masks for every model; LMGC-M keeps an MLM loss so that the "
                       "encoder should not forget its language model.", "\n".join(lines)]
    return section


def glue_section(run_dir: Path) -> Section:
    section = Section("glue", "GLUE dev sets, one row per backbone")
    if not _manifest(run_dir, "glue"):
        return Section(section.key, section.title, [_missing("glue")])
    section.blocks += _blocks((run_dir / "glue" / "results.md").read_text())
    section.figures.append(("GLUE dev scores per task and backbone", run_dir / "glue" / "results.png"))
    return section


def paraphrase_section(run_dir: Path) -> Section:
    section = Section("paraphrase", "Machine-paraphrase detection, one detector per backbone")
    done = _manifest(run_dir, "paraphrase-eval")
    if not done:
        return Section(section.key, section.title, [_missing("paraphrase-eval")])
    folder = run_dir / "paraphrase-eval"
    section.blocks += _blocks((folder / "paraphrase.md").read_text())
    section.figures += [(f"{name}: macro-F1 per domain x generator", folder / f"{name}.png") for name in done["summary"]]
    return section


def stages_section(run_dir: Path, stages: list[str]) -> Section:
    manifests = {name: m for name in stages if (m := _manifest(run_dir, name))}
    lines = ["| stage | wall time (s) | finished |", "|---|---|---|"]
    lines += [f"| {name} | {m['seconds']:.0f} | {m['finished'][:19]} |" for name, m in manifests.items()]
    total = sum(m["seconds"] for m in manifests.values())
    return Section("stages", "Stages", [f"{len(manifests)} stages, {total / 60:.1f} min of stage time in all "
                                        "(each stage's last run).", "\n".join(lines)])


def _blocks(markdown: str) -> list[str]:
    return [block.strip() for block in markdown.split("\n\n") if block.strip()]


def sections(run_dir: Path, stages: list[str]) -> list[Section]:
    return [teachers_section(run_dir), distillation_section(run_dir), wsd_section(run_dir),
            forgetting_section(run_dir), glue_section(run_dir), paraphrase_section(run_dir),
            stages_section(run_dir, stages)]


def render_markdown(title: str, parts: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for part in parts:
        lines += [f"## {part.title}", ""]
        for block in part.blocks:
            lines += [block, ""]
        lines += [f"![{caption}]({FIGURES}/{part.key}-{path.name})" for caption, path in part.figures if path.is_file()]
        lines += [""] * bool(part.figures)
    return "\n".join(lines).rstrip() + "\n"


def _inline(text: str) -> str:
    """Escaped text with Markdown's `**bold**`, `*italic*` and `code` as HTML."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"\*(.+?)\*", r"<em>\1</em>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def block_html(block: str) -> str:
    """A Markdown table (header, `|---|` rule, rows) as an HTML table; any other block as a paragraph."""
    lines = block.splitlines()
    if not lines[0].startswith("|"):
        return f"<p>{_inline(' '.join(lines))}</p>"
    head = "".join(f"<th>{_inline(c)}</th>" for c in _cells(lines[0]))
    rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(line)) + "</tr>" for line in lines[2:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _figure_html(caption: str, path: Path) -> str:
    if not path.is_file():
        return f"<p><em>{html.escape(caption)}: no plot ({html.escape(path.name)} missing)</em></p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}img{max-width:100%}
figure{margin:1em 0}figcaption{color:#666;font-size:90%}section{margin-bottom:2.5em}"""


def render_html(title: str, parts: list[Section]) -> str:
    body = []
    for part in parts:
        inner = [block_html(block) for block in part.blocks] + [_figure_html(c, p) for c, p in part.figures]
        body.append(f'<section id="{part.key}"><h2>{html.escape(part.title)}</h2>{"".join(inner)}</section>')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(options) -> dict:
    """report.md (+ figures/) and report.html in `results_dir`; returns their paths."""
    parts = sections(options.run_dir, options.stages)
    results = Path(options.results_dir)
    for part in parts:
        for _, path in part.figures:
            if path.is_file():
                write_bytes(results / FIGURES / f"{part.key}-{path.name}", path.read_bytes())
    write_text(results / "report.md", render_markdown(options.title, parts))
    write_text(results / "report.html", render_html(options.title, parts))
    return {"html": str(results / "report.html"), "markdown": str(results / "report.md")}
