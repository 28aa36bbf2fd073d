"""Reading the user's files and checking output paths, with every expected failure as one line.

Every command reads JSON, JSON lines, text and safetensors files through these helpers, so a
missing, unreadable, non-UTF-8, malformed or truncated file is a `CohesiveError` naming the file
(the CLI prints it and exits 2) instead of a traceback. Outputs are checked before any work starts.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cohesive.errors import CohesiveError

#: How much of a bad line an error message quotes.
QUOTE = 80


STDIN = "-"


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes; `-` reads standard input (so text can be piped into a command)."""
    if str(path) == STDIN:
        return sys.stdin.buffer.read()
    path = Path(path)
    if path.is_dir():
        raise CohesiveError(f"{path} is a folder, not a file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CohesiveError(f"{path} not found") from None
    except OSError as exc:
        raise CohesiveError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_text(path: str | Path) -> str:
    """UTF-8 text (a byte-order mark is dropped, as editors on Windows write one)."""
    data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CohesiveError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def read_json(path: str | Path, keys: Iterable[str] = ()) -> Any:
    """A JSON document; `keys` must be present when it is an object (a sidecar missing them is corrupt)."""
    try:
        value = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise CohesiveError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
    _require_keys(value, keys, str(path))
    return value


def read_jsonl(path: str | Path, keys: Iterable[str] = ()) -> list[dict]:
    """One JSON object per non-blank line, each with `keys`; a bad line is reported as `path:N`."""
    keys = tuple(keys)
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CohesiveError(f"{where}: not a JSON line ({exc.msg}): {_quote(line)}") from None
        if not isinstance(row, dict):
            raise CohesiveError(f"{where}: expected a JSON object, got {_quote(line)}")
        _require_keys(row, keys, where)
        rows.append(row)
    return rows


def _require_keys(value: Any, keys: Iterable[str], where: str) -> None:
    missing = [key for key in keys if not isinstance(value, dict) or key not in value]
    if missing:
        raise CohesiveError(f"{where}: missing {', '.join(repr(k) for k in missing)}")


def _quote(line: str) -> str:
    return repr(line[:QUOTE] + ("..." if len(line) > QUOTE else ""))


def load_tensors(path: str | Path, framework: str = "pt") -> dict:
    """All tensors of a safetensors file; a missing or damaged (e.g. truncated) file is one line."""
    with open_tensors(path, framework) as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}


@contextmanager
def open_tensors(path: str | Path, framework: str = "pt") -> Iterator[Any]:
    """`safetensors.safe_open`, with a missing or damaged file as a `CohesiveError`."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise CohesiveError(f"{path} not found")
    try:
        handle = safe_open(str(path), framework=framework)
    except (SafetensorError, OSError) as exc:
        raise CohesiveError(f"{path}: damaged safetensors file ({first_line(exc)}); copy or train it again") from None
    with handle:
        yield handle


def first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line (libraries' messages run to many), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_output_file(path: str | Path) -> None:
    """Refuse, before any work, an output file path that is a folder or whose folder cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise CohesiveError(f"{path} is a folder: give a file name")
    _check_writable_folder(path.parent, f"cannot write {path}")


def check_output_dir(path: str | Path) -> None:
    """Refuse, before any work, an output folder that is a file or cannot be created or written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CohesiveError(f"{path} is a file, not a folder: give a folder for the outputs")
    _check_writable_folder(path, f"cannot write into {path}")


def _check_writable_folder(folder: Path, context: str) -> None:
    """The folder, or the nearest existing parent from which it would be created, is a writable folder."""
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise CohesiveError(f"{context}: {existing or folder} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CohesiveError(f"{context}: {existing} is not writable")
