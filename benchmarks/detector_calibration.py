"""How much of a word-level detector's loss on unseen domains is the paragraph threshold?

Scores every word of the corpus's validation and test paragraphs once with a `word-lora` detector,
then, from those word scores alone, compares the mean macro-F1 over the test cells of the domains
it was not trained on when the paragraph probability and threshold come from:

- the detector's own aggregate (logistic regression on `PARAGRAPH_FEATURES`, refitted here on the
  validation split as `paraphrase train` does) at its maximum-macro-F1 threshold;
- the same aggregate plus statistics relative to the paragraph's own median word logit (does
  normalising within the paragraph undo a register that reads as unusual everywhere?);
- the same aggregate at thresholds that allow a fixed false-positive rate on validation originals;
- an oracle: each test cell at its own best threshold (what no deployed detector can do).

    python benchmarks/detector_calibration.py --output results/paraphrase/xdomain/calibration.json
    python benchmarks/detector_calibration.py --detector runs/paraphrase/xdomain/word-lora
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

CORPUS = Path("runs/paraphrase/corpus-xdomain")
FPR_RULES = (0.005, 0.01, 0.02, 0.05)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", type=Path, help="a word-lora detector folder (default: the shipped one)")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help=f"corpus folder (default {CORPUS})")
    parser.add_argument("--output", type=Path, help="also write the result as JSON here")
    return parser.parse_args(argv)


def relative_features(scores: np.ndarray) -> np.ndarray:
    """PARAGRAPH_FEATURES plus the top-3 and top-8 mean word logits minus the median, and the median."""
    from cohesive.paraphrase.wordlevel import paragraph_features

    logits = np.sort(np.log(np.clip(scores, 1e-4, 1 - 1e-4) / np.clip(1 - scores, 1e-4, 1)))[::-1]
    median = float(np.median(logits)) if len(logits) else 0.0
    top = [float(logits[:k].mean()) - median if len(logits) else 0.0 for k in (3, 8)]
    return np.concatenate([paragraph_features(scores), top, [median]])


def fit_aggregate(features: np.ndarray, labels: np.ndarray):
    """Standardised logistic regression and its 5-fold out-of-fold validation probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    out_of_fold = cross_val_predict(model, features, labels, cv=folds, method="predict_proba")[:, 1]
    return model.fit(features, labels), out_of_fold


def unseen_mean(cells: dict, probability: dict, threshold: float | None) -> float:
    """Mean macro-F1 over the cells (None: each cell at its own best threshold)."""
    from cohesive.paraphrase.metrics import best_threshold, macro_f1

    values = []
    for rows in cells.values():
        labels, scores = [r["label"] for r in rows], [probability[r["text"]] for r in rows]
        values.append(best_threshold(labels, scores)[1] if threshold is None else macro_f1(labels, scores, threshold))
    return float(np.mean(values))


def main(argv: list[str] | None = None) -> int:
    from cohesive.paraphrase.corpus import read_manifest, read_split
    from cohesive.paraphrase.detectors import load_detector
    from cohesive.paraphrase.metrics import best_threshold
    from cohesive.paraphrase.scan import SHIPPED_DETECTOR
    from cohesive.paraphrase.wordlevel import paragraph_features

    args = parse_args(argv)
    detector = load_detector(args.detector or SHIPPED_DETECTOR)
    if detector.kind != "word-lora":
        print(f"{args.detector}: a {detector.kind} detector has no word scores; give a word-lora detector", file=sys.stderr)
        return 2
    detector.counterfactual = False  # this study is of the plain word scores: no second (counterfactual) pass
    validation, test = read_split(args.corpus, "validation"), read_split(args.corpus, "test")
    trained_domain = read_manifest(args.corpus)["train_cell"]["domain"]
    texts = list(dict.fromkeys(r["text"] for r in validation + test))
    words = {t: s.scores for t, s in zip(texts, detector.score_texts(texts))}
    labels = np.array([r["label"] for r in validation])
    cells: dict = {}
    for row in test:
        if row["domain"] != trained_domain:
            cells.setdefault((row["domain"], row["generator"]), []).append(row)
    unseen_texts = list(dict.fromkeys(r["text"] for rows in cells.values() for r in rows))
    result = {"detector": str(args.detector or SHIPPED_DETECTOR), "corpus": str(args.corpus), "cells": len(cells),
              "rules": {}}
    for name, featurise in (("shipped aggregate", paragraph_features), ("+ relative to the median", relative_features)):
        model, out_of_fold = fit_aggregate(np.stack([featurise(words[r["text"]]) for r in validation]), labels)
        probability = dict(zip(unseen_texts, model.predict_proba(np.stack([featurise(words[t]) for t in unseen_texts]))[:, 1]))
        rules = {"max validation macro-F1": best_threshold(labels, out_of_fold)[0]}
        if featurise is paragraph_features:
            originals = np.sort(out_of_fold[labels == 0])[::-1]
            rules.update({f"validation FPR {100 * q:g}%": float(originals[int(q * len(originals))]) for q in FPR_RULES})
            rules["each cell's best threshold (oracle)"] = None
        for rule, threshold in rules.items():
            result["rules"][f"{name}, {rule}"] = {"threshold": threshold,
                                                  "unseen_macro_f1": round(unseen_mean(cells, probability, threshold), 4)}
    print(f"{result['detector']}: mean macro-F1 over the {len(cells)} test cells of unseen domains")
    for rule, entry in result["rules"].items():
        threshold = "per cell" if entry["threshold"] is None else f"{entry['threshold']:.3f}"
        print(f"  {rule:70s} threshold {threshold:>8s}  {100 * entry['unseen_macro_f1']:.1f}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
