"""Bookkeeping for experiments kept as one folder per seed: each seed folder records the options and
the model fingerprint it ran with (`options.json`), so a rerun skips finished seeds, runs again the
seeds whose model was retrained or replaced since, and refuses seeds run with other options
(skipping or resuming those would mix runs in one mean; replacing them silently would lose a result
the user may want)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from cohesive.atomic import write_json
from cohesive.errors import CohesiveError
from cohesive.files import read_json

log = logging.getLogger(__name__)

OPTIONS_FILE = "options.json"
FINGERPRINT = "model_fingerprint"


def prepare_seed_dirs(claims: list[tuple[Path, dict]], added_defaults: dict | None = None) -> None:
    """Check every (seed folder, options) first, so a refused seed stops the run before anything is
    deleted; then empty the stale folders and record the options of new ones. `options` must hold
    `model` and `model_fingerprint`; `added_defaults` are the values of options added after some
    seeds ran (what those seeds used)."""
    stale = [seed_dir for seed_dir, options in claims if _is_stale(seed_dir, options, added_defaults or {})]
    for seed_dir in stale:
        log.warning("%s: the weights of %s changed since this seed ran: running it again",
                    seed_dir, dict(claims)[seed_dir]["model"])
        shutil.rmtree(seed_dir)
    for seed_dir, options in claims:
        if not (seed_dir / OPTIONS_FILE).is_file():
            write_json(seed_dir / OPTIONS_FILE, options)


def _is_stale(seed_dir: Path, options: dict, added_defaults: dict) -> bool:
    path = seed_dir / OPTIONS_FILE
    if not path.is_file():
        return False
    recorded = read_json(path)
    changed = [f"{k}: {recorded.get(k, added_defaults.get(k))!r} -> {v!r}" for k, v in options.items()
               if k != FINGERPRINT and not _same(k, recorded.get(k, added_defaults.get(k)), v)]
    if changed:
        raise CohesiveError(f"{seed_dir} was run with other options ({'; '.join(changed)}): "
                            "delete it or choose another output_dir")
    if FINGERPRINT not in recorded:
        raise CohesiveError(f"{seed_dir} was run before model fingerprints were recorded, so it cannot be "
                            f"checked that {options['model']!r} is unchanged: delete it or choose another output_dir")
    return recorded[FINGERPRINT] != options[FINGERPRINT]


def _same(key: str, recorded, value) -> bool:
    """Equal options; a model folder is the same however it was spelt (`./runs/m`, `runs/m`, absolute)."""
    if key == "model" and isinstance(recorded, str) and isinstance(value, str):
        return _folder(recorded) == _folder(value)
    return recorded == value


def _folder(model: str) -> str:
    return str(Path(model).resolve()) if Path(model).is_dir() else model
