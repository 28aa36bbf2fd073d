"""`cohesive detect FILE`: which paragraphs of a document look machine-paraphrased.

The file (UTF-8) is split on blank lines into paragraphs; a paragraph longer than `window` words
is scored in overlapping windows (`stride` words apart, the last one ending at the paragraph's
end) and takes the maximum, so one spun passage inside a long paragraph is not averaged away.
A paragraph is flagged when its probability reaches the detector's validation threshold.

With no detector named, the shipped word-level detector (`cohesive/pretrained/paraphrase/`) is used;
a word-level detector also reports, per flagged paragraph, the words most likely substituted and
the words it expected in their place (`evidence`), which the HTML report highlights.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

from cohesive.atomic import write_text
from cohesive.errors import CohesiveError
from cohesive.files import STDIN, read_bytes
from cohesive.paraphrase.detectors import Detector, load_detector

#: The shipped default detector, found beside the installed package (never relative to the working folder).
SHIPPED_DETECTOR = Path(__file__).resolve().parent.parent / "pretrained" / "paraphrase"
MAX_WORDS = 100_000  # ~5 minutes at 300 words/s; `--max-words` raises it


@dataclass(frozen=True)
class ScoredParagraph:
    index: int  # 1-based paragraph number
    line: int  # first line of the paragraph in the file
    text: str
    words: int
    windows: int
    probability: float
    flagged: bool
    evidence: list  # word-level detectors: [{word, start, end, score, expected}] for flagged paragraphs


def read_document(path: Path) -> str:
    """The file's text (`-`: standard input); a missing, unreadable, binary, non-UTF-8 or blank file
    is a user error."""
    if path.is_dir():
        raise CohesiveError(f"{path} is a folder: give a text file to scan")
    data = read_bytes(path)
    path = "standard input" if str(path) == STDIN else path
    if b"\x00" in data:
        raise CohesiveError(f"{path} looks like a binary file (it contains NUL bytes): give a UTF-8 text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CohesiveError(f"{path} is not UTF-8 text (invalid byte at offset {exc.start}); convert it, "
                            "e.g. `iconv -f latin1 -t utf-8`") from None
    if not text.strip():
        raise CohesiveError(f"{path} is empty: no paragraph to score")
    return text


def split_paragraphs(text: str) -> list[tuple[int, str]]:
    """(first line number, paragraph with its whitespace collapsed) for each blank-line-separated block."""
    paragraphs, current, first = [], [], 0
    for number, line in enumerate([*text.splitlines(), ""], start=1):
        if line.strip():
            first = first if current else number
            current.append(line)
        elif current:
            paragraphs.append((first, " ".join(" ".join(current).split())))
            current = []
    return paragraphs


def word_windows(text: str, size: int, stride: int) -> list[str]:
    """The whole text if it has at most `size` words, else windows of `size` words every `stride`
    words, the last one aligned to the end."""
    words = text.split()
    if len(words) <= size:
        return [text]
    starts = list(range(0, len(words) - size + 1, stride))
    if starts[-1] + size < len(words):
        starts.append(len(words) - size)
    return [" ".join(words[s:s + size]) for s in starts]


class OpenedDetector(NamedTuple):
    """A loaded detector and how reports name it (a server opens one at start-up and keeps it)."""

    detector: Detector
    name: str


def open_detector(detector_dir: Path | None = None) -> OpenedDetector:
    """The detector in `detector_dir`, or the shipped one when None."""
    if detector_dir is None:
        return OpenedDetector(load_detector(shipped_detector()), f"shipped ({shipped_detector()})")
    return OpenedDetector(load_detector(detector_dir), str(detector_dir))


def scan_document(path: Path, detector_dir: Path | None = None, window: int = 200, stride: int = 100,
                  threshold: float | None = None, max_words: int = MAX_WORDS) -> dict:
    """Score every paragraph of `path` (with the shipped detector unless `detector_dir` is given);
    returns the report that `--json` prints."""
    check_scan_options(window, stride, threshold)
    return scan_text(read_document(path), detector_dir, window, stride, threshold, max_words, source=str(path))


def scan_text(text: str, detector: Path | OpenedDetector | None = None, window: int = 200, stride: int = 100,
              threshold: float | None = None, max_words: int = MAX_WORDS, source: str = "the text") -> dict:
    """Score every paragraph of `text` with `detector` (a folder, None for the shipped one, or one
    already opened); `source` names the text in the report and in errors. The cheap checks come
    before the detector is loaded."""
    check_scan_options(window, stride, threshold)
    paragraphs = split_paragraphs(text)
    if not paragraphs:
        raise CohesiveError(f"{source} is empty: no paragraph to score")
    words = sum(len(paragraph.split()) for _, paragraph in paragraphs)
    if words > max_words:
        raise CohesiveError(f"{source} has {words:,} words, more than detect reads at once ({max_words:,}, about "
                            f"{max_words // 300 // 60 + 1} min): split the file or raise --max-words")
    detector, name = detector if isinstance(detector, OpenedDetector) else open_detector(detector)
    cut = threshold if threshold is not None else detector.threshold
    if hasattr(detector, "score_texts"):
        scored = _scored_by_words(detector, paragraphs, window, stride, cut)
    else:
        scored = _scored_by_windows(detector, paragraphs, window, stride, cut)
    return {"file": source, "detector": name, "kind": detector.kind, "threshold": cut,
            "trained_on": detector.info.get("train_cell"), "window": window, "stride": stride,
            "flagged": sum(p.flagged for p in scored), "paragraphs": [asdict(p) for p in scored]}


def check_scan_options(window: int, stride: int, threshold: float | None) -> None:
    if window < 1 or not 1 <= stride <= window:
        raise CohesiveError(f"need window >= 1 and 1 <= stride <= window, got window={window}, stride={stride}")
    if threshold is not None and not 0 <= threshold <= 1:
        raise CohesiveError(f"threshold is a probability in [0, 1], got {threshold}")


def shipped_detector() -> Path:
    if not (SHIPPED_DETECTOR / "detector.json").is_file():
        raise CohesiveError(f"the shipped detector is missing from {SHIPPED_DETECTOR}: reinstall cohesive or "
                            "pass --detector DIR")
    return SHIPPED_DETECTOR


def _scored_by_windows(detector, paragraphs: list[tuple[int, str]], window: int, stride: int,
                       cut: float) -> list[ScoredParagraph]:
    """Paragraph-level detectors: each window of words scored as a text, the maximum kept."""
    windows = [word_windows(text, window, stride) for _, text in paragraphs]
    scores = iter(detector([w for ws in windows for w in ws]).tolist())
    scored = []
    for index, ((line, text), pieces) in enumerate(zip(paragraphs, windows), start=1):
        probability = max(next(scores) for _ in pieces)
        scored.append(ScoredParagraph(index, line, text, len(text.split()), len(pieces), round(probability, 4),
                                      probability >= cut, []))
    return scored


def _scored_by_words(detector, paragraphs: list[tuple[int, str]], window: int, stride: int,
                     cut: float) -> list[ScoredParagraph]:
    """Word-level detectors: words scored once per paragraph, windows aggregated, evidence for flags."""
    from cohesive.paraphrase.wordlevel import windows

    scored = []
    texts = [text for _, text in paragraphs]
    for index, ((line, text), words) in enumerate(zip(paragraphs, detector.score_texts(texts, keep_hidden=True)), start=1):
        probability = detector.paragraph_probability(words, window, stride)
        flagged = probability >= cut
        scored.append(ScoredParagraph(index, line, text, len(text.split()), len(windows(len(words.scores), window, stride)),
                                      round(probability, 4), flagged, detector.evidence(words) if flagged else []))
    return scored


def write_report(path: Path, text: str) -> None:
    try:
        write_text(path, text)
    except OSError as exc:
        raise CohesiveError(f"cannot write {path}: {exc.strerror or exc}") from None


def report_text(report: dict) -> str:
    """One line per paragraph: number, probability, flag, the paragraph's opening words."""
    header = (f"{report['file']}: {len(report['paragraphs'])} paragraphs, {report['flagged']} flagged "
              f"({report['kind']} detector {report['detector']}, threshold {report['threshold']:.3f})")
    lines = [header]
    for p in report["paragraphs"]:
        preview = p["text"] if len(p["text"]) <= 70 else p["text"][:67] + "..."
        lines.append(f"{p['index']:>4}  {p['probability']:.3f}  {'PARAPHRASED' if p['flagged'] else 'original   '}  "
                     f"{preview}")
        if p["evidence"]:
            lines.append("      likely substituted: " + "; ".join(_evidence_text(e) for e in p["evidence"]))
    return "\n".join(lines)


def _evidence_text(evidence: dict) -> str:
    expected = f" (expected {' / '.join(evidence['expected'])})" if evidence["expected"] else ""
    drop = f", drop {evidence['drop']:.2f}" if "drop" in evidence else ""
    return f"{evidence['word']} {evidence['score']:.2f}{drop}{expected}"


_STYLE = """
body { font-family: Georgia, serif; max-width: 52em; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-family: sans-serif; font-size: 1.3em; }
.summary, .score { font-family: sans-serif; font-size: 0.85em; color: #555; }
.para { border-left: 4px solid #ccc; padding: 0.3em 0.8em; margin: 1em 0; border-radius: 3px; }
.para.flagged { border-left-color: #c0392b; }
.para.flagged .score { color: #922b21; font-weight: bold; }
.para p { margin: 0.3em 0; line-height: 1.5; }
mark { background: #f5b7b1; border-bottom: 2px solid #c0392b; padding: 0 0.1em; cursor: help; }
.evidence { font-family: sans-serif; font-size: 0.8em; color: #555; }
"""


def report_html(report: dict) -> str:
    """A self-contained page: every paragraph, suspicious ones tinted by their probability."""
    name = html.escape(Path(report["file"]).name)
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>Machine-paraphrase report: {name}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
        f"<h1>Machine-paraphrase report: {name}</h1>",
        (f'<p class="summary">{len(report["paragraphs"])} paragraphs, <strong>{report["flagged"]} flagged</strong> '
         f"as possibly machine-paraphrased by the {html.escape(report['kind'])} detector "
         f"<code>{html.escape(report['detector'])}</code> (flag when P &ge; {report['threshold']:.3f}). "
         "A flag is a reason to look closer, not proof. Highlighted words are those the detector thinks a machine "
         "substituted; hover over one to see the word it expected there.</p>"),
    ]
    for p in report["paragraphs"]:
        tint = f' style="background: rgba(231, 76, 60, {0.08 + 0.3 * p["probability"]:.2f})"' if p["flagged"] else ""
        label = "possibly machine-paraphrased" if p["flagged"] else "not flagged"
        windows = f", max over {p['windows']} windows" if p["windows"] > 1 else ""
        parts += [f'<div class="para{" flagged" if p["flagged"] else ""}" id="p{p["index"]}"{tint}>',
                  (f'<div class="score">&para; {p["index"]} (line {p["line"]}) &middot; '
                   f'P = {p["probability"]:.3f}{windows} &middot; {label}</div>'),
                  f"<p>{highlighted(p['text'], p['evidence'])}</p>"]
        if p["evidence"]:
            words = ", ".join(html.escape(_evidence_text(e)) for e in p["evidence"])
            parts.append(f'<div class="evidence">likely substituted: {words}</div>')
        parts.append("</div>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def highlighted(text: str, evidence: list[dict]) -> str:
    """The paragraph, HTML-escaped, each evidence word in a <mark> whose title gives score and expected words."""
    parts, position = [], 0
    for e in sorted(evidence, key=lambda e: e["start"]):
        expected = ", ".join(e["expected"]) or "-"
        drop = f"; {e['drop']:.2f} lower with {e['expected'][0]!r} in its place" if "drop" in e and e["expected"] else ""
        title = html.escape(f"substitution score {e['score']:.2f}{drop}; expected: {expected}", quote=True)
        parts += [html.escape(text[position:e["start"]]), f'<mark title="{title}">{html.escape(text[e["start"]:e["end"]])}</mark>']
        position = e["end"]
    return "".join(parts) + html.escape(text[position:])
