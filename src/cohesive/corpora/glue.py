"""GLUE task readers on the standard tsv distribution (`$COHESIVE_DATA/glue/<Folder>/{train,dev}.tsv`).

Each task is one :class:`TaskSpec` row: where its files are, which columns hold the text and the
label, and which official metrics score it. Files are read with quoting off (`csv.QUOTE_NONE`):
GLUE sentences contain bare `"` characters that a quoting reader would swallow across lines.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cohesive.errors import DataError
from cohesive.files import read_text
from cohesive.paths import data_root

log = logging.getLogger(__name__)
SPLITS = ("train", "dev")
Column = str | int  # a header name, or an index for header-less files (CoLA)


@dataclass(frozen=True)
class TaskSpec:
    """One GLUE task: its files, columns, labels (None = regression) and official metrics."""

    name: str
    folder: str
    text_columns: tuple[Column, ...]
    label_column: Column
    labels: tuple[str, ...] | None
    metrics: tuple[str, ...]
    main_metric: str
    header: bool = True
    dev_file: str = "dev.tsv"
    tokenised: bool = False  # Penn-Treebank tokenised text (`word , word`)
    skip_malformed: bool = False  # QQP's train file has a few truncated rows; GLUE's own loader skips them

    @property
    def is_regression(self) -> bool:
        return self.labels is None


BINARY = ("0", "1")
ENTAILMENT = ("entailment", "not_entailment")
TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in [
    TaskSpec("cola", "CoLA", (3,), 1, BINARY, ("mcc",), "mcc", header=False),
    TaskSpec("sst2", "SST-2", ("sentence",), "label", BINARY, ("accuracy",), "accuracy", tokenised=True),
    TaskSpec("mrpc", "MRPC", ("#1 String", "#2 String"), "Quality", BINARY, ("f1", "accuracy"), "f1",
             tokenised=True),
    TaskSpec("stsb", "STS-B", ("sentence1", "sentence2"), "score", None, ("pearson", "spearman"), "spearman"),
    TaskSpec("rte", "RTE", ("sentence1", "sentence2"), "label", ENTAILMENT, ("accuracy",), "accuracy"),
    TaskSpec("wnli", "WNLI", ("sentence1", "sentence2"), "label", BINARY, ("accuracy",), "accuracy"),
    TaskSpec("mnli", "MNLI", ("sentence1", "sentence2"), "gold_label", ("contradiction", "entailment", "neutral"),
             ("accuracy",), "accuracy", dev_file="dev_matched.tsv"),
    TaskSpec("qqp", "QQP", ("question1", "question2"), "is_duplicate", BINARY, ("f1", "accuracy"), "f1",
             skip_malformed=True),
    TaskSpec("qnli", "QNLI", ("question", "sentence"), "label", ENTAILMENT, ("accuracy",), "accuracy"),
]}


@dataclass(frozen=True)
class GlueExample:
    """One sentence (`text_b` None) or sentence pair with its label index or regression score."""

    text_a: str
    text_b: str | None
    label: int | float


def task_spec(name: str) -> TaskSpec:
    """`cola`, `CoLA`, `sst-2`, `STS-B` ... -> the task's spec."""
    key = name.strip().lower().replace("-", "").replace("_", "")
    if key not in TASKS:
        raise DataError(f"unknown GLUE task {name!r}; choose from {', '.join(TASKS)}")
    return TASKS[key]


def glue_root() -> Path:
    return data_root() / "glue"


def split_path(task: str, split: str) -> Path:
    """Where a split's file belongs (whether or not it is there)."""
    if split not in SPLITS:
        raise DataError(f"unknown GLUE split {split!r}; choose from {', '.join(SPLITS)}")
    spec = task_spec(task)
    return glue_root() / spec.folder / ("train.tsv" if split == "train" else spec.dev_file)


def split_file(task: str, split: str) -> Path:
    """A split's file, which must be there."""
    path = split_path(task, split)
    if not path.is_file():
        raise DataError(f"{path} not found; set $COHESIVE_DATA or run `make data` (GLUE layout: docs/DATA.md)")
    return path


def read_split(task: str, split: str) -> list[GlueExample]:
    """Every labelled example of a task's train or dev file, in file order."""
    spec = task_spec(task)
    path = split_file(task, split)
    columns = _columns(spec, path)
    return [_example(spec, columns, f"{path}:{number}", row) for number, row in _rows(spec, path, columns, True)]


def read_texts(task: str, split: str = "train") -> Iterator[tuple[str, ...]]:
    """The text columns of each row, stripped, labels not parsed (an absent column reads as "")."""
    spec = task_spec(task)
    path = split_file(task, split)
    columns = _columns(spec, path)
    for _, row in _rows(spec, path, columns, False):
        yield tuple(row[i].strip() if i < len(row) else "" for i in columns.text)


@dataclass(frozen=True)
class _Columns:
    text: tuple[int, ...]
    label: int


def _columns(spec: TaskSpec, path: Path) -> _Columns:
    """Indices of the text and label columns (looked up by name in the header)."""
    if not spec.header:
        return _Columns(tuple(int(c) for c in spec.text_columns), int(spec.label_column))
    header = next(_tsv(path), [])
    missing = [str(c) for c in (*spec.text_columns, spec.label_column) if c not in header]
    if missing:
        raise DataError(f"{path}: header lacks column(s) {', '.join(missing)}")
    return _Columns(tuple(header.index(c) for c in spec.text_columns), header.index(spec.label_column))


def _rows(spec: TaskSpec, path: Path, columns: _Columns, strict: bool) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each data row; when `strict`, a row lacking a needed column is
    skipped (QQP) or refused."""
    needed = max(*columns.text, columns.label) + 1
    skipped = 0
    rows = _tsv(path)
    if spec.header:
        next(rows, None)
    for row in rows:
        if strict and len(row) < needed:
            if not spec.skip_malformed:
                raise DataError(f"{path}:{rows.line_num}: {len(row)} columns, expected at least {needed}")
            skipped += 1
            continue
        yield rows.line_num, row
    if skipped:
        log.warning("%s: skipped %d malformed rows", path, skipped)


def _tsv(path: Path):
    """A csv reader over the file's UTF-8 text (a non-UTF-8 or unreadable file is one error line)."""
    return csv.reader(io.StringIO(read_text(path), newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)


def _example(spec: TaskSpec, columns: _Columns, where: str, row: list[str]) -> GlueExample:
    texts = [row[i].strip() for i in columns.text]
    raw = row[columns.label].strip()
    if spec.labels is None:
        try:
            label: int | float = float(raw)
        except ValueError:
            raise DataError(f"{where}: score {raw!r} is not a number") from None
    elif raw in spec.labels:
        label = spec.labels.index(raw)
    else:
        raise DataError(f"{where}: label {raw!r} is not one of {', '.join(spec.labels)}")
    return GlueExample(texts[0], texts[1] if len(texts) > 1 else None, label)
