"""One dataclass per stage, loaded from YAML under `configs/` and overridden from the command line."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from cohesive.atomic import write_text
from cohesive.errors import CohesiveError
from cohesive.files import check_output_dir, check_output_file

C = TypeVar("C")


#: Option names that are output folders / an output file, by convention in every stage's config:
#: `load_config` checks them before any work starts, so a run never fails at its end for want of a place to write.
OUTPUT_DIRS = ("output_dir", "results_dir")
OUTPUT_FILES = ("output",)


def load_config(cls: type[C], path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> C:
    """Build `cls` from a YAML file (optional) and `key: value` overrides; unknown keys are errors,
    and output folders/files that cannot be written are refused here, before any work."""
    values: dict[str, Any] = {}
    if path is not None:
        values.update(relative_to(Path(path).parent, read_yaml(Path(path)), cls))
    values.update(overrides or {})
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise CohesiveError(f"unknown {cls.__name__} option(s): {', '.join(unknown)}; known: {', '.join(known)}")
    hints = typing.get_type_hints(cls)
    config = cls(**{k: _coerce(v, hints[k], k) for k, v in values.items()})
    _check_outputs(config)
    return config


def relative_to(folder: Path, values: dict[str, Any], cls: type) -> dict[str, Any]:
    """Relative paths written in a config file are relative to the file's folder, so a config works
    from any directory: every value of a path option, and every string value that starts with `./`
    or `../` (a local model folder among hub ids and `minilm`; `NAME=../path` labels too)."""
    hints = typing.get_type_hints(cls)
    return {key: _rebased(folder, value, _is_path(hints.get(key))) for key, value in values.items()}


def _is_path(hint: Any) -> bool:
    return hint is Path or any(_is_path(arg) for arg in typing.get_args(hint))


def _rebased(folder: Path, value: Any, is_path: bool) -> Any:
    if isinstance(value, list):
        return [_rebased(folder, item, is_path) for item in value]
    if isinstance(value, dict):  # nested options (e.g. per-student overrides): strings by the ./ ../ rule
        return {key: _rebased(folder, item, False) for key, item in value.items()}
    if not isinstance(value, str) or not value:
        return value
    label, sep, rest = value.rpartition("=") if not is_path else ("", "", value)
    if (is_path or rest.startswith(("./", "../"))) and not Path(rest).expanduser().is_absolute():
        return f"{label}{sep}{_local(os.path.normpath(folder / rest), is_path)}"
    return value


def _check_outputs(config: Any) -> None:
    for name in OUTPUT_DIRS + OUTPUT_FILES:
        value = getattr(config, name, None)
        if isinstance(value, (str, Path)) and str(value):
            (check_output_dir if name in OUTPUT_DIRS else check_output_file)(value)


def cli_overrides(flags: dict[str, Any], sets: list[str] | None) -> dict[str, Any]:
    """Options given as flags (None = flag not given, so not an override) plus `--set KEY=VALUE` ones
    (where `null` is a real value, e.g. `--set dev=null`)."""
    return {**{k: v for k, v in flags.items() if v is not None}, **parse_overrides(sets)}


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """`["lr=1e-4", "datasets=[SE07,ALL]"]` -> `{"lr": 1e-4, "datasets": ["SE07", "ALL"]}` (YAML scalars)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise CohesiveError(f"override {pair!r} is not KEY=VALUE")
        try:
            out[key.strip().replace("-", "_")] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise CohesiveError(f"override {pair!r}: the value is not valid YAML ({problem})") from None
    return out


def dump_config(config: Any, path: Path) -> None:
    """Write a config next to the results it produced, so every run can be repeated; its paths are
    written relative to the file's folder (as `load_config` reads them), so it works from anywhere."""
    write_text(path, config_text(config, Path(path).parent))


def config_text(config: Any, folder: Path) -> str:
    """The YAML `dump_config` writes into `folder` (equal texts: the same run)."""
    hints = typing.get_type_hints(type(config))
    rebased = {key: _relocated(value, folder.absolute(), _is_path(hints.get(key)))
               for key, value in dataclasses.asdict(config).items()}
    return yaml.safe_dump(_plain(rebased), sort_keys=False)


def _relocated(value: Any, folder: Path, is_path: bool) -> Any:
    """The inverse of `_rebased`: a path as seen from `folder`."""
    if isinstance(value, list):
        return [_relocated(item, folder, is_path) for item in value]
    if isinstance(value, dict):
        return {key: _relocated(item, folder, False) for key, item in value.items()}
    if not isinstance(value, (str, Path)) or not str(value):
        return value
    label, sep, rest = ("", "", str(value)) if is_path else str(value).rpartition("=")
    if is_path or rest.startswith(("./", "../")):
        return f"{label}{sep}{_local(os.path.relpath(Path(rest).absolute(), folder), is_path)}"
    return value


def _local(path: str, is_path: bool) -> str:
    """A relative path in a string option keeps a leading `./` so it still reads as a local folder."""
    return path if is_path or path.startswith(("/", "./", "../")) else f"./{path}"


def read_yaml(path: Path) -> dict[str, Any]:
    """A config file's mapping of options, as written (paths not yet rebased); one error line if unusable."""
    if not path.is_file():
        raise CohesiveError(f"config file {path} not found")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise CohesiveError(f"config file {path} is not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise CohesiveError(f"config file {path} is not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(loaded, dict):
        raise CohesiveError(f"config file {path} must hold a mapping of options")
    return loaded


def _coerce(value: Any, hint: Any, name: str) -> Any:
    """Apply the light conversions YAML and the CLI need (str -> Path, scalar -> list, int -> float)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Path:
        if not isinstance(value, (str, Path)) or not str(value):
            raise CohesiveError(f"option {name}={value!r} should be a path")
        return Path(value)
    if origin is dict and not isinstance(value, dict):
        raise CohesiveError(f"option {name}={value!r} should be a mapping, e.g. {{key: value}}")
    if origin in (list, tuple):
        items = value if isinstance(value, (list, tuple)) else [value]
        return [_coerce(v, args[0], name) for v in items] if args else list(items)
    if hint in (int, float) and isinstance(value, str):
        value = _number(value, hint, name)  # YAML 1.1 reads `1e-4` as a string
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):  # bool is an int to Python, not to a user
        raise CohesiveError(f"option {name}={value!r} should be {hint.__name__}")
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise CohesiveError(f"option {name}={value!r} should be {hint.__name__}")
    return value


def _number(text: str, kind: type, name: str) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise CohesiveError(f"option {name}={text!r} should be {kind.__name__}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value
