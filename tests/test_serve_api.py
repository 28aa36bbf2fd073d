"""`cohesive serve`'s JSON API with the shipped models (FastAPI's TestClient): the same evidence as
`cohesive wsd tag` and `cohesive detect`, limits and bad input answered with one 4xx line, and a
server that refuses to start, in one line, when a model cannot load or the port is taken."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, assert_one_line_error, run_cli
from fastapi.testclient import TestClient

from cohesive.paraphrase.scan import SHIPPED_DETECTOR, scan_document
from cohesive.serve.app import ServeConfig, create_app, folder_digest, load_models
from cohesive.wsd.disambiguate import disambiguate
from cohesive.wsd.inference import SHIPPED_MODEL

MONEY = "She deposited her salary at the bank."
LIMIT = 20_000


def sample_paragraphs(*numbers: int) -> str:
    """Paragraphs of the sample document (1-based): 1 is original, 2 is spun and flagged by the shipped detector."""
    paragraphs = (REPO / "examples" / "sample_document.txt").read_text().split("\n\n")
    return "\n\n".join(paragraphs[n - 1].strip() for n in numbers) + "\n"


@pytest.fixture(scope="module")
def models():
    return load_models(ServeConfig())


@pytest.fixture(scope="module")
def client(models):
    with TestClient(create_app(ServeConfig(max_bytes=LIMIT), models)) as test_client:
        yield test_client


def test_health_names_the_shipped_models_and_their_fingerprints(client):
    answer = client.get("/api/health")
    assert answer.status_code == 200
    health = answer.json()
    assert health["status"] == "ok" and health["max_bytes"] == LIMIT
    wsd, detector = health["models"]["wsd"], health["models"]["detector"]
    assert wsd["name"] == "wsd-minilm" and wsd["fingerprint"] == folder_digest(SHIPPED_MODEL)
    assert "shipped" in detector["name"] and detector["kind"] == "word-lora"
    assert detector["fingerprint"] == folder_digest(SHIPPED_DETECTOR) != wsd["fingerprint"]


def test_disambiguate_gives_the_money_sense_of_bank_and_its_runner_up(client):
    answer = client.post("/api/disambiguate", json={"text": MONEY})
    assert answer.status_code == 200
    body = answer.json()
    assert body["text"] == MONEY and body["model"] == "wsd-minilm"
    assert body["tags"] == [t.as_dict() for t in disambiguate(MONEY)]  # the library call behind `wsd tag`
    bank = next(t for t in body["tags"] if t["token"] == "bank")
    assert (bank["key"], bank["synset"]) == ("bank%1:14:00::", "depository_financial_institution.n.01")
    assert bank["runner_up_key"].startswith("bank%") and bank["runner_up_probability"] < bank["probability"]


def test_detect_gives_the_report_of_cohesive_detect(client, tmp_path):
    text = sample_paragraphs(1, 2)
    answer = client.post("/api/detect", json={"text": text})
    assert answer.status_code == 200
    report = answer.json()
    document = tmp_path / "essay.txt"
    document.write_text(text)
    assert {**report, "file": None, "text": None} == {**scan_document(document), "file": None, "text": None}
    original, spun = report["paragraphs"]
    assert not original["flagged"] and spun["flagged"] and report["text"] == text
    assert {"deceasing", "detained"} & {e["word"] for e in spun["evidence"]}


def test_an_uploaded_file_is_a_text_plain_body(client):
    text = sample_paragraphs(2)
    answer = client.post("/api/detect", content=("\ufeff" + text).encode(), headers={"content-type": "text/plain"})
    assert answer.status_code == 200 and answer.json()["text"] == text and answer.json()["flagged"] == 1


@pytest.mark.parametrize("content,content_type,status,needle", [
    (b'{"text": ""}', "application/json", 400, "the text is empty"),
    (b'{"text": " \\n\\t "}', "application/json", 400, "the text is empty"),
    (b"   ", "text/plain", 400, "the text is empty"),
    (b"caf\xe9 au lait", "text/plain", 400, "not UTF-8 (invalid byte at offset 3)"),
    (b'{"text": "caf\xe9"}', "application/json", 400, "not UTF-8"),
    (b"text=bank", "application/x-www-form-urlencoded", 415, "send JSON"),
    (b"bank", "", 415, "no content type"),
    (b'{"text": ', "application/json", 400, "not valid JSON"),
    (b'{"words": "bank"}', "application/json", 400, 'expected a JSON object {"text": "..."}'),
    (b'{"text": 3}', "application/json", 400, 'expected a JSON object {"text": "..."}'),
])
def test_bad_input_gets_a_4xx_and_one_line(client, content, content_type, status, needle):
    for endpoint in ("/api/disambiguate", "/api/detect"):
        answer = client.post(endpoint, content=content, headers={"content-type": content_type} if content_type else {})
        detail = answer.json()["detail"]
        assert answer.status_code == status and needle in detail and "\n" not in detail, (endpoint, detail)


def test_a_text_over_the_limit_gets_413_with_or_without_a_length(client):
    big = "bank " * (LIMIT // 5 + 1)
    answer = client.post("/api/detect", json={"text": big})
    assert answer.status_code == 413 and f"larger than {LIMIT:,} bytes" in answer.json()["detail"]
    chunks = (b"bank " * 1000 for _ in range(LIMIT // 5000 + 1))  # chunked: no Content-Length to trust
    answer = client.post("/api/disambiguate", content=chunks, headers={"content-type": "text/plain"})
    assert answer.status_code == 413 and "--max-bytes" in answer.json()["detail"]


def test_a_refusal_of_the_library_is_a_400_line(models):
    with TestClient(create_app(ServeConfig(max_bytes=1_000_000), models)) as client:
        answer = client.post("/api/detect", json={"text": "word " * 100_001})  # over detect's word limit
    assert answer.status_code == 400 and "100,001 words" in answer.json()["detail"]


def test_the_page_and_the_api_docs_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "Paraphrase check" in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200 and client.get("/static/style.css").status_code == 200
    assert client.get("/docs").status_code == 200
    assert {"/api/disambiguate", "/api/detect", "/api/health"} <= set(client.get("/openapi.json").json()["paths"])


# --- start-up -------------------------------------------------------------------------------------


def test_serve_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        run_cli(capsys, "serve", "--help")
    out = capsys.readouterr().out
    assert "(default: 127.0.0.1)" in out and "(default: 8000)" in out and "(default: 200000)" in out


def test_a_model_that_cannot_load_stops_the_start_in_one_line(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(*run_cli(capsys, "serve", "--port", free_port(), "--wsd-model", empty)[::2],
                          "not a trained WSD model")
    broken = tmp_path / "detector"
    shutil.copytree(SHIPPED_DETECTOR, broken)
    (broken / "weights.safetensors").write_bytes(b"\x08not safetensors")
    assert_one_line_error(*run_cli(capsys, "serve", "--port", free_port(), "--detector", broken)[::2],
                          f"{broken}/weights.safetensors: damaged safetensors file")


def test_a_taken_port_and_bad_options_are_refused_before_loading(capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert_one_line_error(*run_cli(capsys, "serve", "--port", port)[::2], f"cannot listen on 127.0.0.1:{port}")
    assert_one_line_error(*run_cli(capsys, "serve", "--port", 0)[::2], "--port must be between 1 and 65535")
    assert_one_line_error(*run_cli(capsys, "serve", "--max-bytes", 0)[::2], "--max-bytes must be at least 1")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_page_ships_with_the_package():
    import cohesive.serve.app as app

    assert {"index.html", "app.js", "style.css"} <= {p.name for p in Path(app.STATIC).iterdir()}


def test_the_command_line_does_not_import_the_web_stack_for_help():
    code = ("import sys; from cohesive.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
