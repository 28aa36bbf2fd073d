"""Original paragraphs per text domain, all offline: general prose, dictionary definitions, technical text.

- `semcor`: SemCor's Brown-corpus running text, four consecutive sentences of one document per paragraph.
- `gcide`: one dictionary entry per paragraph (Debian's dict-gcide): definitions, notes and quotations.
- `pydoc`: the Python standard library's own docstrings, read with `ast` (no module is imported, so
  nothing runs), split on blank lines; short prose paragraphs of one docstring are merged, code and
  doctests are dropped. It depends on the Python version, which the corpus manifest records.

Paragraphs are filtered to `min_words`..`max_words` words and deduplicated; each keeps a stable id
(`domain:` + a hash of its text), so the same paragraph has the same id on every machine.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from cohesive.errors import CohesiveError

DOMAINS = ("semcor", "gcide", "pydoc")
#: stdlib folders that hold tests, vendored packages or tool internals rather than library docs.
_SKIPPED_FOLDERS = {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages", "__pycache__",
                    "turtledemo", "ensurepip", "venv"}
_PLAIN_WORD = re.compile(r"^[(\"']?[A-Za-z][a-z'-]*[.,;:)\"']*$")
_CODE_LINE = re.compile(r"^\s{2,}\S|^\s*(?:>>>|\.\.\.|[-=~*+]{3,}|[-*+] |\d+[.)] )|::\s*$")


@dataclass(frozen=True)
class Paragraph:
    """One original paragraph: `id` is stable across machines (domain + text hash)."""

    id: str
    domain: str
    text: str


def domain_paragraphs(domain: str, min_words: int = 40, max_words: int = 200) -> list[Paragraph]:
    """The distinct paragraphs of `domain` with `min_words`..`max_words` words, in corpus order."""
    if domain not in DOMAINS:
        raise CohesiveError(f"unknown paraphrase domain {domain!r}; choose from {', '.join(DOMAINS)}")
    if not 1 <= min_words <= max_words:
        raise CohesiveError(f"need 1 <= min_words <= max_words, got {min_words} and {max_words}")
    seen: set[str] = set()
    paragraphs = []
    for text in _texts(domain, min_words, max_words):
        text = " ".join(text.split())
        if min_words <= len(text.split()) <= max_words and text not in seen:
            seen.add(text)
            paragraphs.append(Paragraph(paragraph_id(domain, text), domain, text))
    return paragraphs


def paragraph_id(domain: str, text: str) -> str:
    return f"{domain}:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


def _texts(domain: str, min_words: int, max_words: int) -> Iterator[str] | tuple[str, ...]:
    from cohesive.corpora.text import passages

    if domain == "pydoc":
        return stdlib_docstring_paragraphs(min_words=min_words, max_words=max_words)
    return passages(domain)  # cached on disk by cohesive.corpora.text


def source_version(domain: str) -> str:
    """What a domain's text depends on beyond the code: recorded in the corpus manifest."""
    if domain == "pydoc":
        return f"python {sys.version.split()[0]} stdlib at {stdlib_root()}"
    return "data/ (see cohesive.corpora.text)"


# --- Python standard library docstrings -------------------------------------------------------


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


@functools.cache
def stdlib_docstring_paragraphs(root: Path | None = None, min_words: int = 40, max_words: int = 200) -> tuple[str, ...]:
    """Prose paragraphs of every docstring (module, class, function) under the stdlib folder, in
    sorted file order; the ~600 files parse in about ten seconds, once per process."""
    root = root or stdlib_root()
    files = sorted(p for p in root.rglob("*.py") if not _SKIPPED_FOLDERS & set(p.relative_to(root).parts[:-1]))
    out: list[str] = []
    for path in tqdm(files, desc="reading stdlib docstrings", unit="file", disable=None):
        for docstring in _docstrings(path):
            out.extend(merge_prose(docstring, min_words, max_words))
    return tuple(out)


def _docstrings(path: Path) -> Iterator[str]:
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError):  # files written for other Python versions or encodings
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            docstring = ast.get_docstring(node)
            if docstring:
                yield docstring


def merge_prose(docstring: str, min_words: int, max_words: int) -> list[str]:
    """Blank-line paragraphs of a docstring that read as prose, consecutive short ones merged until
    they reach `min_words` (a code block or list in between starts a new paragraph)."""
    merged, current = [], []
    for block in re.split(r"\n\s*\n", docstring):
        if not is_prose(block):
            current = []
            continue
        current.extend(block.split())
        if len(current) >= min_words:
            if len(current) <= max_words:
                merged.append(" ".join(current))
            current = []
    return merged


def is_prose(block: str) -> bool:
    """Running text, not code, doctests, tables, lists or parameter listings."""
    lines = block.splitlines()
    if not lines or any(_CODE_LINE.search(line) for line in lines):
        return False
    words = block.split()
    return len(words) >= 3 and sum(bool(_PLAIN_WORD.match(w)) for w in words) >= 0.8 * len(words)
