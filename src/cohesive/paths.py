"""Where data lives: `$COHESIVE_DATA`, else `./data`, else the `data` link of the source checkout
cohesive runs from (so commands work from any directory), laid out like `../shared/data`."""

from __future__ import annotations

import os
from pathlib import Path

from cohesive.errors import DataError

#: Short names of the Raganato framework's evaluation sets -> their folder/prefix names.
WSD_DATASETS = {
    "SE2": "senseval2",
    "SE3": "senseval3",
    "SE07": "semeval2007",
    "SE13": "semeval2013",
    "SE15": "semeval2015",
    "ALL": "ALL",
}
DATA_HELP = "see docs/DATA.md (Raganato framework: http://lcl.uniroma1.it/wsdeval)"


#: The `data` link `make` creates in a source checkout (src/cohesive/paths.py -> the checkout's root).
CHECKOUT_DATA = Path(__file__).resolve().parents[2] / "data"


def data_root() -> Path:
    """The data folder: `$COHESIVE_DATA` if set, else `./data` if it exists, else the checkout's
    `data` if it exists, else `./data` (whose absence the readers then report)."""
    if "COHESIVE_DATA" in os.environ:
        return Path(os.environ["COHESIVE_DATA"])
    return next((p for p in (Path("data"), CHECKOUT_DATA) if p.exists()), Path("data"))


def wsd_dataset_name(name: str) -> str:
    """Map `SE07`, `semeval2007` (any case) to the framework's folder name."""
    upper = {k.upper(): v for k, v in WSD_DATASETS.items()}
    lower = {v.lower(): v for v in WSD_DATASETS.values()}
    key = name.strip()
    if key.upper() in upper:
        return upper[key.upper()]
    if key.lower() in lower:
        return lower[key.lower()]
    raise DataError(f"unknown WSD dataset {name!r}; choose from {', '.join(WSD_DATASETS)}")


def wsd_prefix(name: str) -> Path:
    """Path prefix (ConSeC convention) of an evaluation set: a framework name (`SE07`) resolves to
    `data/wsd/Evaluation_Datasets/semeval2007/semeval2007`; a path prefix of your own is kept."""
    if "/" in name or Path(f"{name}.data.xml").is_file():
        prefix = Path(name[: -len(".data.xml")] if name.endswith(".data.xml") else name)
        _require(prefix)
        return prefix
    folder = wsd_dataset_name(name)
    prefix = data_root() / "wsd" / "Evaluation_Datasets" / folder / folder
    _require(prefix)
    return prefix


def semcor_prefix() -> Path:
    """Path prefix of SemCor 3.0 in Raganato format."""
    prefix = data_root() / "wsd" / "Training_Corpora" / "SemCor" / "semcor"
    _require(prefix)
    return prefix


def _require(prefix: Path) -> None:
    data = prefix.with_name(prefix.name + ".data.xml")
    if not data.is_file():
        raise DataError(f"{data} not found; set $COHESIVE_DATA or run `make data` ({DATA_HELP})")
