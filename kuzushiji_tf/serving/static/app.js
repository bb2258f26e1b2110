// The web page of `python -m kuzushiji_tf.serve`: send a scan to /recognize, draw each character's box and
// its recognised character over the scan (every detection; the uncertain ones, below the class threshold,
// dashed and dimmed), list the transcription in reading order, show a clicked character's candidates with
// their probabilities, offer the outputs. The editing mode (editor.js) draws its corrected page through the
// same functions: a "view" is a record's shape ({width, height, columns, characters}), each character with
// its `index` (the id the page's elements carry in data-index) and, when it differs, its `position` in
// reading order.
// Plain browser JavaScript, no build step; every server string goes through textContent, never innerHTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const FILE_SUFFIX = {json: ".json", txt: ".txt", page: ".page.xml", alto: ".alto.xml", hocr: ".hocr.html",
                     iiif: ".annotations.json", tei: ".tei.xml"};
const $ = (id) => document.getElementById(id);
let current = null;  // {file, record, json: the server's JSON text, downloaded as it came}
let view = null;  // what the page shows: the record, or the editor's corrected page
let shown = new Map();  // index -> the view's character

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

// A fetch that throws the server's one-line error (or the HTTP status) when the answer is not 2xx.
async function request(url, options) {
  const response = await fetch(url, options);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

async function post(file, format) {
  const body = new FormData();
  body.append("file", file, file.name);
  return request(`/recognize?format=${encodeURIComponent(format)}`, {method: "POST", body});
}

function position(c) { return c.position === undefined ? c.index : c.position; }

function describe(c) {
  const detection = c.detection_score == null ? "drawn by hand" : `detection ${c.detection_score.toFixed(3)}`;
  const reading = c.edited ? "set by hand" : `class ${c.class_probability.toFixed(3)}`;
  return `${c.char}  ${c.code}  ${detection}  ${reading}` +
         `${c.uncertain ? " (uncertain)" : ""}  column ${c.column + 1}, #${position(c) + 1}`;
}

// The candidates of character `index`; with `pick(k)` (the editing mode) each one is a choice, numbered for
// the digit keys.
function showCandidates(index, pick = null) {
  const c = shown.get(index);
  document.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
  document.querySelectorAll(`[data-index="${index}"]`).forEach((el) => el.classList.add("selected"));
  $("candidates-title").textContent = `#${position(c) + 1}, column ${c.column + 1}: ${c.char} ${c.code}` +
    (c.uncertain ? ` — uncertain (class probability under ${view.cls_threshold})` : "") +
    (c.edited ? " — set by hand" : "");
  const list = $("candidate-list");
  list.replaceChildren();
  for (const [k, candidate] of (c.candidates || []).entries()) {
    const item = document.createElement("li");
    item.className = candidate.code === c.code ? "candidate chosen" : "candidate";
    if (pick) {
      item.classList.add("pickable");
      item.title = `pick this reading (key ${k + 1})`;
      item.addEventListener("click", () => pick(k));
    }
    const char = document.createElement("span");
    char.className = "candidate-char";
    char.lang = "ja";
    char.textContent = candidate.char;
    const code = document.createElement("span");
    code.className = "candidate-code";
    code.textContent = candidate.code;
    const probability = document.createElement("span");
    probability.className = "candidate-probability";
    probability.textContent = `${(100 * candidate.probability).toFixed(1)} %`;
    const bar = document.createElement("span");
    bar.className = "candidate-bar";
    bar.style.width = `${Math.round(100 * candidate.probability)}%`;
    item.append(char, code, probability, bar);
    list.append(item);
  }
  $("candidates").hidden = false;
}

function activate(index, on) {
  document.querySelectorAll(`[data-index="${index}"]`).forEach((el) => el.classList.toggle("active", on));
  $("hover-info").textContent = on && shown.has(index) ? describe(shown.get(index)) : "Hover over a character for its scores.";
}

// A click on a character: its candidates, or in the editing mode its selection.
function chosen(index) {
  if (editing()) editSelect(index);
  else showCandidates(index);
}

function render(v) {
  view = v;
  shown = new Map(v.characters.map((c) => [c.index, c]));
  drawBoxes(v);
  writeTranscription(v);
}

function drawBoxes(record) {
  const overlay = $("overlay");
  overlay.replaceChildren();
  overlay.setAttribute("viewBox", `0 0 ${record.width} ${record.height}`);
  overlay.setAttribute("preserveAspectRatio", "none");
  for (const c of record.characters) {
    const [x0, y0, x1, y1] = c.box;
    const g = document.createElementNS(SVG, "g");
    g.dataset.index = c.index;
    g.classList.add("char-box");
    if (c.uncertain) g.classList.add("uncertain");
    if (c.edited) g.classList.add("edited");
    if (c.detection_score === null) g.classList.add("drawn");
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("x", x0); rect.setAttribute("y", y0);
    rect.setAttribute("width", x1 - x0); rect.setAttribute("height", y1 - y0);
    const label = document.createElementNS(SVG, "text");
    const size = Math.max(12, 0.6 * Math.min(x1 - x0, y1 - y0));
    label.setAttribute("x", x1 + 2); label.setAttribute("y", y0 + size);
    label.setAttribute("font-size", size);
    label.textContent = c.char;
    const title = document.createElementNS(SVG, "title");
    title.textContent = describe(c);
    g.append(rect, label, title);
    g.addEventListener("mouseenter", () => activate(c.index, true));
    g.addEventListener("mouseleave", () => activate(c.index, false));
    g.addEventListener("click", () => chosen(c.index));
    overlay.append(g);
  }
}

function writeTranscription(record) {
  const out = $("transcription");
  out.replaceChildren();
  const columns = record.columns.map(() => document.createElement("span"));
  columns.forEach((span) => { span.className = "column"; out.append(span); });
  for (const c of record.characters) {  // already in reading order
    const span = document.createElement("span");
    span.className = c.uncertain ? "char uncertain" : "char";
    if (c.edited) span.classList.add("edited");
    span.dataset.index = c.index;
    span.textContent = c.char;
    span.title = describe(c);
    span.addEventListener("mouseenter", () => activate(c.index, true));
    span.addEventListener("mouseleave", () => activate(c.index, false));
    span.addEventListener("click", () => chosen(c.index));
    columns[c.column].append(span);
  }
}

async function recognise(file) {
  if (!file) return;
  setStatus(`Recognising ${file.name} …`);
  $("result").hidden = true;
  const started = performance.now();
  try {
    const json = await (await post(file, "json")).text();
    const record = JSON.parse(json);
    current = {file, record, json};
    const scan = $("scan");
    if (scan.src) URL.revokeObjectURL(scan.src);
    scan.src = URL.createObjectURL(file);  // a TIFF may not show in every browser; the boxes still do
    scan.width = record.width;
    stopEditing(true);  // a new page: the edits of the last one are gone
    render(record);
    $("candidates").hidden = true;
    $("result").hidden = false;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const unsure = record.characters.filter((c) => c.uncertain).length;
    setStatus(`${record.characters.length} characters in ${record.columns.length} columns, ${unsure} uncertain ` +
              `(${seconds} s)`);
  } catch (error) {
    setStatus(`Could not read ${file.name}: ${error.message}`, true);
  }
}

function saveBlob(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

async function download(format) {
  if (!current) return;
  try {
    const blob = format === "json"
      ? new Blob([current.json], {type: "application/json"})
      : await (await post(current.file, format)).blob();
    saveBlob(blob, current.file.name.replace(/\.[^.]*$/, "") + FILE_SUFFIX[format]);
  } catch (error) {
    setStatus(`Download failed: ${error.message}`, true);
  }
}

$("file").addEventListener("change", (event) => recognise(event.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  recognise(event.dataTransfer.files[0]);
});
document.querySelectorAll("#downloads button").forEach((button) =>
  button.addEventListener("click", () => download(button.dataset.format)));
$("vertical").addEventListener("change", (event) =>
  $("transcription").classList.toggle("vertical", event.target.checked));

// Which model reads the pages (the shipped one, or the --model the server was started with), from /healthz.
// It also says whether the server has a workspace to save corrected pages into.
fetch("/healthz").then((response) => response.json())
  .then((health) => {
    $("model-source").textContent = `model: ${health.source || health.model}`;
    $("edit-save").hidden = !health.workspace;
  })
  .catch(() => { /* the footer just stays without it */ });
