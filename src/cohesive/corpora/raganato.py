"""Reader and writer for the Raganato et al. (2017) WSD format.

A dataset is a *path prefix* (ConSeC's convention): `PREFIX.data.xml` holds
corpus -> text (document) -> sentence -> wf/instance tokens, and `PREFIX.gold.key.txt`
holds `instance_id key [key ...]` lines. The XML is streamed (SemCor is 38 MB), one sentence
in memory at a time.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from cohesive.atomic import write_with
from cohesive.errors import DataError


@dataclass(frozen=True)
class Token:
    """A word (or multi-word unit, text with spaces, lemma with underscores); `id` is set for instances."""

    text: str
    lemma: str
    pos: str
    id: str | None = None


@dataclass
class Sentence:
    id: str
    doc_id: str
    tokens: list[Token] = field(default_factory=list)

    @property
    def instances(self) -> list[tuple[int, Token]]:
        """(position, token) of every sense-annotated token."""
        return [(i, t) for i, t in enumerate(self.tokens) if t.id is not None]

    @property
    def text(self) -> str:
        return " ".join(t.text for t in self.tokens)


def data_path(prefix: str | Path) -> Path:
    return Path(f"{prefix}.data.xml")


def gold_path(prefix: str | Path) -> Path:
    return Path(f"{prefix}.gold.key.txt")


def as_prefix(path: str | Path) -> Path:
    """Accept a prefix, a `.data.xml` or a `.gold.key.txt` path; return the prefix."""
    text = str(path)
    for suffix in (".data.xml", ".gold.key.txt"):
        if text.endswith(suffix):
            return Path(text[: -len(suffix)])
    return Path(text)


def read_sentences(prefix: str | Path) -> Iterator[Sentence]:
    """Stream the sentences of `PREFIX.data.xml` in document order."""
    path = data_path(as_prefix(prefix))
    if not path.is_file():
        raise DataError(f"{path} not found")
    doc_id = ""
    sentence: Sentence | None = None
    try:
        for event, elem in ET.iterparse(path, events=("start", "end")):
            if event == "start":
                if elem.tag == "text":
                    doc_id = elem.get("id", "")
                elif elem.tag == "sentence":
                    sentence = Sentence(id=_required(elem, "id", path), doc_id=doc_id)
                continue
            if elem.tag in ("wf", "instance") and sentence is not None:
                sentence.tokens.append(_token(elem, path))
            elif elem.tag == "sentence" and sentence is not None:
                yield sentence
                sentence = None
                elem.clear()
            elif elem.tag == "text":
                elem.clear()
    except ET.ParseError as exc:
        line, column = exc.position
        raise DataError(f"{path}:{line}:{column}: malformed XML ({exc.msg if hasattr(exc, 'msg') else exc})") from None


def _token(elem: ET.Element, path: Path) -> Token:
    text = elem.text or ""
    lemma = elem.get("lemma", text)
    pos = elem.get("pos", "")
    if elem.tag == "instance":
        return Token(text, lemma, pos, _required(elem, "id", path))
    return Token(text, lemma, pos)


def _required(elem: ET.Element, attribute: str, path: Path) -> str:
    value = elem.get(attribute)
    if not value:
        raise DataError(f"{path}: <{elem.tag}> without the required {attribute!r} attribute")
    return value


def read_keys(path: str | Path) -> dict[str, list[str]]:
    """Read a key file (`id key [key ...]` per line). Malformed lines and repeated ids are errors."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} not found")
    keys: dict[str, list[str]] = {}
    try:
        with path.open(encoding="utf-8-sig") as lines:  # a leading BOM is not part of the first id
            for number, line in enumerate(lines, 1):
                _read_key_line(keys, line, f"{path}:{number}")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start} of a line)") from None
    return keys


def _read_key_line(keys: dict[str, list[str]], line: str, where: str) -> None:
    fields = line.split()
    if not fields:
        return
    shown = _clip(line.strip())
    if len(fields) < 2:
        raise DataError(f"{where}: expected 'instance_id sense_key [sense_key ...]', got {shown!r}")
    if fields[0] in keys:
        raise DataError(f"{where}: instance id {_clip(fields[0])!r} appears twice")
    if any("%" not in key for key in fields[1:]):
        raise DataError(f"{where}: {shown!r} holds a value that is not a WordNet sense key")
    keys[fields[0]] = fields[1:]


def _clip(text: str, limit: int = 80) -> str:
    """A bad line as it may appear in a one-line error (a 5 MB line is not echoed whole)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def write_keys(path: str | Path, keys: Iterable[tuple[str, list[str] | str]]) -> None:
    """Write `(id, key or keys)` pairs as a key file, atomically."""
    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as out:
            for instance_id, answer in keys:
                answers = [answer] if isinstance(answer, str) else list(answer)
                out.write(f"{instance_id} {' '.join(answers)}\n")

    write_with(path, write)


def write_corpus(prefix: str | Path, sentences: Iterable[Sentence], gold: dict[str, list[str]] | None = None,
                 source: str = "cohesive") -> None:
    """Write sentences (grouped by `doc_id`) as `PREFIX.data.xml`, and `gold` as `PREFIX.gold.key.txt`."""
    write_with(data_path(prefix), lambda tmp: _write_xml(tmp, sentences, source))
    if gold is not None:
        write_keys(gold_path(prefix), gold.items())


def _write_xml(tmp: Path, sentences: Iterable[Sentence], source: str) -> None:
    with tmp.open("w", encoding="utf-8") as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8" ?>\n<corpus lang="en" source={quoteattr(source)}>\n')
        doc_id = None
        for sentence in sentences:
            if sentence.doc_id != doc_id:
                if doc_id is not None:
                    out.write("</text>\n")
                doc_id = sentence.doc_id
                out.write(f"<text id={quoteattr(doc_id)}>\n")
            out.write(f"<sentence id={quoteattr(sentence.id)}>\n")
            for token in sentence.tokens:
                out.write(_token_xml(token))
            out.write("</sentence>\n")
        if doc_id is not None:
            out.write("</text>\n")
        out.write("</corpus>\n")


def _token_xml(token: Token) -> str:
    attributes = f"lemma={quoteattr(token.lemma)} pos={quoteattr(token.pos)}"
    if token.id is None:
        return f"<wf {attributes}>{escape(token.text)}</wf>\n"
    return f"<instance id={quoteattr(token.id)} {attributes}>{escape(token.text)}</instance>\n"


@dataclass(frozen=True)
class Instance:
    """A sense-annotated token with its sentence, as WSD systems consume it."""

    id: str
    lemma: str
    pos: str
    index: int
    sentence: Sentence

    @property
    def token(self) -> Token:
        return self.sentence.tokens[self.index]


def iter_instances(prefix: str | Path) -> Iterator[Instance]:
    """Every instance of a dataset, in order, with its sentence."""
    for sentence in read_sentences(prefix):
        for index, token in sentence.instances:
            yield Instance(token.id, token.lemma, token.pos, index, sentence)


def read_gold(prefix: str | Path, instance_ids: Iterable[str] | None = None) -> dict[str, list[str]]:
    """The gold keys of a dataset; if `instance_ids` is given, every gold id must be among them."""
    prefix = as_prefix(prefix)
    gold = read_keys(gold_path(prefix))
    if instance_ids is not None:
        known = set(instance_ids)
        missing = [i for i in gold if i not in known]
        if missing:
            raise DataError(f"{gold_path(prefix)}: {len(missing)} gold id(s) absent from {data_path(prefix)}, "
                            f"e.g. {missing[0]!r}")
    return gold
