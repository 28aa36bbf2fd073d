"""Find WordNet 3.0 and make it readable by NLTK.

Order: an explicit path or `$WORDNET_DIR`; NLTK's data path (`nltk.download('wordnet')`);
Debian/Ubuntu's `/usr/share/wordnet` (packages `wordnet-base wordnet-sense-index`).
A plain folder is turned into a private NLTK-style copy under the cache directory, because
Debian omits `lexnames` (which NLTK's reader needs) and NLTK >= 3.9 reads only folders on its
data path. `main()` prints the folder in use (exit 2 if none); `make wordnet` uses it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from cohesive.atomic import write_text, write_with
from cohesive.errors import WordNetMissingError

DEBIAN_WORDNET = Path("/usr/share/wordnet")
REQUIRED_FILES = ("index.sense", "data.noun", "data.verb", "data.adj", "data.adv",
                  "index.noun", "index.verb", "index.adj", "index.adv")
#: The fixed list of lexicographer files from the lexnames(5WN) man page (Debian does not ship it).
LEXNAMES = (
    "adj.all 3", "adj.pert 3", "adv.all 4", "noun.Tops 1", "noun.act 1", "noun.animal 1",
    "noun.artifact 1", "noun.attribute 1", "noun.body 1", "noun.cognition 1",
    "noun.communication 1", "noun.event 1", "noun.feeling 1", "noun.food 1", "noun.group 1",
    "noun.location 1", "noun.motive 1", "noun.object 1", "noun.person 1", "noun.phenomenon 1",
    "noun.plant 1", "noun.possession 1", "noun.process 1", "noun.quantity 1", "noun.relation 1",
    "noun.shape 1", "noun.state 1", "noun.substance 1", "noun.time 1", "verb.body 2",
    "verb.change 2", "verb.cognition 2", "verb.communication 2", "verb.competition 2",
    "verb.consumption 2", "verb.contact 2", "verb.creation 2", "verb.emotion 2", "verb.motion 2",
    "verb.perception 2", "verb.possession 2", "verb.social 2", "verb.stative 2", "verb.weather 2",
    "adj.ppl 3",
)
HOW_TO_GET = (
    "WordNet 3.0 not found: set $WORDNET_DIR to a WordNet dict folder, or run "
    "`python -m nltk.downloader wordnet`, or install Debian's `wordnet-base wordnet-sense-index`"
)


def cache_dir() -> Path:
    """`$COHESIVE_CACHE`, else `$XDG_CACHE_HOME/cohesive`, else `~/.cache/cohesive`."""
    if os.environ.get("COHESIVE_CACHE"):
        return Path(os.environ["COHESIVE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cohesive"


def locate_wordnet(path: str | Path | None = None) -> Path:
    """Return a folder that NLTK's WordNet reader accepts, building the private copy if needed."""
    explicit = path or os.environ.get("WORDNET_DIR")
    if explicit:
        folder = Path(explicit)
        if not _is_wordnet(folder):
            raise WordNetMissingError(f"{folder} is not a WordNet 3.0 dict folder (needs {', '.join(REQUIRED_FILES)})")
        return _nltk_copy(folder)
    nltk_folder = _nltk_data_wordnet()
    if nltk_folder is not None:
        return nltk_folder
    if _is_wordnet(DEBIAN_WORDNET):
        return _nltk_copy(DEBIAN_WORDNET)
    raise WordNetMissingError(HOW_TO_GET)


def _is_wordnet(folder: Path) -> bool:
    return all((folder / name).is_file() for name in REQUIRED_FILES)


def _nltk_data_wordnet() -> Path | None:
    """An unzipped `corpora/wordnet` on NLTK's data path, if any (zips are extracted by nltk.download)."""
    import nltk

    for root in nltk.data.path:
        folder = Path(root) / "corpora" / "wordnet"
        if _is_wordnet(folder) and (folder / "lexnames").is_file():
            return folder
    return None


def _nltk_copy(source: Path) -> Path:
    """Copy `source` to `<cache>/nltk_data/corpora/wordnet` once and add `lexnames` if missing.

    A copy, not symlinks: NLTK resolves links and refuses files outside its data path.
    """
    target = cache_dir() / "nltk_data" / "corpora" / "wordnet"
    try:
        target.mkdir(parents=True, exist_ok=True)
        for item in source.iterdir():
            copy = target / item.name
            if item.is_file() and (not copy.exists() or copy.stat().st_size != item.stat().st_size):
                write_with(copy, lambda tmp, item=item: shutil.copyfile(item, tmp))
        lexnames = target / "lexnames"
        if not lexnames.exists():
            write_text(lexnames, "".join(f"{i:02d}\t{name.split()[0]}\t{name.split()[1]}\n" for i, name in enumerate(LEXNAMES)))
    except OSError as exc:
        raise WordNetMissingError(f"cannot prepare WordNet for NLTK under {target} ({exc.strerror or exc}): "
                                  "set COHESIVE_CACHE to a writable folder") from None
    return target


def main() -> int:
    try:
        print(locate_wordnet())
    except WordNetMissingError as exc:
        print(f"cohesive: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
