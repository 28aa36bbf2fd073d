"""Words per second of `cohesive detect` with the shipped word-level detector, and peak RSS.

The document is made of real paragraphs from the cross-domain corpus's test split (original and
paraphrased, every domain), or of `--file`; it is written to a temporary file and scanned by
`cohesive detect FILE --json` in a fresh process, exactly as a user runs it, so the time includes
Python start-up, loading torch, the model and WordNet, and the evidence of every flagged paragraph.
The machine's word table (`cohesive.paraphrase.wordfacts`, built once per machine, about a minute) is made
first, untimed, as any earlier `detect` on the machine would have made it. The CLI runs `--repeats`
times and the median is reported, with the range (shared machines are noisy); with `--baseline`, one
more run reads WordNet word by word instead of the table (the path `detect` takes where the table
cannot be written), so the table's gain is a ratio measured in one run. Peak RSS is the largest of the table runs. A second
figure counts only the scan after a warm load (`scan (s)`), measured in this process. Torch uses
every core (2 on the project's machines).

    python benchmarks/detect_speed.py                                # 20,000 words from the xdomain corpus
    python benchmarks/detect_speed.py --words 10000 --baseline
    python benchmarks/detect_speed.py --words 5000 --file examples/sample_document.txt

Target (issue): >= 300 words per second on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
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
    parser.add_argument("--repeats", type=int, default=3, help="CLI runs with the word table (default 3; median reported)")
    parser.add_argument("--baseline", action="store_true", help="one more run reading WordNet word by word")
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


#: The CLI in a child process, or (`WITHOUT_TABLE`) the CLI as it runs where the word table cannot be written.
CLI = [sys.executable, "-m", "cohesive.cli"]
WITHOUT_TABLE = [sys.executable, "-c", "import sys, cohesive.paraphrase.wordfacts as facts; facts.word_table = lambda: None; "
                 "from cohesive.cli import main; sys.exit(main())"]


def run_cli(path: Path, detector: Path | None, cli: list[str] = CLI) -> dict:
    """`cohesive detect --json` in a child process: wall time, the peak RSS of the children so far, flagged count."""
    command = [*cli, "detect", str(path), "--json"] + (["--detector", str(detector)] if detector else [])
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"detect failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    report = json.loads(result.stdout)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak_mb), "paragraphs": len(report["paragraphs"]),
            "flagged": report["flagged"]}


def prepare_word_table() -> float:
    """Seconds spent building the machine's word table now (0 if it was there)."""
    from cohesive.paraphrase.wordfacts import table_path, word_table

    started, existed = time.perf_counter(), table_path().is_file()
    if word_table() is None:
        raise SystemExit("the word table could not be written: the benchmark would time WordNet lookups")
    return 0.0 if existed else round(time.perf_counter() - started, 1)


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
    build_seconds = prepare_word_table()
    with tempfile.TemporaryDirectory(prefix="detect-speed-") as scratch:
        path = Path(scratch) / "document.txt"
        path.write_text(text, encoding="utf-8")
        runs = [run_cli(path, args.detector) for _ in range(max(1, args.repeats))]
        baseline = run_cli(path, args.detector, WITHOUT_TABLE) if args.baseline else None
        warm = warm_scan(path, args.detector)
    seconds = statistics.median(r["seconds"] for r in runs)
    result = {"words": words, "cores": os.cpu_count(), "seconds": seconds, "seconds_runs": [r["seconds"] for r in runs],
              "peak_rss_mb": runs[-1]["peak_rss_mb"], "paragraphs": runs[0]["paragraphs"], "flagged": runs[0]["flagged"],
              "words_per_second": round(words / seconds), "word_table_build_seconds": build_seconds,
              "scan_seconds_warm": round(warm, 1), "scan_words_per_second_warm": round(words / warm),
              "target_words_per_second": TARGET_WORDS_PER_SECOND}
    print(f"| words | cores | end to end (s), median of {len(runs)} | words/s | scan only (s) | words/s (scan) | "
          f"peak RSS (MB) | flagged |\n|---|---|---|---|---|---|---|---|\n"
          f"| {words} | {result['cores']} | {seconds} ({min(result['seconds_runs'])}-{max(result['seconds_runs'])}) | "
          f"{result['words_per_second']} | {result['scan_seconds_warm']} | {result['scan_words_per_second_warm']} | "
          f"{result['peak_rss_mb']} | {result['flagged']}/{result['paragraphs']} |")
    if baseline:
        if baseline["flagged"] != result["flagged"]:
            raise SystemExit(f"without the word table {baseline['flagged']} paragraphs were flagged, with it {result['flagged']}")
        result.update(seconds_without_table=baseline["seconds"], words_per_second_without_table=round(words / baseline["seconds"]),
                      speedup_from_table=round(baseline["seconds"] / seconds, 2))
        print(f"without the word table (WordNet word by word): {baseline['seconds']} s, "
              f"{result['words_per_second_without_table']} words/s; the table is {result['speedup_from_table']}x faster")
    verdict = "meets" if result["words_per_second"] >= TARGET_WORDS_PER_SECOND else "misses"
    print(f"end to end {result['words_per_second']} words/s: {verdict} the target of {TARGET_WORDS_PER_SECOND}")
    if args.output:
        from cohesive.atomic import write_json

        write_json(args.output, result)


if __name__ == "__main__":
    main()
