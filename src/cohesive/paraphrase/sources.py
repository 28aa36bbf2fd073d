"""Original paragraphs per text domain, all offline: general prose, dictionary definitions, technical text.

- `semcor`: SemCor's Brown-corpus running text, four consecutive sentences of one document per paragraph.
- `gcide`: one dictionary entry per paragraph (Debian's dict-gcide): definitions, notes and quotations.
- `pydoc`: the Python standard library's own docstrings, read with `ast` (no module is imported, so
  nothing runs), split on blank lines; short prose paragraphs of one docstring are merged, code and
  doctests are dropped. It depends on the Python version, which the corpus manifest records.
- `foldoc`: the Free On-line Dictionary of Computing (Debian's dict-foldoc): one entry's prose,
  cross-reference braces and category tags stripped, short paragraphs of an entry merged.
- `manpages`: section-1 manual pages under /usr/share/man (roff source read directly, no `man`
  run): the prose paragraphs of each page, fonts and escapes stripped, examples and tables
  dropped. It depends on the installed packages, which the manifest records (file count).

Two more registers serve as extra training text (`EXTRA_DOMAINS`), never as the test domains above:
- `wordnet`: WordNet glosses and examples of consecutive synsets (WordNet's own order), joined
  into paragraphs.
- `glue`: the sentences of the GLUE training sets written as running text (CoLA, MRPC, STS-B, RTE,
  WNLI; SST-2's lower-cased phrase fragments are left out), consecutive sentences of one task joined.
Joined paragraphs take a seeded target length between `min_words` and three times that.

Paragraphs are filtered to `min_words`..`max_words` words and deduplicated; each keeps a stable id
(`domain:` + a hash of its text), so the same paragraph has the same id on every machine.
"""

from __future__ import annotations

import ast
import functools
import gzip
import hashlib
import random
import re
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from cohesive.errors import CohesiveError

DOMAINS = ("semcor", "gcide", "pydoc", "foldoc", "manpages")
#: Registers of short passages, joined into paragraphs: extra training text for a shipped detector.
EXTRA_DOMAINS = ("wordnet", "glue")
GLUE_PROSE_TASKS = ("cola", "mrpc", "stsb", "rte", "wnli")
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
    if domain not in (*DOMAINS, *EXTRA_DOMAINS):
        raise CohesiveError(f"unknown paraphrase domain {domain!r}; choose from {', '.join((*DOMAINS, *EXTRA_DOMAINS))}")
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
    if domain == "foldoc":
        return foldoc_paragraphs(min_words=min_words, max_words=max_words)
    if domain == "manpages":
        return manpage_paragraphs(min_words=min_words, max_words=max_words)
    if domain == "wordnet":
        return joined(wordnet_gloss_passages(), min_words, max_words, domain)
    if domain == "glue":
        return joined(glue_prose_passages(), min_words, max_words, domain)
    return passages(domain)  # cached on disk by cohesive.corpora.text


def source_version(domain: str) -> str:
    """What a domain's text depends on beyond the code: recorded in the corpus manifest."""
    if domain == "pydoc":
        return f"python {sys.version.split()[0]} stdlib at {stdlib_root()}"
    if domain == "foldoc":
        return f"{foldoc_path()} ({foldoc_path().stat().st_size} bytes)"
    if domain == "manpages":
        return f"{len(manpage_files())} section-1 pages under {MAN_ROOT}"
    if domain == "wordnet":
        from cohesive.lexicon import lexicon

        return f"WordNet at {lexicon().folder}"
    if domain == "glue":
        from cohesive.corpora import glue

        return f"GLUE train sets of {', '.join(GLUE_PROSE_TASKS)} under {glue.glue_root()}"
    return "data/ (see cohesive.corpora.text)"


# --- joined registers: WordNet glosses, GLUE sentences ---------------------------------------------


def joined(passages: Iterator[str] | tuple[str, ...], min_words: int, max_words: int, salt: str) -> Iterator[str]:
    """Consecutive passages joined until each paragraph reaches its own seeded target length in
    `min_words`..`min(max_words, 3 * min_words)`; a passage alone longer than `max_words` is skipped,
    and a paragraph that the next passage would take past `max_words` is dropped for a new one."""
    rng = random.Random(f"joined:{salt}")
    longest = min(max_words, 3 * min_words)
    target, current = rng.randint(min_words, longest), []
    for passage in passages:
        words = passage.split()
        if len(words) > max_words:
            continue
        if current and len(current) + len(words) > max_words:
            current = []
        current.extend(words)
        if len(current) >= target:
            yield " ".join(current)
            target, current = rng.randint(min_words, longest), []


def wordnet_gloss_passages() -> Iterator[str]:
    """Each synset's gloss and examples as sentences (the `lemma, lemma:` head of the text domain dropped)."""
    from cohesive.corpora.text import passages

    for passage in passages("wordnet"):
        yield passage.split(": ", 1)[-1]


def glue_prose_passages() -> Iterator[str]:
    """Every distinct sentence of the GLUE_PROSE_TASKS training sets, detokenised, in file order
    (sentences that differ only in spacing count once)."""
    from cohesive.corpora.text import iter_glue

    seen: set[str] = set()
    for sentence in iter_glue(GLUE_PROSE_TASKS):
        sentence = " ".join(sentence.split())
        if sentence not in seen:
            seen.add(sentence)
            yield sentence


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


# --- FOLDOC (Debian dict-foldoc) ------------------------------------------------------------------

FOLDOC_PATH = Path("/usr/share/dictd/foldoc.dict.dz")
_FOLDOC_TAG = re.compile(r"^<[^<>]*>\s*")
_FOLDOC_LINK = re.compile(r"\{([^{}]*?)(?:\s*\([^(){}]*\))?\}")


def foldoc_path() -> Path:
    if not FOLDOC_PATH.is_file():
        raise CohesiveError(f"{FOLDOC_PATH} not found: install Debian's dict-foldoc package (apt-get install dict-foldoc)")
    return FOLDOC_PATH


@functools.cache
def foldoc_paragraphs(min_words: int = 40, max_words: int = 200) -> tuple[str, ...]:
    """Prose of each FOLDOC entry: indented blocks, `{link (url)}` -> `link`, `<category>` tags,
    citations in brackets and date lines dropped; short blocks of one entry merged."""
    with gzip.open(foldoc_path(), "rt", encoding="utf-8", errors="replace") as dz:
        return foldoc_prose(dz.read(), min_words, max_words)


def foldoc_prose(text: str, min_words: int, max_words: int) -> tuple[str, ...]:
    """The prose paragraphs of FOLDOC's dict text (headword lines at column 0, bodies indented)."""
    out: list[str] = []
    for entry in re.split(r"\n(?=\S)", text):
        blocks = [" ".join(b.split()) for b in re.split(r"\n\s*\n", entry.partition("\n")[2])]
        blocks = [_FOLDOC_LINK.sub(r"\1", _FOLDOC_TAG.sub("", b)) for b in blocks if b and not b.startswith(("[", "("))]
        out.extend(merge_prose("\n\n".join(blocks), min_words, max_words))
    return tuple(out)


# --- manual pages (roff source) ---------------------------------------------------------------------

MAN_ROOT = Path("/usr/share/man/man1")
_ROFF_BREAKS = {"PP", "P", "LP", "SH", "SS", "TP", "IP", "HP", "sp", "br", "RS", "RE", "TH", "PD", "in", "ti"}
_ROFF_FONT_MACROS = {"B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "SM", "SB"}
_ROFF_SKIPPED = {"nf": "fi", "EX": "EE", "TS": "TE", "EQ": "EN", "de": ".."}
_ROFF_ESCAPES = [(re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)"), ""), (re.compile(r"\\m\[[^\]]*\]"), ""),
                 (re.compile(r"\\s[+-]?\d"), ""), (re.compile(r"\\\*(?:\[[^\]]*\]|\(..|.)"), "'"),
                 (re.compile(r"\\\((?:aq|cq|oq)"), "'"), (re.compile(r"\\\((?:dq|lq|rq)"), '"'),
                 (re.compile(r"\\\((?:em|en|hy)"), "-"), (re.compile(r"\\\(.."), ""), (re.compile(r"\\[-e]"), "-"),
                 (re.compile(r"\\[&|^%]"), ""), (re.compile(r"\\ "), " "), (re.compile(r"\\."), "")]


@functools.cache
def manpage_files() -> tuple[Path, ...]:
    if not MAN_ROOT.is_dir():
        raise CohesiveError(f"{MAN_ROOT} not found: install the man-db package and some manual pages")
    return tuple(sorted(MAN_ROOT.glob("*.1*.gz")))


@functools.cache
def manpage_paragraphs(min_words: int = 40, max_words: int = 200) -> tuple[str, ...]:
    """Prose paragraphs of every section-1 page written with the `man` macros (mdoc pages skipped)."""
    out: list[str] = []
    for path in tqdm(manpage_files(), desc="reading manual pages", unit="page", disable=None):
        try:
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
                source = handle.read()
        except (OSError, EOFError):
            continue
        if "\n.Dd" not in source:
            out.extend(merge_prose(roff_text(source), min_words, max_words))
    return tuple(out)


def roff_text(source: str) -> str:
    """`man`-macro roff -> plain paragraphs separated by blank lines (examples, tables, macros dropped)."""
    paragraphs, current, skip_until = [], [], None
    for line in source.splitlines():
        request = re.match(r"^[.'](\S*)\s*(.*)$", line)
        name, rest = (request.group(1), request.group(2)) if request else ("", line)
        if skip_until is not None:
            skip_until = None if name == skip_until or line.startswith(".." if skip_until == ".." else "\0") else skip_until
            continue
        if name in _ROFF_SKIPPED:
            skip_until = _ROFF_SKIPPED[name]
        if request and name not in _ROFF_FONT_MACROS:
            if name in _ROFF_BREAKS or name in _ROFF_SKIPPED:
                paragraphs.append(" ".join(current))
                current = []
            continue
        current.append(_plain_roff(rest.replace('"', "") if request else rest))
    paragraphs.append(" ".join(current))
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def _plain_roff(line: str) -> str:
    for pattern, replacement in _ROFF_ESCAPES:
        line = pattern.sub(replacement, line)
    return line
