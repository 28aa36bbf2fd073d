"""Words per second of `cohesive detect` with the shipped word-level detector, and peak RSS.

The document is made of real paragraphs from the cross-domain corpus's test split (original and
paraphrased, every domain), or of `--file`; it is written to a temporary file and scanned by
`cohesive detect FILE --json` in a fresh process, exactly as a user runs it, so the time includes
Python start-up, loading torch, the model and WordNet, and the evidence of every flagged paragraph.
The child's own wall time and peak RSS are reported; a second figure counts only the scan after a
warm load (`scan (s)`), measured in this process. Torch uses every core (2 on the project's machines).

    python benchmarks/detect_speed.py                                # 20,000 words from the xdomain corpus
    python benchmarks/detect_speed.py --words 5000 --file examples/sample_document.txt

Target (issue): >= 300 words per second on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_WORDS_PER_SECOND = 300
CORPUS = Path("runs/paraphrase/corpus-xdomain")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=20000, help="document length in words (default 20000)")
    parser.add_argument("--file", type=Path, help="paragraphs to repeat instead of the corpus's test split")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help=f"corpus folder (default {CORPUS})")
    parser.add_argument("--detector", type=Path, help="a detector folder (default: the shipped one)")
    parser.add_argument("--output", type=Path, help="also write the result as JSON here")
    return parser.parse_args(argv)


def source_paragraphs(args: argparse.Namespace) -> list[str]:
    if args.file:
        return [p for p in args.file.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    with (args.corpus / "test.jsonl").open(encoding="utf-8") as rows:
        texts = list(dict.fromkeys(json.loads(line)["text"] for line in rows))
    random.Random(0).shuffle(texts)
    return texts


def document(paragraphs: list[str], words: int) -> str:
    chosen, count = [], 0
    for paragraph in iter_forever(paragraphs):
        chosen.append(paragraph)
        count += len(paragraph.split())
        if count >= words:
            return "\n\n".join(chosen) + "\n"
    raise AssertionError("unreachable")


def iter_forever(items: list[str]):
    while True:
        yield from items


def run_cli(path: Path, detector: Path | None) -> dict:
    """`cohesive detect --json` in a child process: wall time, the child's peak RSS, flagged count."""
    command = [sys.executable, "-m", "cohesive.cli", "detect", str(path), "--json"]
    command += ["--detector", str(detector)] if detector else []
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"detect failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    report = json.loads(result.stdout)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak_mb), "paragraphs": len(report["paragraphs"]),
            "flagged": report["flagged"]}


def warm_scan(path: Path, detector: Path | None) -> float:
    """Seconds of the scan alone, after one untimed scan has loaded everything."""
    from cohesive.paraphrase.scan import scan_document

    scan_document(path, detector)
    started = time.perf_counter()
    scan_document(path, detector)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    text = document(source_paragraphs(args), args.words)
    words = len(text.split())
    with tempfile.TemporaryDirectory(prefix="detect-speed-") as scratch:
        path = Path(scratch) / "document.txt"
        path.write_text(text, encoding="utf-8")
        cold = run_cli(path, args.detector)
        warm = warm_scan(path, args.detector)
    result = {"words": words, "cores": os.cpu_count(), **cold, "words_per_second": round(words / cold["seconds"]),
              "scan_seconds_warm": round(warm, 1), "scan_words_per_second_warm": round(words / warm),
              "target_words_per_second": TARGET_WORDS_PER_SECOND}
    print(f"| words | cores | end to end (s) | words/s | scan only (s) | words/s (scan) | peak RSS (MB) | flagged |\n"
          f"|---|---|---|---|---|---|---|---|\n"
          f"| {words} | {result['cores']} | {cold['seconds']} | {result['words_per_second']} | {result['scan_seconds_warm']} | "
          f"{result['scan_words_per_second_warm']} | {cold['peak_rss_mb']} | {cold['flagged']}/{cold['paragraphs']} |")
    verdict = "meets" if result["words_per_second"] >= TARGET_WORDS_PER_SECOND else "misses"
    print(f"end to end {result['words_per_second']} words/s: {verdict} the target of {TARGET_WORDS_PER_SECOND}")
    if args.output:
        from cohesive.atomic import write_json

        write_json(args.output, result)


if __name__ == "__main__":
    main()
