"""The page of `cohesive serve` in headless Chromium (Debian's chromium + chromium-driver, installed by
`make test`): paste a text, read a sense card, switch to the paraphrase check, upload a file, and the
error paths. The server runs as `cohesive serve` in a subprocess on a free port, with the shipped models.

`UPDATE_SCREENSHOTS=1` also writes the screenshots of both views to docs/ (the README shows them)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, headless_chromium
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

LIMIT = 60_000
SAMPLE = (REPO / "examples" / "sample_document.txt").read_text()
#: A money sentence, then the sample document's first paragraph (original) and second (spun, flagged).
TEXT = ("She deposited her salary at the bank. Later he sat on the bank of the river.\n\n"
        + "\n\n".join(SAMPLE.split("\n\n")[:2]).strip() + "\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """`cohesive serve` on a free port; its URL once /api/health answers."""
    port = free_port()
    command = [sys.executable, "-m", "cohesive.cli", "serve", "--port", str(port), "--max-bytes", str(LIMIT)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"cohesive serve exited with {process.returncode}: {process.stderr.read()}")
            try:
                urllib.request.urlopen(f"{url}/api/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("cohesive serve did not answer within 180 s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    browser = headless_chromium(1200)
    yield browser
    browser.quit()


def open_page(browser, server: str, text: str = TEXT) -> WebDriverWait:
    """The page, freshly loaded, with `text` pasted into the text box."""
    browser.get(server)
    browser.execute_script("const box = document.getElementById('text'); box.value = arguments[0];"
                           "box.dispatchEvent(new Event('input'));", text)
    return WebDriverWait(browser, 120)


def screenshot(browser, name: str, tmp_path: Path) -> None:
    browser.save_screenshot(str(tmp_path / name))
    if os.environ.get("UPDATE_SCREENSHOTS"):
        shutil.copy(tmp_path / name, REPO / "docs" / name)


def test_senses_show_the_money_sense_of_bank_and_its_runner_up(browser, server, tmp_path):
    wait = open_page(browser, server)
    browser.find_element(By.ID, "analyse").click()
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#senses-text .w"))
    banks = [w for w in browser.find_elements(By.CSS_SELECTOR, "#senses-text .w") if w.text == "bank"]
    assert len(banks) == 2
    banks[0].click()  # the bank where a salary is deposited
    card = wait.until(expected_conditions.visibility_of_element_located((By.ID, "sense-card")))
    assert "depository_financial_institution.n.01" in card.text and "bank%1:14:00::" in card.text
    assert "runner-up: " in card.text and "P = " in card.text
    screenshot(browser, "serve-senses.png", tmp_path)
    banks[0].click()  # unpinned: the river bank gets its own card
    browser.execute_script("arguments[0].dispatchEvent(new Event('mouseenter'))", banks[1])
    assert "sloping land" in browser.find_element(By.ID, "sense-card").text


def test_the_paraphrase_check_shades_the_spun_paragraph(browser, server, tmp_path):
    wait = open_page(browser, server)
    browser.execute_script("window.sawProgress = false; new MutationObserver(() => { window.sawProgress ||= "
                           "!document.getElementById('progress').hidden; }).observe(document.getElementById('progress'),"
                           " {attributes: true});")
    browser.find_element(By.ID, "tab-paraphrase").click()  # switching views runs the check
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#paragraphs .para"))
    paragraphs = browser.find_elements(By.CSS_SELECTOR, "#paragraphs .para")
    assert [p.get_attribute("class") for p in paragraphs] == ["para", "para", "para flagged"]
    assert "rgba(231, 76, 60" in paragraphs[2].get_attribute("style")
    assert "possibly machine-paraphrased" in paragraphs[2].text
    marks = paragraphs[2].find_elements(By.TAG_NAME, "mark")
    assert {"deceasing", "detained"} & {m.text for m in marks}
    assert paragraphs[2].find_elements(By.CSS_SELECTOR, ".expected") and "expected:" in marks[0].get_attribute("title")
    assert browser.execute_script("return window.sawProgress")
    assert browser.find_element(By.ID, "senses-text").text == ""  # the other view ran nothing
    screenshot(browser, "serve-paraphrase.png", tmp_path)


@pytest.mark.parametrize("text,needle", [("", "the text is empty"), ("   \n\n ", "the text is empty"),
                                         ("bank " * (LIMIT // 5 + 1), f"larger than {LIMIT:,} bytes")])
def test_empty_and_oversized_texts_get_one_line_on_the_page(browser, server, text, needle):
    wait = open_page(browser, server, text)
    browser.find_element(By.ID, "analyse").click()
    error = wait.until(expected_conditions.visibility_of_element_located((By.ID, "error")))
    assert needle in error.text and "\n" not in error.text


def test_an_uploaded_file_is_checked_and_shown(browser, server, tmp_path):
    wait = open_page(browser, server, "")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 at the bank".encode("latin-1"))
    browser.find_element(By.ID, "file").send_keys(str(latin1))
    error = wait.until(expected_conditions.visibility_of_element_located((By.ID, "error")))
    assert "not UTF-8" in error.text
    essay = tmp_path / "essay.txt"
    essay.write_text("She deposited her salary at the bank.\n")
    browser.find_element(By.ID, "file").send_keys(str(essay))
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#senses-text .w"))
    assert browser.find_element(By.ID, "text").get_property("value") == essay.read_text()
    assert not browser.find_element(By.ID, "error").is_displayed()


@pytest.mark.slow
def test_health_answers_while_a_long_text_runs(server):
    long_text = "\n\n".join([SAMPLE] * (LIMIT // len(SAMPLE.encode())))
    request = urllib.request.Request(f"{server}/api/detect", data=json.dumps({"text": long_text}).encode(),
                                     headers={"content-type": "application/json"})
    answers = []
    worker = threading.Thread(target=lambda: answers.append(json.load(urllib.request.urlopen(request, timeout=600))))
    worker.start()
    time.sleep(1.0)
    started = time.monotonic()
    health = json.load(urllib.request.urlopen(f"{server}/api/health", timeout=30))
    waited = time.monotonic() - started
    still_running = worker.is_alive()
    worker.join()
    assert health["status"] == "ok" and still_running and waited < 2.0, (waited, still_running)
    assert answers[0]["flagged"] >= 1
