"""A stage graph with manifests: each stage's folder gets `manifest.json` (its config as plain data and
the digests of its inputs) when the stage completes, so a rerun skips what is unchanged and redoes
what changed and everything downstream of it.

A stage that starts writes `pending.json` (the manifest it will complete) first: a killed stage
leaves it behind, and the next run with the same config and inputs keeps the folder, so the
stage's own trainer resumes from its checkpoints; a stage whose config or inputs changed starts in
an empty folder, so no trainer resumes from checkpoints of another config.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cohesive.atomic import write_json
from cohesive.errors import CohesiveError
from cohesive.files import read_json
from cohesive.models import model_fingerprint

MANIFEST = "manifest.json"
PENDING = "pending.json"
RUN_PREFIX = "$run"  # stands for the run's folder in manifests, so a moved run folder stays done


@dataclass(frozen=True)
class Stage:
    """One node: `work(options)` does the stage's work (paths already filled) and returns a small
    JSON-able summary; `inputs` are upstream stages, `models` external models whose weights count."""

    name: str
    options: Any
    work: Callable[[Any], dict]
    inputs: tuple[str, ...] = ()
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """A stage's status before a run: done (skipped), stale (done before, redone) or todo."""

    name: str
    status: str
    why: str

    def line(self) -> str:
        return f"{self.name:<24} {self.status:<6} {self.why}"


def plain(value: Any, root: Path) -> Any:
    """A config as JSON data; paths inside the run's folder written relative to it."""
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {key: plain(item, root) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item, root) for item in value]
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        label, sep, rest = value.rpartition("=")  # `NAME=PATH` model labels
        if rest == str(root) or rest.startswith(f"{root}/"):
            return f"{label}{sep}{RUN_PREFIX}{rest[len(str(root)):]}"
    return value


def digest(path: Path) -> str | None:
    """What identifies a finished stage to its consumers: the sha256 of its manifest's bytes."""
    return f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}" if path.is_file() else None


def planned(stage: Stage, root: Path) -> dict:
    """The manifest this stage would complete now (without its summary)."""
    inputs = {name: digest(root / name / MANIFEST) for name in stage.inputs}
    inputs.update({f"model {model}": model_fingerprint(model) for model in stage.models})
    return {"stage": stage.name, "config": plain(stage.options, root), "inputs": inputs}


def _read(path: Path) -> dict | None:
    return read_json(path) if path.is_file() else None


def changes(before: dict, now: dict, defaults: dict) -> str:
    """Why a finished stage is stale, in words: the options and inputs that differ. An option the
    manifest lacks (added to the code since) counts only when it is not at its default, so an
    upgrade does not redo every stage; an option that no longer exists does not count."""
    def differs(key: str) -> bool:
        old = before["config"][key] if key in before["config"] else defaults.get(key, before["config"].get(key))
        return old != now["config"][key]

    options = sorted(key for key in now["config"] if differs(key))
    inputs = sorted(k for k in {*before["inputs"], *now["inputs"]} if before["inputs"].get(k) != now["inputs"].get(k))
    parts = [f"config changed: {', '.join(options)}"] * bool(options)
    parts += [f"input {name} changed" for name in inputs]
    return "; ".join(parts)


def defaults(options: Any, root: Path) -> dict:
    """The option defaults of a stage's config class (none when it has required fields)."""
    try:
        return plain(type(options)(), root)
    except TypeError:
        return {}


def judge(stage: Stage, root: Path, waiting: list[str], forced: bool) -> Step:
    """Done, stale or todo, and why; `waiting` are inputs that will rerun before this stage."""
    done = _read(root / stage.name / MANIFEST)
    if done is None:
        pending = _read(root / stage.name / PENDING)
        resumes = not waiting and pending is not None and pending == planned(stage, root)
        return Step(stage.name, "todo", "resumes an interrupted run" if resumes else "not run yet")
    if forced:
        return Step(stage.name, "stale", "forced")
    if waiting:
        return Step(stage.name, "stale", f"{_names(waiting)} {'reruns' if len(waiting) == 1 else 'rerun'}")
    why = changes(done, planned(stage, root), defaults(stage.options, root))
    return Step(stage.name, "stale", why) if why else Step(stage.name, "done", "config and inputs unchanged")


def _names(inputs: list[str], shown: int = 3) -> str:
    more = f" (+{len(inputs) - shown})" if len(inputs) > shown else ""
    return f"input{'s' * (len(inputs) > 1)} {', '.join(inputs[:shown])}{more}"


def check_names(stages: list[Stage], names: Iterable[str], flag: str) -> set[str]:
    known = [stage.name for stage in stages]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise CohesiveError(f"{flag}: unknown stage(s) {', '.join(unknown)}; stages: {', '.join(known)}")
    return set(names)


def plan(stages: list[Stage], root: Path, force: set[str] = frozenset(), only: set[str] | None = None) -> list[Step]:
    """Every selected stage's status as a run would find it, in order (`--dry-run`)."""
    rerun: set[str] = set()
    steps = []
    for stage in stages:
        if only is not None and stage.name not in only:
            continue
        step = judge(stage, root, [name for name in stage.inputs if name in rerun], stage.name in force)
        if step.status != "done":
            rerun.add(stage.name)
        steps.append(step)
    return steps


def execute(stages: list[Stage], root: Path, force: set[str] = frozenset(), only: set[str] | None = None,
            echo: Callable[[str], None] = print) -> list[Step]:
    """Run the selected stages in order, skipping the done ones; returns what each was found to be."""
    steps = []
    for stage in stages:
        if only is not None and stage.name not in only:
            continue
        step = judge(stage, root, [], stage.name in force)
        steps.append(step)
        if step.status == "done":
            echo(f"{step.line()} -> skipped")
            continue
        _require_inputs(stage, root)
        echo(f"{step.line()} -> running")
        seconds = run_stage(stage, root)
        echo(f"{stage.name:<24} done in {seconds:.0f} s")
    return steps


def _require_inputs(stage: Stage, root: Path) -> None:
    missing = [name for name in stage.inputs if not (root / name / MANIFEST).is_file()]
    if missing:
        raise CohesiveError(f"stage {stage.name} needs {', '.join(missing)}, which has not run: "
                            f"run without --only (or with --only {' '.join(missing)}) first")


def run_stage(stage: Stage, root: Path) -> float:
    """Do the stage's work in its folder (emptied unless it resumes the same run); write the manifest,
    whose finishing time makes every run's digest new, so consumers of a redone stage are redone too."""
    folder = root / stage.name
    manifest = planned(stage, root)
    if (folder / MANIFEST).is_file() or _read(folder / PENDING) not in (None, manifest):
        shutil.rmtree(folder)
    write_json(folder / PENDING, manifest)
    started = time.monotonic()
    summary = stage.work(stage.options)
    seconds = round(time.monotonic() - started, 1)
    write_json(folder / MANIFEST, {**manifest, "summary": summary, "seconds": seconds,
                                   "finished": datetime.now().isoformat(sep=" ", timespec="microseconds")})
    (folder / PENDING).unlink()
    return seconds


def stage_manifests(stages: list[Stage], root: Path) -> dict[str, dict]:
    """The manifests of the finished stages, by name (what the report reads)."""
    return {stage.name: manifest for stage in stages if (manifest := _read(root / stage.name / MANIFEST))}
