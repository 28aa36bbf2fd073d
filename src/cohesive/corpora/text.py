"""Offline plain-text domains for masked-LM training: WordNet glosses, SemCor, GCIDE and GLUE sentences.

Every domain yields clean passages (no markup, detokenised). Train/held-out splits are decided by a
stable hash of each passage, so they are disjoint, reproducible across runs and machines, and the
same passage never lands on both sides.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import heapq
import itertools
import logging
import random
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
from tqdm.auto import tqdm

from cohesive.atomic import write_bytes
from cohesive.corpora import glue
from cohesive.errors import DataError
from cohesive.lexicon.locate import cache_dir
from cohesive.paths import data_root

log = logging.getLogger(__name__)
#: Bump when a reader's output changes, so cached passages are rebuilt.
READER_VERSION = 2
SPLITS = ("train", "heldout")
GCIDE_SYSTEM_PATH = Path("/usr/share/dictd/gcide.dict.dz")
#: The GLUE tasks whose train sentences make the `glue` domain (read by `cohesive.corpora.glue`).
GLUE_TEXT_TASKS = ("cola", "sst2", "mrpc", "stsb", "rte", "wnli")
SEMCOR_SENTENCES_PER_PASSAGE = 4

_DETOKENISE = [
    (re.compile(r"``\s*"), '"'),  # opening quotes attach to the next word
    (re.compile(r"\s*''"), '"'),  # closing quotes attach to the previous word
    (re.compile(r"\s+([,.;:?!%)\]}]|n't\b|'(?:s|re|ve|ll|d|m)\b|'(?=\s|$))", re.I), r"\1"),
    (re.compile(r"([(\[{$])\s+"), r"\1"),
]


def detokenise(tokens: list[str]) -> str:
    """Penn-Treebank tokens -> readable text (`Atlanta 's` -> `Atlanta's`, ``` `` x '' ``` -> `"x"`)."""
    text = " ".join(_directed_quotes(tokens))
    for pattern, replacement in _DETOKENISE:
        text = pattern.sub(replacement, text)
    return text


def _directed_quotes(tokens: list[str]) -> Iterator[str]:
    """Plain `"` tokens (MRPC) alternate between opening and closing quotes."""
    opening = True
    for token in tokens:
        if token == '"':
            token = "``" if opening else "''"
            opening = not opening
        yield token


# --- WordNet -------------------------------------------------------------------------------------


_GLOSS_ATTRIBUTION = re.compile(r";\s*-\s+[A-Z][^;]*")


def iter_wordnet() -> Iterator[str]:
    """One passage per synset: `lemma, lemma: gloss. example. example.`"""
    from cohesive.lexicon import lexicon

    for synset in lexicon().wn.all_synsets():
        lemmas = ", ".join(name.replace("_", " ") for name in synset.lemma_names())
        parts = [f"{lemmas}: {_sentence(synset.definition())}"] + [_sentence(e) for e in synset.examples()]
        yield " ".join(parts)


def _sentence(text: str) -> str:
    """Strip a gloss fragment and end it with a full stop, so passages read as prose.

    NLTK moves a gloss's quoted examples out but leaves their separators and attributions
    (`in the habit; ; ; - Henry David Thoreau`): those are dropped here."""
    text = _GLOSS_ATTRIBUTION.sub("", text)
    text = re.sub(r"(?:;\s*)+;", ";", " ".join(text.split())).strip().strip(";").strip()
    return text if text.endswith((".", "!", "?")) else text + "."


# --- SemCor --------------------------------------------------------------------------------------


def iter_semcor(sentences_per_passage: int = SEMCOR_SENTENCES_PER_PASSAGE) -> Iterator[str]:
    """SemCor running text: consecutive sentences of one document, a few per passage."""
    from cohesive.corpora.raganato import read_sentences
    from cohesive.paths import semcor_prefix

    by_document = itertools.groupby(read_sentences(semcor_prefix()), key=lambda s: s.doc_id)
    for _, sentences in by_document:
        texts = [_semcor_sentence(s.tokens) for s in sentences]
        for start in range(0, len(texts), sentences_per_passage):
            yield " ".join(t for t in texts[start:start + sentences_per_passage] if t)


def _semcor_sentence(tokens) -> str:
    """Multi-word units carry spaces in their text; split them so the detokeniser sees plain tokens."""
    return detokenise([part for token in tokens for part in token.text.split()])


# --- GCIDE ---------------------------------------------------------------------------------------

_ENTRY_START = re.compile(r"^[^\s\\][^\\\n]{0,80}\\[^\\\n]+\\", re.M)
_HEADWORDS = re.compile(r"^(?:[^\\]{0,80}\\[^\\]{1,80}\\[,;]?\s*)+")
_NAMED_CODES = {"[ae]": "ae", "[AE]": "Ae", "[oe]": "oe", "[OE]": "Oe", "[imac]": "i", "[aum]": "a",
                "[eth]": "th", "[thorn]": "th", "[th]": "th", "[ng]": "ng", "[add]": "a", "[udd]": "u",
                "[asl]": "a", "[yogh]": "gh", "[deg]": "\u00b0", "[sect]": "\u00a7", "[root]": "\u221a",
                "[pounds]": "\u00a3"}
_ACCENT_AFTER = re.compile(r"\[([a-z]{1,2})\^\]")
_ACCENT_BEFORE = re.compile(r"\[[=\'.~\-\"^,*`]([A-Za-z]{1,2})\]")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_PRONUNCIATION = re.compile(r"^\([^()]*\)\s*")
_GRAMMAR = re.compile(r"^[,;]?\s*(?:(?:[a-z]{1,5}\.|&|or)\s*)+")
_DOMAIN_LABEL = re.compile(r"\((?:[A-Z][A-Za-z]*\.?\s*(?:&|and|,)?\s*)+\)\s*")
_SENSE_NUMBER = re.compile(r"(?:^|\s)(?:\d+\.|\([a-z]\))(?=\s|$)")
_CITATION = re.compile(r"(?:^|\s)--(?=[A-Z0-9(])")  # `--Shak.`, `--I. Taylor.`; `-- said of` is prose
_CITATION_CONTINUED = re.compile(r"^ {30,}\S")  # a long citation wraps onto far-indented lines
_STRAY_HEADWORD = re.compile(r"(\[[^\[\]]*(?:Webster|WordNet|PJC)[^\[\]]*\])\s+\S+$")
_SOURCE_LEFTOVER = re.compile(r"\b(?:1913 Webster|WordNet 1\.5|PJC)\b|[\[\]]")
_BRACES = re.compile(r"\{([^{}]*)\}")
_URL = re.compile(r"\S+://\S+")
_PARAGRAPH_LABEL = re.compile(r"^(?:Note|Usage|Examples?):\s*")


def gcide_path() -> Path:
    """`data_root()/gcide/gcide.dict.dz` if present, else Debian's dict-gcide copy."""
    for path in (data_root() / "gcide" / "gcide.dict.dz", GCIDE_SYSTEM_PATH):
        if path.is_file():
            return path
    raise DataError(f"{GCIDE_SYSTEM_PATH} not found (nor {data_root() / 'gcide' / 'gcide.dict.dz'}); "
                    "install Debian's dict-gcide package")


def iter_gcide() -> Iterator[str]:
    """One passage per dictionary entry: its definitions, notes and quotations, markup stripped."""
    with gzip.open(gcide_path(), "rt", encoding="utf-8", errors="replace") as dz:
        text = dz.read()
    starts = itertools.chain((m.start() for m in _ENTRY_START.finditer(text)), [len(text)])  # skips the preamble
    for begin, end in itertools.pairwise(starts):
        passage = _gcide_entry(text[begin:end])
        if len(passage.split()) >= 5:
            yield passage


def _gcide_entry(raw: str) -> str:
    paragraphs = [_STRAY_HEADWORD.sub(r"\1", " ".join(p.split())) for p in re.split(r"\n\s*\n", _drop_citations(raw))]
    paragraphs[0] = _strip_header(paragraphs[0])
    cleaned = (_clean_gcide(p) for p in paragraphs if not p.startswith("Syn:"))
    return " ".join(p for p in cleaned if p)


def _drop_citations(raw: str) -> str:
    """Cut quotation sources (`--Milton.`) at the line level, where they always end a line."""
    lines, citing = [], False
    for line in raw.split("\n"):
        if citing and _CITATION_CONTINUED.match(line):
            continue
        match = _CITATION.search(line)
        citing = match is not None
        lines.append(line[:match.start()] if match else line)
    return "\n".join(lines)


def _strip_header(paragraph: str) -> str:
    """Drop `Word \\Pro*nun"ci*a`tion\\ (pron), n. [Etymology]` before the first definition."""
    text = _HEADWORDS.sub("", paragraph, count=1)
    text = _PRONUNCIATION.sub("", text)
    return _GRAMMAR.sub("", _remove_brackets(text), count=1)


def _remove_brackets(text: str) -> str:
    """Turn accent codes (`k[a^]t`) into letters, then drop editorial brackets (etymology, sources, [Obs.])."""
    for code, letters in _NAMED_CODES.items():
        text = text.replace(code, letters)
    text = _ACCENT_BEFORE.sub(r"\1", _ACCENT_AFTER.sub(r"\1", text))
    while _BRACKETS.search(text):
        text = _BRACKETS.sub("", text)
    return _SOURCE_LEFTOVER.sub("", text)


def _clean_gcide(paragraph: str) -> str:
    text = _remove_brackets(paragraph)
    text = _BRACES.sub(lambda m: re.sub(r"[*\"`]", "", m.group(1)), text)
    text = _PARAGRAPH_LABEL.sub("", text)
    for pattern in (_URL, _DOMAIN_LABEL, _SENSE_NUMBER):
        text = pattern.sub(" ", text)
    text = re.sub(r"(?<!\.)\.\.(?!\.)", ".", re.sub(r"\s+([,.;:?!])", r"\1", text))
    return " ".join(text.replace("\ufffd", "").split()).strip(" ,;")


# --- GLUE ----------------------------------------------------------------------------------------


def glue_train_files(tasks: Iterable[str] = GLUE_TEXT_TASKS) -> list[tuple[str, Path]]:
    """Those of the GLUE `tasks` whose `train.tsv` is present under `data_root()/glue`."""
    folder = glue.glue_root()
    if not folder.is_dir():
        raise DataError(f"{folder} not found; set $COHESIVE_DATA or run `make data` (GLUE train/dev tsvs)")
    files = [(task, glue.split_path(task, "train")) for task in tasks]
    files = [(task, path) for task, path in files if path.is_file()]
    if not files:
        raise DataError(f"no GLUE train.tsv under {folder} (expected e.g. {folder / 'SST-2' / 'train.tsv'})")
    return files


def iter_glue(tasks: Iterable[str] = GLUE_TEXT_TASKS) -> Iterator[str]:
    """Every distinct sentence of the GLUE train files (MRPC and STS-B repeat sentences across pairs)."""
    seen: set[str] = set()
    for task, _ in glue_train_files(tasks):
        for sentence in _glue_sentences(task):
            if sentence not in seen:
                seen.add(sentence)
                yield sentence


def _glue_sentences(task: str) -> Iterator[str]:
    tokenised = glue.task_spec(task).tokenised
    for texts in glue.read_texts(task, "train"):
        for text in texts:
            if text:
                yield detokenise(text.split()) if tokenised else text


# --- domains, splits, blocks ---------------------------------------------------------------------

DOMAINS: dict[str, Callable[[], Iterator[str]]] = {
    "wordnet": iter_wordnet,
    "semcor": iter_semcor,
    "gcide": iter_gcide,
    "glue": iter_glue,
}


def iter_domain(domain: str) -> Iterator[str]:
    """Stream the passages of one domain (see :data:`DOMAINS`)."""
    if domain not in DOMAINS:
        raise DataError(f"unknown text domain {domain!r}; choose from {', '.join(DOMAINS)}")
    return DOMAINS[domain]()


def _sources(domain: str) -> list[Path]:
    """The files a domain is read from: their sizes and times key the passage cache."""
    from cohesive.lexicon import lexicon
    from cohesive.paths import semcor_prefix

    if domain == "wordnet":
        return [lexicon().folder / f"data.{pos}" for pos in ("noun", "verb", "adj", "adv")]
    if domain == "semcor":
        return [Path(f"{semcor_prefix()}.data.xml")]
    if domain == "gcide":
        return [gcide_path()]
    return [path for _, path in glue_train_files()]


def passages(domain: str) -> tuple[str, ...]:
    """All passages of a domain, read once per process and cached on disk (re-parsing GCIDE or
    WordNet costs ~20 s; the cache is keyed by the reader version and the source files' size and time)."""
    if domain not in DOMAINS:
        raise DataError(f"unknown text domain {domain!r}; choose from {', '.join(DOMAINS)}")
    stamp = [READER_VERSION] + [f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in _sources(domain)]
    key = hashlib.sha256(repr(stamp).encode()).hexdigest()[:16]
    return _cached_passages(domain, cache_dir() / "text" / f"{domain}-{key}.txt.gz")


@functools.cache
def _cached_passages(domain: str, path: Path) -> tuple[str, ...]:
    if path.is_file():
        with gzip.open(path, "rt", encoding="utf-8") as cached:
            return tuple(cached.read().split("\n"))
    reading = tqdm(iter_domain(domain), desc=f"reading {domain}", unit="text", disable=None)
    texts = tuple(" ".join(t.split()) for t in reading)
    _write_cache(path, texts)
    return texts


def _write_cache(path: Path, texts: tuple[str, ...]) -> None:
    try:
        write_bytes(path, gzip.compress("\n".join(texts).encode("utf-8"), compresslevel=1))
    except OSError as exc:
        log.warning("could not cache passages at %s: %s", path, exc)


def _hash(text: str, salt: str = "") -> int:
    return int.from_bytes(hashlib.sha256((salt + text).encode("utf-8")).digest()[:8], "big")


def in_split(text: str, split: str, heldout_share: float = 0.02) -> bool:
    """Stable assignment of a passage to `train` or `heldout` (the same text always goes the same way)."""
    heldout = _hash(text) < heldout_share * 2**64
    return heldout if split == "heldout" else not heldout


def domain_split(domain: str, split: str = "train", heldout_share: float = 0.02, limit: int | None = None) -> list[str]:
    """The distinct passages of `domain` in `split`, in corpus order.

    With `limit`, a uniform sample of that many passages (the smallest second hashes), so a small
    sample still covers the whole domain and stays the same from run to run.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    chosen = _distinct(t for t in passages(domain) if in_split(t, split, heldout_share))
    if limit is None:
        return chosen
    keep = set(heapq.nsmallest(limit, range(len(chosen)), key=lambda i: _hash(chosen[i], "sample")))
    return [t for i, t in enumerate(chosen) if i in keep]


def _distinct(texts: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    return [t for t in texts if not (t in seen or seen.add(t))]


def mixed_texts(domains: Iterable[str], split: str = "train", per_domain: int | None = None,
                heldout_share: float = 0.02, seed: int = 0) -> list[str]:
    """Up to `per_domain` passages of each domain, shuffled together (seeded) so packed blocks mix domains."""
    texts = [t for d in domains for t in domain_split(d, split, heldout_share, per_domain)]
    random.Random(seed).shuffle(texts)
    return texts


def tokenize_blocks(texts: Iterable[str], tokenizer, seq_len: int = 128, batch_size: int = 1000) -> torch.Tensor:
    """Pack texts into `[CLS] tokens [SEP]` blocks of exactly `seq_len` ids (no padding; the tail is dropped).

    Texts are concatenated with [SEP] between them, the way BERT pre-training packs documents.
    """
    body = seq_len - 2
    if body < 1:
        raise DataError(f"seq_len must be at least 3, got {seq_len}")
    stream: list[int] = []
    for batch in _batched(tqdm(texts, desc="tokenising", unit="text", disable=None), batch_size):
        for ids in tokenizer(batch, add_special_tokens=False, verbose=False)["input_ids"]:
            stream.extend(ids)
            stream.append(tokenizer.sep_token_id)
    n = len(stream) // body
    if n == 0:
        return torch.empty(0, seq_len, dtype=torch.long)
    body_ids = torch.tensor(stream[: n * body], dtype=torch.long).view(n, body)
    cls = torch.full((n, 1), tokenizer.cls_token_id, dtype=torch.long)
    sep = torch.full((n, 1), tokenizer.sep_token_id, dtype=torch.long)
    return torch.cat([cls, body_ids, sep], dim=1)


def _batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def corpus_fingerprint(texts: Iterable[str]) -> str:
    """sha256 over the passages in order: names the exact corpus a model was trained or evaluated on."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()
