"""The machine-paraphrase corpus: originals from several domains, paraphrased by several generators.

Splits follow Wahle et al. (iConference 2022): detectors train on one domain x generator cell (there
Wikipedia x SpinBot; here by default SemCor x `spin-max`), pick their threshold on a validation
split of that same cell, and are tested on every domain x generator cell. Each domain's paragraphs
are shuffled once (seeded) and dealt into disjoint pools, so no paragraph is in two splits; within
a split, originals and paraphrases come from different paragraphs unless `aligned` is set (then
each paraphrase's own original is the negative, as in the neural-paraphrase study). The test
originals of a domain are shared by that domain's generator cells, and the test paraphrases of a
domain are the same paragraphs under every generator, so cells differ only in the generator.

`train_extra` adds training text from other registers (`{domain: paragraphs per class}`, e.g.
WordNet glosses and GLUE sentences for the shipped detector): training rows only, paraphrased by
the training generator, never a test or validation domain, so every test domain stays unseen.

The training cell's generator may be `mix` (`train_mix`: a list of generators): each training and
validation paraphrase is then made by one of them, drawn per paragraph (seeded); its row names it
in `policy`. Every row lists the words a generator changed (`replaced`: `[start, end, original]`,
character offsets in the row's own text), the free word-level labels of the word detector.

Rows (`train.jsonl`, `validation.jsonl`, `test.jsonl`): `{id, text, label (0 original, 1
paraphrased), domain, generator, split, source_id, changes, replaced}`; `corpus.json` summarises the build.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from cohesive.atomic import write_json, write_text
from cohesive.errors import CohesiveError, DataError
from cohesive.files import read_json, read_jsonl
from cohesive.paraphrase.sources import DOMAINS, EXTRA_DOMAINS, Paragraph, domain_paragraphs, source_version

#: spinner generators: name -> (mode, sense method or None for the config's `sense`, relation, word choice).
SPIN_GENERATORS = {
    "spin-4th": ("every-4th", None, "synonym", "first"), "spin-2nd": ("every-2nd", None, "synonym", "first"),
    "spin-max": ("max", None, "synonym", "first"), "spin-first-4th": ("every-4th", "first", "synonym", "first"),
    "spin-first-2nd": ("every-2nd", "first", "synonym", "first"), "spin-first-max": ("max", "first", "synonym", "first"),
    "spin-12th": ("every-12th", None, "synonym", "first"), "spin-hyper": ("every-2nd", None, "hypernym", "first"),
    "spin-hypo": ("every-2nd", None, "hyponym", "first"), "spin-random-3rd": ("every-3rd", None, "synonym", "random"),
}
GENERATORS = (*SPIN_GENERATORS, "maskfill")
MIX = "mix"
SPLITS = ("train", "validation", "test")
MANIFEST = "corpus.json"
_MASKFILL_CHUNK = 64


@dataclass
class ParaphraseCorpusConfig:
    """`cohesive paraphrase build`: domains, generators, cell sizes and the training cell."""

    output_dir: Path = Path("runs/paraphrase/corpus")
    domains: list[str] = field(default_factory=lambda: list(DOMAINS))
    generators: list[str] = field(default_factory=lambda: list(GENERATORS))
    train_domain: str = "semcor"
    train_generator: str = "spin-max"  # or `mix`: each training paraphrase by one of `train_mix`
    train_mix: list[str] = field(default_factory=list)
    train_per_class: int = 800  # originals and as many paraphrases in the training cell
    train_extra: dict[str, int] = field(default_factory=dict)  # more training-only domains: paragraphs per class
    validation_per_class: int = 150
    test_per_class: int = 300  # originals and as many paraphrases in every test cell
    aligned: bool = False  # paraphrase the originals themselves (default: disjoint paragraphs)
    min_words: int = 40
    max_words: int = 200
    # WordNet spinner
    sense: str = "lesk"  # lesk (extended Lesk: the sense in context) | first (WordNet first sense, context-free)
    tagger_sentences: int | None = None  # None: the project's full SemCor tagger; n: a quicker one on n sentences
    # masked-LM mask-and-fill
    mask_model: str = "runs/teachers/minilm-mlm"
    mask_share: float = 0.3  # share of a paragraph's words masked, in (0, 1); the study used 15-50%
    mask_passes: int = 1
    mask_batch_size: int = 8
    seed: int = 0

    def validate(self) -> None:
        known_domains = (*DOMAINS, *EXTRA_DOMAINS)
        for name, chosen, known in (("domain", self.domains, known_domains), ("generator", self.generators, GENERATORS)):
            unknown = [c for c in chosen if c not in known]
            if unknown or not chosen:
                raise CohesiveError(f"unknown or no {name}(s) {', '.join(unknown)}; choose from {', '.join(known)}")
        if self.train_generator == MIX:
            unknown = [g for g in self.train_mix if g not in GENERATORS]
            if unknown or not self.train_mix:
                raise CohesiveError(f"train_generator mix needs train_mix, a list of generators from {', '.join(GENERATORS)}")
        if self.train_domain not in self.domains or self.train_generator not in (*self.generators, MIX):
            raise CohesiveError(f"the training cell {self.train_domain} x {self.train_generator} must be among the "
                                f"domains ({', '.join(self.domains)}) and generators ({', '.join(self.generators)})")
        for domain, count in self.train_extra.items():
            if domain not in known_domains or domain in self.domains or count < 1:
                raise CohesiveError(f"train_extra {domain}: {count}: need a domain from {', '.join(known_domains)} that "
                                    f"is not tested ({', '.join(self.domains)}) and a positive paragraph count")
        if min(self.train_per_class, self.validation_per_class, self.test_per_class) < 1:
            raise CohesiveError("train_per_class, validation_per_class and test_per_class must be at least 1")
        if not 1 <= self.min_words <= self.max_words:
            raise CohesiveError(f"need 1 <= min_words <= max_words, got {self.min_words} and {self.max_words}")
        from cohesive.paraphrase.spinner import SENSE_METHODS

        if self.sense not in SENSE_METHODS:
            raise CohesiveError(f"unknown sense method {self.sense!r}; choose from {', '.join(SENSE_METHODS)}")
        if self.tagger_sentences is not None and self.tagger_sentences < 1:
            raise CohesiveError(f"tagger_sentences must be positive or null, got {self.tagger_sentences}")
        if "maskfill" in self.generators or (self.train_generator == MIX and "maskfill" in self.train_mix):
            if not 0 < self.mask_share < 1:
                raise CohesiveError(f"mask_share must be in (0, 1), got {self.mask_share}")
            for name in ("mask_passes", "mask_batch_size"):
                if getattr(self, name) < 1:
                    raise CohesiveError(f"{name} must be at least 1, got {getattr(self, name)}")
            from cohesive.models import check_model

            check_model(self.mask_model)


#: One domain's disjoint paragraph pools: split -> (originals, paragraphs to paraphrase).
Pools = dict[str, tuple[list[Paragraph], list[Paragraph]]]


def build_corpus(config: ParaphraseCorpusConfig) -> dict:
    """Write the three JSONL splits and `corpus.json`; returns the manifest."""
    config.validate()
    pools = {domain: deal(domain_paragraphs(domain, config.min_words, config.max_words), domain, config)
             for domain in [*config.domains, *config.train_extra]}
    paraphrases = generate(config, pools)
    rows = {split: list(split_rows(config, pools, paraphrases, split)) for split in SPLITS}
    config.output_dir.mkdir(parents=True, exist_ok=True)
    for split, written in rows.items():
        write_jsonl(config.output_dir / f"{split}.jsonl", written)
    manifest = {"config": json.loads(json.dumps(asdict(config), default=str)),
                "train_cell": train_cell(config),
                "sources": {d: source_version(d) for d in config.domains},
                "cells": cell_summary(rows)}
    write_json(config.output_dir / MANIFEST, manifest)
    return manifest


def train_cell(config: ParaphraseCorpusConfig) -> dict:
    """The training cell; a `mix` cell also lists its generators (their test cells count as seen)."""
    cell = {"domain": config.train_domain, "generator": config.train_generator}
    if config.train_extra:
        cell["extra_domains"] = dict(config.train_extra)
    return {**cell, "generators": list(config.train_mix)} if config.train_generator == MIX else cell


def deal(paragraphs: list[Paragraph], domain: str, config: ParaphraseCorpusConfig) -> Pools:
    """Shuffle a domain once (seeded by domain) and deal disjoint pools; only the training domain
    has train and validation pools, an extra training domain only a train pool."""
    order = list(paragraphs)
    random.Random(f"{config.seed}:{domain}").shuffle(order)
    sizes = {"test": config.test_per_class} if domain in config.domains else {}
    if domain == config.train_domain:
        sizes = {"train": config.train_per_class, "validation": config.validation_per_class, **sizes}
    elif domain in config.train_extra:
        sizes = {"train": config.train_extra[domain]}
    per_class = 1 if config.aligned else 2
    needed = per_class * sum(sizes.values())
    if needed > len(order):
        raise DataError(f"domain {domain} has {len(order)} paragraphs of {config.min_words}-{config.max_words} "
                        f"words, the configured splits need {needed}; lower the per-class sizes")
    pools, position = {}, 0
    for split, size in sizes.items():
        originals = order[position:position + size]
        sources = originals if config.aligned else order[position + size:position + 2 * size]
        pools[split] = (originals, sources)
        position += per_class * size
    return pools


#: (generator, paragraph id) -> (generator that made it, paraphrased text, replaced [start, end, original]).
Paraphrases = dict[tuple[str, str], tuple[str, str, list[list]]]


def generate(config: ParaphraseCorpusConfig, pools: dict[str, Pools]) -> Paraphrases:
    """Every paragraph that some split paraphrases with some generator (`mix` resolved per paragraph)."""
    jobs: dict[str, dict[str, Paragraph]] = defaultdict(dict)
    mixed: dict[str, str] = {}  # paragraph id -> the generator that paraphrases it for the `mix` cell
    for domain, pool in pools.items():
        for split, (_, sources) in pool.items():
            for generator in cell_generators(config, domain, split):
                for p in sources:
                    actual = mix_choice(config, p.id) if generator == MIX else generator
                    jobs[actual][p.id] = p
                    if generator == MIX:
                        mixed[p.id] = actual
    out: Paraphrases = {}
    with tqdm(total=sum(map(len, jobs.values())), desc="paraphrasing", unit="par", disable=None) as bar:
        for generator, paragraphs in jobs.items():
            for paragraph, (text, replaced) in zip(paragraphs.values(), paraphrase(config, generator, list(paragraphs.values()))):
                out[(generator, paragraph.id)] = (generator, text, replaced)
                bar.update()
    out.update({(MIX, pid): out[(actual, pid)] for pid, actual in mixed.items()})
    return out


def mix_choice(config: ParaphraseCorpusConfig, paragraph_id: str) -> str:
    return random.Random(f"{config.seed}:mix:{paragraph_id}").choice(config.train_mix)


def cell_generators(config: ParaphraseCorpusConfig, domain: str, split: str) -> list[str]:
    if split == "test":
        return list(config.generators)
    trains_here = domain == config.train_domain or (split == "train" and domain in config.train_extra)
    return [config.train_generator] if trains_here else []


def paraphrase(config: ParaphraseCorpusConfig, generator: str, paragraphs: list[Paragraph]) -> Iterator[tuple[str, list]]:
    """Paraphrase each paragraph (its random choices seeded by seed, generator and paragraph id):
    (text, [[start, end, original], ...] of the changed words in that text)."""
    rngs = [random.Random(f"{config.seed}:{generator}:{p.id}") for p in paragraphs]
    if generator in SPIN_GENERATORS:
        from cohesive.paraphrase.spinner import Spinner, spin_tagger

        mode, sense, relation, choice = SPIN_GENERATORS[generator]
        spinner = Spinner(mode, sense or config.sense, tagger=spin_tagger(config.tagger_sentences), relation=relation,
                          choice=choice)
        for paragraph, rng in zip(paragraphs, rngs):
            spun = spinner.spin(paragraph.text, rng)
            yield spun.text, shifted_spans([(x.start, x.end, x.replacement, x.original) for x in spun.substitutions])
        return
    from cohesive.paraphrase.maskfill import MaskFiller

    filler = MaskFiller(config.mask_model, config.mask_share, config.mask_passes, config.mask_batch_size)
    for start in range(0, len(paragraphs), _MASKFILL_CHUNK):
        chunk = slice(start, start + _MASKFILL_CHUNK)
        for filled in filler.fill([p.text for p in paragraphs[chunk]], rngs[chunk]):
            yield filled.text, shifted_spans([(f.start, f.end, f.replacement, f.original) for f in filled.fills])


def shifted_spans(changes: list[tuple[int, int, str, str]]) -> list[list]:
    """(start, end, replacement, original) in the original text -> [start, end, original] of each
    replacement in the rewritten text (the spans do not overlap)."""
    out, shift = [], 0
    for start, end, replacement, original in sorted(changes):
        out.append([start + shift, start + shift + len(replacement), original])
        shift += len(replacement) - (end - start)
    return out


def split_rows(config: ParaphraseCorpusConfig, pools: dict[str, Pools], paraphrases: Paraphrases,
               split: str) -> Iterator[dict]:
    for domain, pool in pools.items():
        if split not in pool:
            continue
        originals, sources = pool[split]
        for generator in cell_generators(config, domain, split):
            cell = f"{split}/{domain}/{generator}"
            for n, paragraph in enumerate(originals):
                yield _row(f"{cell}/original/{n:05d}", paragraph.text, 0, domain, generator, split, paragraph.id, [])
            for n, paragraph in enumerate(sources):
                policy, text, replaced = paraphrases[(generator, paragraph.id)]
                row = _row(f"{cell}/paraphrased/{n:05d}", text, 1, domain, generator, split, paragraph.id, replaced)
                yield {**row, "policy": policy} if generator == MIX else row


def _row(row_id: str, text: str, label: int, domain: str, generator: str, split: str, source_id: str,
         replaced: list[list]) -> dict:
    return {"id": row_id, "text": text, "label": label, "domain": domain, "generator": generator, "split": split,
            "source_id": source_id, "changes": len(replaced), "replaced": replaced}


def cell_summary(rows: dict[str, list[dict]]) -> list[dict]:
    """Per split and cell: counts, the mean share of changed words, paraphrases left unchanged."""
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for written in rows.values():
        for row in written:
            groups[(row["split"], row["domain"], row["generator"])].append(row)
    summary = []
    for (split, domain, generator), cell in groups.items():
        labels = Counter(r["label"] for r in cell)
        changed = [r["changes"] / max(1, len(r["text"].split())) for r in cell if r["label"] == 1]
        summary.append({"split": split, "domain": domain, "generator": generator, "originals": labels[0],
                        "paraphrased": labels[1], "changed_word_share": round(sum(changed) / max(1, len(changed)), 4),
                        "unchanged_paraphrases": sum(1 for r in cell if r["label"] == 1 and r["changes"] == 0)})
    return summary


def cells_markdown(manifest: dict) -> str:
    """The build summary as a table: one row per split and cell."""
    lines = ["| split | domain | generator | originals | paraphrased | changed words | unchanged |",
             "|---|---|---|---|---|---|---|"]
    for c in manifest["cells"]:
        lines.append(f"| {c['split']} | {c['domain']} | {c['generator']} | {c['originals']} | {c['paraphrased']} | "
                     f"{100 * c['changed_word_share']:.1f}% | {c['unchanged_paraphrases']} |")
    return "\n".join(lines) + "\n"


def write_jsonl(path: Path, rows: list[dict]) -> None:
    write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


#: What every row of a corpus split carries (`changes`: the substituted words, for word-level detectors).
ROW_KEYS = ("id", "text", "label", "domain", "generator")


def read_split(corpus_dir: Path, split: str) -> list[dict]:
    """The rows of one split of a built corpus; a row without its fields is reported by line."""
    path = Path(corpus_dir) / f"{split}.jsonl"
    if not path.is_file():
        raise DataError(f"{path} not found: build the corpus first (`cohesive paraphrase build`)")
    rows = read_jsonl(path, keys=ROW_KEYS)
    if not rows:
        raise DataError(f"{path} holds no rows")
    return rows


def read_manifest(corpus_dir: Path) -> dict:
    path = Path(corpus_dir) / MANIFEST
    if not path.is_file():
        raise DataError(f"{path} not found: build the corpus first (`cohesive paraphrase build`)")
    return read_json(path)
