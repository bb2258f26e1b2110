// The web page of `python -m kuzushiji_tf.serve`: send a scan to /recognize, draw each character's box and
// its recognised character over the scan (every detection; the uncertain ones, below the class threshold,
// dashed and dimmed), list the transcription in reading order, show a clicked character's candidates with
// their probabilities, offer the outputs.
// Plain browser JavaScript, no build step; every server string goes through textContent, never innerHTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const FILE_SUFFIX = {json: ".json", txt: ".txt", page: ".page.xml", alto: ".alto.xml", hocr: ".hocr.html",
                     iiif: ".annotations.json", tei: ".tei.xml"};
const $ = (id) => document.getElementById(id);
let current = null;  // {file, record, json: the server's JSON text, downloaded as it came}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function post(file, format) {
  const body = new FormData();
  body.append("file", file, file.name);
  const response = await fetch(`/recognize?format=${encodeURIComponent(format)}`, {method: "POST", body});
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function describe(c) {
  return `${c.char}  ${c.code}  detection ${c.detection_score.toFixed(3)}  class ${c.class_probability.toFixed(3)}` +
         `${c.uncertain ? " (uncertain)" : ""}  column ${c.column + 1}, #${c.index + 1}`;
}

function showCandidates(index) {
  const c = current.record.characters[index];
  document.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
  document.querySelectorAll(`[data-index="${index}"]`).forEach((el) => el.classList.add("selected"));
  $("candidates-title").textContent = `#${c.index + 1}, column ${c.column + 1}: ${c.char} ${c.code}` +
    (c.uncertain ? ` — uncertain (class probability under ${current.record.cls_threshold})` : "");
  const list = $("candidate-list");
  list.replaceChildren();
  for (const [k, candidate] of (c.candidates || []).entries()) {
    const item = document.createElement("li");
    item.className = k === 0 ? "candidate chosen" : "candidate";
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
  $("hover-info").textContent = on ? describe(current.record.characters[index]) : "Hover over a character for its scores.";
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
    g.addEventListener("click", () => showCandidates(c.index));
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
    span.dataset.index = c.index;
    span.textContent = c.char;
    span.title = describe(c);
    span.addEventListener("mouseenter", () => activate(c.index, true));
    span.addEventListener("mouseleave", () => activate(c.index, false));
    span.addEventListener("click", () => showCandidates(c.index));
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
    drawBoxes(record);
    writeTranscription(record);
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

async function download(format) {
  if (!current) return;
  try {
    const blob = format === "json"
      ? new Blob([current.json], {type: "application/json"})
      : await (await post(current.file, format)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = current.file.name.replace(/\.[^.]*$/, "") + FILE_SUFFIX[format];
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
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
fetch("/healthz").then((response) => response.json())
  .then((health) => { $("model-source").textContent = `model: ${health.source || health.model}`; })
  .catch(() => { /* the footer just stays without it */ });
