"""The import layering of `cohesive.wsd` (and of the packages around it): every import, including the
ones inside functions, points to a lower layer, so no cycle can hide behind a lazy import."""

from __future__ import annotations

import ast
from pathlib import Path

import cohesive

SRC = Path(cohesive.__file__).parent
#: Lowest first; a module may import only modules listed before it.
WSD_LAYERS = ["scorer", "tagger", "types", "baselines", "data", "modeling", "glossbank", "prior", "inference",
              "evaluate", "train", "disambiguate", "cli"]
#: Sub-packages and top modules of `cohesive`, lowest first (same rule).
PACKAGE_LAYERS = ["errors", "atomic", "paths", "sampling", "config", "models", "pretrained", "lexicon", "corpora",
                  "distill", "wsd", "nlu", "paraphrase", "serve", "pipeline", "cli", "__init__"]


def imported_modules(path: Path) -> set[str]:
    """Every `cohesive...` module that `path` imports, at any depth of its syntax tree."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)  # `from cohesive.wsd import cli`
    return {n for n in names if n.startswith("cohesive.")}


def layer_violations(layers: list[str], files: dict[str, Path], owner: str, level) -> list[str]:
    """`owner.A -> owner.B` for every module A that imports a module B of its own or a higher layer."""
    rank = {name: i for i, name in enumerate(layers)}
    found = set()
    for name, path in files.items():
        for module in imported_modules(path):
            target = level(module)
            if target is not None and target != name and rank[target] >= rank[name]:
                found.add(f"{owner}{name} -> {owner}{target}")
    return sorted(found)


def test_every_wsd_module_has_a_layer():
    assert {p.stem for p in (SRC / "wsd").glob("*.py")} - {"__init__"} == set(WSD_LAYERS)


def test_wsd_modules_import_only_lower_layers():
    def wsd_module(module: str) -> str | None:
        parts = module.split(".")
        return parts[2] if len(parts) > 2 and parts[1] == "wsd" and parts[2] in WSD_LAYERS else None

    files = {p.stem: p for p in (SRC / "wsd").glob("*.py") if p.stem != "__init__"}
    assert layer_violations(WSD_LAYERS, files, "wsd.", wsd_module) == []


def test_packages_import_only_lower_packages():
    files = {}
    for name in PACKAGE_LAYERS:
        folder = SRC / name
        paths = list(folder.rglob("*.py")) if folder.is_dir() else [SRC / f"{name}.py"]
        for index, path in enumerate(paths):
            files[(name, index)] = path
    rank = {name: i for i, name in enumerate(PACKAGE_LAYERS)}
    violations = []
    for (name, _), path in files.items():
        for module in imported_modules(path):
            target = module.split(".")[1]
            if target in rank and target != name and rank[target] >= rank[name]:
                violations.append(f"{path.relative_to(SRC)} imports {module}")
    assert violations == []


def test_the_checker_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "prior.py"
    module.write_text("def f():\n    from cohesive.wsd.inference import load_predictor\n")
    assert layer_violations(WSD_LAYERS, {"prior": module}, "wsd.",
                            lambda m: m.split(".")[2] if m.count(".") >= 2 and m.split(".")[2] in WSD_LAYERS else None
                            ) == ["wsd.prior -> wsd.inference"]
