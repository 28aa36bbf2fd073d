"""Does WSD sense fit tell a spun word from an original beyond the word detector's own evidence?

The thesis' claim for paraphrase detection is that an encoder that knows senses sees wrong-sense
substitutions better. This probe asks it at the word level, before anything is built into the
detector: every word of the corpus's validation paragraphs (and of a few unseen-domain test cells)
gets the shipped detector's score and counterfactual drop, and six sense-fit statistics from the
shipped WSD model (`cohesive.disambiguate`: one sense per content word, in context):

- `tagged`: the word is a content word WordNet knows (the WSD model tags it);
- `probability`: the WSD model's probability of the sense it chose;
- `log_sense_number`: log of that sense's WordNet rank for the lemma (a spinner writes a word in a
  sense it rarely has: the synset of the word it removed);
- `log_sense_count`: SemCor tag count of that sense (log 1 + n);
- `count_gap`: log count of the synset's most tagged other lemma minus the word's own;
- `zipf_gap`: the same with general-English Zipf frequencies (`wordfreq`).

It reports each statistic's word-level AUROC (substituted vs. original word) and the AUROC of a
logistic regression on [score, drop] against one on [score, drop + the six], cross-validated by
paragraph on validation (5 folds) and, fitted on all of validation, on the test cells.

    python benchmarks/sense_fit_probe.py --output results/paraphrase/sense_fit_probe.json

Needs the cross-domain corpus (`cohesive paraphrase build --config configs/paraphrase/build_xdomain.yaml`).
Slow on a cold gloss bank: the WSD model encodes the glosses of every new lemma once (~80 words/s
cold, ~200-400 words/s warm on 2 cores), so the default test cells are two domains x two generators.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

CORPUS = Path("runs/paraphrase/corpus-xdomain")
SENSE_FEATURES = ("tagged", "probability", "log_sense_number", "log_sense_count", "count_gap", "zipf_gap")
DETECTOR_FEATURES = ("score", "drop")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", type=Path, help="a word-lora detector with counterfactual evidence "
                                                      "(default: the shipped one)")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help=f"corpus folder (default {CORPUS})")
    parser.add_argument("--domains", nargs="+", default=["gcide", "pydoc"], help="test domains (default gcide pydoc)")
    parser.add_argument("--generators", nargs="+", default=["spin-4th", "spin-hyper"],
                        help="test generators (default spin-4th spin-hyper)")
    parser.add_argument("--output", type=Path, help="also write the result as JSON here")
    return parser.parse_args(argv)


def sense_features(tag, lex) -> list[float]:
    """SENSE_FEATURES of one WSD tag (`cohesive.wsd.disambiguate.SenseTag`)."""
    from wordfreq import zipf_frequency

    sense = lex.sense(tag.key)
    others = [lemma for lemma in lex.synset(tag.key).lemmas()
              if lemma.name().lower() != tag.lemma.lower() and lemma.name().isalpha()]
    best_other = max([lex.sense(lemma.key()).tag_count for lemma in others if lex.has_sense(lemma.key())] or [0])
    own_zipf = zipf_frequency(tag.lemma, "en")
    other_zipf = max([zipf_frequency(lemma.name(), "en") for lemma in others] or [own_zipf])
    return [1.0, tag.probability, math.log(sense.number), math.log1p(sense.tag_count),
            math.log1p(best_other) - math.log1p(sense.tag_count), other_zipf - own_zipf]


def word_table(detector, rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(features [words, 2 + 6], word labels, paragraph index per word, seconds per stage)."""
    from cohesive.lexicon import lexicon
    from cohesive.paraphrase.wordlevel import word_labels
    from cohesive.wsd.disambiguate import disambiguate

    lex = lexicon()
    started = time.perf_counter()
    scored = detector.score_texts([r["text"] for r in rows])
    detected = time.perf_counter()
    features, labels, groups = [], [], []
    for index, (row, words) in enumerate(zip(rows, scored)):
        tags = {tag.start: tag for tag in disambiguate(row["text"])}
        drops = words.drops()
        for i, (label, (_, start, _)) in enumerate(zip(word_labels(words.spans, row.get("replaced", [])), words.spans)):
            tag = tags.get(start)
            features.append([words.scores[i], drops[i], *(sense_features(tag, lex) if tag else [0.0] * 6)])
            labels.append(label)
            groups.append(index)
    seconds = {"detector": round(detected - started, 1), "wsd": round(time.perf_counter() - detected, 1)}
    return np.array(features), np.array(labels), np.array(groups), seconds


def compare(validation: tuple, test: tuple) -> dict:
    """Word-level AUROCs: each statistic alone on validation, and the two regressions."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_predict

    (x, y, groups), (x_test, y_test) = validation, test
    mean, scale = x.mean(0), x.std(0) + 1e-6
    names = DETECTOR_FEATURES + SENSE_FEATURES
    out = {"alone_validation": {n: round(float(roc_auc_score(y, x[:, j])), 4) for j, n in enumerate(names)}}
    for label, columns in (("detector", [0, 1]), ("detector+sense", list(range(len(names))))):
        standardised = ((x - mean) / scale)[:, columns]
        model = LogisticRegression(max_iter=1000)
        out_of_fold = cross_val_predict(model, standardised, y, cv=GroupKFold(5), groups=groups,
                                        method="predict_proba")[:, 1]
        model.fit(standardised, y)
        tested = model.predict_proba(((x_test - mean) / scale)[:, columns])[:, 1]
        out[label] = {"validation_auroc": round(float(roc_auc_score(y, out_of_fold)), 4),
                      "test_auroc": round(float(roc_auc_score(y_test, tested)), 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    from cohesive.files import read_jsonl
    from cohesive.paraphrase.detectors import load_detector
    from cohesive.paraphrase.scan import SHIPPED_DETECTOR

    args = parse_args(argv)
    for split in ("validation", "test"):
        if not (args.corpus / f"{split}.jsonl").is_file():
            print(f"error: {args.corpus / split}.jsonl not found: build the corpus first", file=sys.stderr)
            return 2
    detector = load_detector(args.detector or SHIPPED_DETECTOR)
    if not getattr(detector, "counterfactual", False):
        print("error: the probe needs a word-lora detector with counterfactual evidence", file=sys.stderr)
        return 2
    validation = list(read_jsonl(args.corpus / "validation.jsonl"))
    test = [r for r in read_jsonl(args.corpus / "test.jsonl")
            if r["domain"] in args.domains and r["generator"] in args.generators]
    x, y, groups, val_seconds = word_table(detector, validation)
    x_test, y_test, _, test_seconds = word_table(detector, test)
    result = {"detector": str(args.detector or SHIPPED_DETECTOR), "corpus": str(args.corpus),
              "test_cells": {"domains": args.domains, "generators": args.generators},
              "words": {"validation": len(y), "test": len(y_test)},
              "seconds": {"validation": val_seconds, "test": test_seconds},
              **compare((x, y, groups), (x_test, y_test))}
    print(json.dumps(result, indent=2))
    if args.output:
        from cohesive.atomic import write_json

        write_json(args.output, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
