"""Rebuild `examples/sample_document.txt`: six paragraphs from the corpus domains, three of them spun.

    python examples/make_sample_document.py

The spinner runs as the corpus build does by default: extended Lesk (each word's sense chosen in its
sentence) with the project's full SemCor POS tagger; each spun paragraph uses `random.Random(0)`.
"""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

from cohesive.paraphrase.sources import domain_paragraphs
from cohesive.paraphrase.spinner import Spinner

OUT = Path(__file__).resolve().parent / "sample_document.txt"
#: (paragraph ids joined into one paragraph, spin mode or None for an original)
PARAGRAPHS = [
    (["semcor:d99a9fe582f3"], None),
    (["semcor:778da1c72ccb"], "max"),
    (["pydoc:6821c1cfb4f6"], None),
    (["pydoc:96674eb96a5e"], "every-2nd"),
    (["gcide:a7506cd88d01"], "max"),
    # four consecutive SemCor paragraphs, 270 words: scored in windows
    (["semcor:1ed1bf029abe", "semcor:449e06cc8143", "semcor:26508de581ac", "semcor:85a088ead8cb"], None),
]


def main() -> None:
    texts = {p.id: p.text for domain in ("semcor", "pydoc", "gcide") for p in domain_paragraphs(domain)}
    spinners: dict[str, Spinner] = {}
    blocks = []
    for ids, mode in PARAGRAPHS:
        text = " ".join(texts[i] for i in ids)
        if mode is not None:
            spinner = spinners.setdefault(mode, Spinner(mode, sense="lesk"))
            text = spinner.spin(text, random.Random(0)).text
        blocks.append(textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False))
    OUT.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
