"""The web app behind `cohesive serve`: one static page and a JSON API over the same library calls
as `cohesive wsd tag` (`disambiguate`) and `cohesive detect` (`scan_text`).

Both models load in `create_app`, before anything listens, so a model that cannot load stops the
start-up with one line. Model work runs in the thread pool, one request per model at a time (the
predictors keep caches), so the page, `/api/health` and the other model answer meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from cohesive import __version__
from cohesive.errors import CohesiveError
from cohesive.files import first_line
from cohesive.paraphrase.scan import OpenedDetector, open_detector, scan_text, shipped_detector
from cohesive.serve import MAX_BYTES
from cohesive.wsd.disambiguate import disambiguate
from cohesive.wsd.inference import Predictor, default_model, load_predictor

STATIC = Path(__file__).resolve().parent / "static"
TEXT_TYPES = ("application/json", "text/plain")
WARM_UP = "She deposited her salary at the bank."


@dataclass(frozen=True)
class ServeConfig:
    """Where to listen, the largest text accepted, and the models (None: the shipped ones)."""

    host: str = "127.0.0.1"
    port: int = 8000
    max_bytes: int = MAX_BYTES
    wsd_model: Path | None = None
    detector: Path | None = None


@dataclass
class Models:
    """The loaded models, what `/api/health` says about them, and one lock per model."""

    predictor: Predictor
    detector: OpenedDetector
    health: dict
    wsd_lock: threading.Lock = field(default_factory=threading.Lock)
    detect_lock: threading.Lock = field(default_factory=threading.Lock)

    def disambiguate(self, text: str) -> dict:
        """`cohesive wsd tag --json`'s senses of the text, with the text and the model's name."""
        with self.wsd_lock:
            tags = disambiguate(text, model=self.predictor)
        return {"text": text, "model": self.health["wsd"]["name"], "tags": [t.as_dict() for t in tags]}

    def detect(self, text: str) -> dict:
        """`cohesive detect --json`'s report on the text, plus the text itself (for an uploaded file)."""
        with self.detect_lock:
            report = scan_text(text, self.detector, source="the text")
        return {**report, "text": text}


def load_models(config: ServeConfig) -> Models:
    """Both models, each tried once on a short text so that a broken one fails here, not on the first request."""
    wsd_dir = Path(config.wsd_model or default_model())
    predictor = _loaded(lambda: load_predictor(wsd_dir), "WSD model", wsd_dir)
    detector_dir = config.detector or shipped_detector()
    detector = _loaded(lambda: open_detector(config.detector), "paraphrase detector", detector_dir)
    health = {"wsd": model_health(wsd_dir), "detector": detector_health(detector, detector_dir)}
    models = Models(predictor, detector, health)
    _loaded(lambda: (models.disambiguate(WARM_UP), models.detect(WARM_UP)), "models", None)
    return models


def _loaded(load, what: str, where: Path | None):
    """`load()`, any failure of a model's files turned into one CohesiveError line."""
    try:
        return load()
    except CohesiveError:
        raise
    except Exception as exc:  # a corrupt or foreign weight file surfaces as many error types
        place = f" from {where}" if where else ""
        raise CohesiveError(f"cannot load the {what}{place}: {first_line(exc)}") from None


def model_health(directory: Path) -> dict:
    return {"name": directory.name, "path": str(directory), "fingerprint": folder_digest(directory)}


def detector_health(opened: OpenedDetector, directory: Path) -> dict:
    return {**model_health(directory), "name": opened.name, "kind": opened.detector.kind,
            "threshold": opened.detector.threshold}


def folder_digest(directory: Path) -> str:
    """sha256 over every file of a model folder but its card (relative path and bytes): which model answered."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix != ".md"):
        digest.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes())
    return f"sha256:{digest.hexdigest()}"


def create_app(config: ServeConfig, models: Models | None = None) -> FastAPI:
    """The app; loads the models unless given loaded ones (tests share one set)."""
    models = models or load_models(config)
    app = FastAPI(title="cohesive", version=__version__,
                  description="Word senses and machine-paraphrase evidence for a text (`cohesive serve`).")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(CohesiveError)
    async def user_error(request: Request, exc: CohesiveError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/health")
    def health() -> dict:
        """The models this server answers with, their fingerprints, and the largest text it reads."""
        return {"status": "ok", "version": __version__, "max_bytes": config.max_bytes, "models": models.health}

    @app.post("/api/disambiguate")
    async def api_disambiguate(request: Request) -> dict:
        """Body `{"text": ...}` (or a text/plain body): `cohesive wsd tag --json`'s senses, with the text."""
        return await run_in_threadpool(models.disambiguate, await read_text(request, config.max_bytes))

    @app.post("/api/detect")
    async def api_detect(request: Request) -> dict:
        """Body `{"text": ...}` (or a text/plain body): `cohesive detect --json`'s report, with the text."""
        return await run_in_threadpool(models.detect, await read_text(request, config.max_bytes))

    return app


async def read_text(request: Request, max_bytes: int) -> str:
    """The text of a request: JSON `{"text": ...}`, or a raw UTF-8 body (how the page sends an uploaded file)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in TEXT_TYPES:
        raise HTTPException(415, f"send JSON {{\"text\": ...}} or a text/plain body, not {kind or 'no content type'}")
    body = await read_body(request, max_bytes)
    text = json_text(body) if kind == "application/json" else utf8(body)
    if not text.strip():
        raise HTTPException(400, "the text is empty: paste or upload some text")
    return text


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused (413) as soon as it is known to exceed `max_bytes`: no huge body is held in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_large(max_bytes)
    return bytes(body)


def too_large(max_bytes: int) -> HTTPException:
    return HTTPException(413, f"the text is larger than {max_bytes:,} bytes, the most this server reads at once: "
                              "split it, or restart the server with a larger --max-bytes")


def utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"the text is not UTF-8 (invalid byte at offset {exc.start}); convert it, "
                                 "e.g. `iconv -f latin1 -t utf-8`") from None


def json_text(body: bytes) -> str:
    try:
        value = json.loads(utf8(body))
    except json.JSONDecodeError as exc:
        raise HTTPException(400, f"the body is not valid JSON ({exc.msg}, position {exc.pos})") from None
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        raise HTTPException(400, 'expected a JSON object {"text": "..."} with the text as a string')
    return value["text"]
