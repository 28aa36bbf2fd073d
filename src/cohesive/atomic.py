"""Atomic file writes: a reader never sees half a file, a planted symlink is replaced, not followed.

Every write goes to a fresh, unpredictably named temporary file in the target's folder (same file
system), is flushed, then renamed over the target. `os.replace` swaps the directory entry, so a
symlink at the target path is replaced by the new file instead of overwriting what it points to.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_with(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(temporary_path)`, then move the finished file to `path` (folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp (and some writers) create 0600: the user's usual mode
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | Path, data: bytes) -> Path:
    return write_with(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, value: Any) -> Path:
    return write_text(path, json.dumps(value, indent=2) + "\n")


def save_safetensors(path: str | Path, tensors: dict, metadata: dict[str, str] | None = None) -> Path:
    """torch tensors to a safetensors file, atomically."""
    from safetensors.torch import save_file

    return write_with(path, lambda tmp: save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp),
                                                  metadata=metadata))
