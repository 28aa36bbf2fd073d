"""The word table against WordNet read word by word, on every distinct word of real corpora.

For each word of the corpora's texts, the detector's lexical and frequency features and its WordNet
relatives as `detect` reads them (from the machine's word table) must equal what WordNet gives word
by word (NLTK's `morphy`, the synsets, wordfreq, lemminflect). A correctness check: the speed of
the two paths is `benchmarks/detect_speed.py --baseline`'s.

    python benchmarks/word_table_check.py                 # test + validation of both paraphrase corpora
    python benchmarks/word_table_check.py --output results/paraphrase/word_table_check.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CORPORA = (Path("runs/paraphrase/corpus-xdomain"), Path("runs/paraphrase/corpus-shipped-hypo"))


def corpus_words(corpora: list[Path], splits: list[str]) -> list[str]:
    from cohesive.paraphrase.wordlevel import scored_words

    words = set()
    for corpus in corpora:
        for split in splits:
            with (corpus / f"{split}.jsonl").open(encoding="utf-8") as rows:
                for line in rows:
                    words.update(w for w, _, _ in scored_words(json.loads(line)["text"]))
    return sorted(words)


def from_table(word: str) -> tuple:
    from cohesive.paraphrase.wordfacts import frequency_features, lexical_features, wordnet_relatives

    return lexical_features(word), frequency_features(word), wordnet_relatives(word)


def from_wordnet(word: str) -> tuple:
    from cohesive.paraphrase.wordfacts import english_stop_words, features_from, inflected_relatives, word_lemma_facts

    facts = word_lemma_facts(word)
    lexical, frequency = features_from(word, facts if word.isalpha() else (), english_stop_words())
    return lexical, frequency, inflected_relatives(word, tuple((f.pos, f.lemma, f.relatives) for f in facts))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, action="append", help="corpus folder (repeatable; default both corpora)")
    parser.add_argument("--splits", nargs="+", default=["test", "validation"])
    parser.add_argument("--output", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    from cohesive.paraphrase.wordfacts import word_table

    if word_table() is None:
        raise SystemExit("the word table could not be written: nothing to check")
    words = corpus_words(args.corpus or list(CORPORA), args.splits)
    differ = [w for w in words if from_table(w) != from_wordnet(w)]
    result = {"words": len(words), "alphabetic": sum(w.isalpha() for w in words), "differ": len(differ),
              "examples": differ[:10]}
    print(f"{len(words)} distinct words ({result['alphabetic']} alphabetic): {len(differ)} differ")
    if args.output:
        from cohesive.atomic import write_json

        write_json(args.output, result)
    if differ:
        raise SystemExit(f"the table differs from WordNet on {len(differ)} words, e.g. {differ[:5]}")


if __name__ == "__main__":
    main()
