"""Atomic file writes: a reader never sees half a file, a planted symlink is replaced, not followed.

Every write goes to a fresh, unpredictably named temporary file in the target's folder (same file
system), is flushed, then renamed over the target. `os.replace` swaps the directory entry, so a
symlink at the target path is replaced by the new file instead of overwriting what it points to.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cohesive.errors import CohesiveError


def write_with(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(temporary_path)`, then move the finished file to `path` (folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        _fsync(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp (and some writers) create 0600: the user's usual mode
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _fsync(path: Path) -> None:
    """The data reaches the disk before the rename makes it visible (else a crash can leave an empty file)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


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


#: Written into every folder `staged_dir` publishes: only such folders (or empty ones) are ever replaced whole.
RUN_MARKER = ".cohesive-run"


@contextmanager
def staged_dir(target: str | Path) -> Iterator[Path]:
    """A run's output folder, published all at once: the body writes into a hidden staging folder
    beside `target`, which replaces `target` only when the body succeeds. A failed, interrupted or
    killed run leaves the previous complete result untouched (a kill -9 leaves only the staging folder).
    A non-empty folder that no such run wrote is refused rather than replaced."""
    target = Path(target)
    _check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".staging"))
    try:
        yield staging
        (staging / RUN_MARKER).write_text("written by cohesive; the folder is replaced whole by the next run\n")
        os.chmod(staging, 0o777 & ~_umask())
        _publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_replaceable(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise CohesiveError(f"{target} is a file, not a folder: give a folder for the outputs")
    if target.is_dir() and any(target.iterdir()) and not (target / RUN_MARKER).is_file():
        raise CohesiveError(f"{target} already holds files that no cohesive run wrote: give a new or empty folder "
                            "(a run replaces its output folder whole)")


def _publish(staging: Path, target: Path) -> None:
    """Swap `staging` in for `target` in one step where the kernel can (renameat2 RENAME_EXCHANGE),
    so no moment exists without a complete result; the old folder ends up at `staging`."""
    if not target.exists():
        os.replace(staging, target)
        return
    if not _exchange(staging, target):
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
        os.replace(target, old / target.name)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)


def _exchange(first: Path, second: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2 with RENAME_EXCHANGE); False where unsupported."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0
