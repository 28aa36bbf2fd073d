// The cohesive page: sends the text to /api/disambiguate or /api/detect and draws the answer.
// Results are kept per view for the text they came from, so switching views only runs what is missing.
"use strict";

const $ = (id) => document.getElementById(id);
const ENDPOINTS = { senses: "/api/disambiguate", paraphrase: "/api/detect" };
const VERBS = { senses: "Disambiguating", paraphrase: "Checking" };
const state = { view: "senses", results: { senses: null, paraphrase: null }, busy: false };

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

// One request with a progress indicator (elapsed seconds) until it answers; returns the JSON or null.
async function request(view, body, contentType, words) {
  state.busy = true;
  $("analyse").disabled = $("file").disabled = true;
  $("progress").hidden = false;
  const started = Date.now();
  const tick = () => {
    const seconds = Math.round((Date.now() - started) / 1000);
    $("status").textContent = `${VERBS[view]} ${words ? words.toLocaleString() + " words" : "the file"}... ${seconds} s`;
  };
  tick();
  const timer = setInterval(tick, 1000);
  try {
    const response = await fetch(ENDPOINTS[view], { method: "POST", headers: { "Content-Type": contentType }, body });
    const answer = await response.json().catch(() => ({ detail: `the server answered ${response.status}` }));
    if (!response.ok) {
      showError(typeof answer.detail === "string" ? answer.detail : `the server answered ${response.status}`);
      return null;
    }
    showError("");
    return answer;
  } catch (error) {
    showError(`no answer from the server (${error.message}): is cohesive serve still running?`);
    return null;
  } finally {
    clearInterval(timer);
    state.busy = false;
    $("analyse").disabled = $("file").disabled = false;
    $("progress").hidden = true;
    $("status").textContent = "";
  }
}

function countWords(text) {
  return text.split(/\s+/).filter(Boolean).length;
}

async function analyse(view) {
  const text = $("text").value;
  const answer = await request(view, JSON.stringify({ text }), "application/json", countWords(text));
  if (answer) show(view, answer);
}

async function upload(file) {
  const answer = await request(state.view, file, "text/plain", 0);
  if (!answer) return;
  $("text").value = answer.text;
  show(state.view, answer);
}

function show(view, answer) {
  state.results[view] = answer;
  (view === "senses" ? drawSenses : drawParagraphs)(answer);
}

function selectView(view) {
  state.view = view;
  for (const name of Object.keys(ENDPOINTS)) {
    $(`view-${name}`).hidden = name !== view;
    $(`tab-${name}`).setAttribute("aria-selected", String(name === view));
  }
  const text = $("text").value;
  const result = state.results[view];
  if (text.trim() && (!result || result.text !== text) && !state.busy) analyse(view);
}

// --- Senses -------------------------------------------------------------------------------------

function drawSenses(answer) {
  const target = $("senses-text");
  target.replaceChildren();
  hideCard();
  let position = 0;
  answer.tags.forEach((tag, index) => {
    target.append(answer.text.slice(position, tag.start));
    const word = element("span", "w", answer.text.slice(tag.start, tag.end));
    word.tabIndex = 0;
    word.dataset.index = index;
    word.addEventListener("mouseenter", () => showCard(word, tag));
    word.addEventListener("focus", () => showCard(word, tag));
    word.addEventListener("mouseleave", () => { if (!word.classList.contains("pinned")) hideCard(); });
    word.addEventListener("click", () => pin(word, tag));
    target.append(word);
    position = tag.end;
  });
  target.append(answer.text.slice(position));
  if (!answer.tags.length) target.append(element("p", "note", "(no content word that WordNet knows)"));
}

function pin(word, tag) {
  const wasPinned = word.classList.contains("pinned");
  document.querySelectorAll(".w.pinned").forEach((w) => w.classList.remove("pinned"));
  if (wasPinned) return hideCard();
  word.classList.add("pinned");
  showCard(word, tag);
}

function showCard(word, tag) {
  const pinned = document.querySelector(".w.pinned");
  if (pinned && pinned !== word) return;
  const card = $("sense-card");
  card.replaceChildren(
    element("h2", "", `${tag.token} (${tag.lemma}, ${tag.pos.toLowerCase()})`),
    element("div", "synset", `${tag.synset}  P = ${tag.probability.toFixed(2)}`),
    element("p", "gloss", tag.gloss),
    element("div", "note", `sense key ${tag.key}`),
  );
  const runnerUp = tag.runner_up_key
    ? `runner-up: ${tag.runner_up_synset}  P = ${tag.runner_up_probability.toFixed(2)}: ${tag.runner_up_gloss}`
    : "runner-up: none (WordNet has one sense of this word)";
  card.append(element("div", "runner-up", runnerUp));
  const box = word.getBoundingClientRect();
  const view = $("view-senses").getBoundingClientRect();
  card.style.left = `${Math.max(0, Math.min(box.left - view.left, view.width - 360))}px`;
  card.style.top = `${box.bottom - view.top + 6}px`;
  card.hidden = false;
}

function hideCard() {
  $("sense-card").hidden = true;
}

// --- Paraphrase check ---------------------------------------------------------------------------

function drawParagraphs(report) {
  $("detect-summary").textContent =
    `${report.paragraphs.length} paragraphs, ${report.flagged} flagged as possibly machine-paraphrased by the ` +
    `${report.kind} detector (flag when P \u2265 ${report.threshold.toFixed(3)}). A flag is a reason to look ` +
    "closer, not proof; highlighted words are those it thinks were substituted, with the word it expected.";
  const target = $("paragraphs");
  target.replaceChildren();
  for (const p of report.paragraphs) {
    const box = element("div", p.flagged ? "para flagged" : "para");
    box.id = `p${p.index}`;
    if (p.flagged) box.style.background = `rgba(231, 76, 60, ${(0.08 + 0.3 * p.probability).toFixed(2)})`;
    const windows = p.windows > 1 ? `, max over ${p.windows} windows` : "";
    const label = p.flagged ? "possibly machine-paraphrased" : "not flagged";
    box.append(element("div", "score", `\u00b6 ${p.index} (line ${p.line}) \u00b7 P = ${p.probability.toFixed(3)}${windows} \u00b7 ${label}`));
    box.append(highlighted(p.text, p.evidence));
    target.append(box);
  }
}

function highlighted(text, evidence) {
  const paragraph = element("p");
  let position = 0;
  for (const e of [...evidence].sort((a, b) => a.start - b.start)) {
    paragraph.append(text.slice(position, e.start));
    const mark = element("mark", "", text.slice(e.start, e.end));
    const expected = e.expected.length ? e.expected.join(" / ") : "-";
    mark.title = `substitution score ${e.score.toFixed(2)}; expected: ${expected}`;
    paragraph.append(mark);
    if (e.expected.length) paragraph.append(element("span", "expected", expected));
    position = e.end;
  }
  paragraph.append(text.slice(position));
  return paragraph;
}

// --- start ----------------------------------------------------------------------------------------

async function describeModels() {
  try {
    const health = await (await fetch("/api/health")).json();
    const { wsd, detector } = health.models;
    $("models").textContent = `WSD model ${wsd.name} (${wsd.fingerprint.slice(0, 19)}), ${detector.kind} paraphrase ` +
      `detector (${detector.fingerprint.slice(0, 19)}); texts up to ${health.max_bytes.toLocaleString()} bytes. ` +
      "API docs: /docs";
  } catch (error) {
    $("models").textContent = "the server does not answer";
  }
}

$("analyse").addEventListener("click", () => analyse(state.view));
$("file").addEventListener("change", (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (file) upload(file);
});
for (const name of Object.keys(ENDPOINTS)) $(`tab-${name}`).addEventListener("click", () => selectView(name));
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  document.querySelectorAll(".w.pinned").forEach((w) => w.classList.remove("pinned"));
  hideCard();
});
describeModels();
