// The web page's editing mode: correct a recognised page in the browser, then download it as PAGE-XML or
// ALTO, or save it into the server's workspace (kuzushiji-serve --workspace DIR). The browser holds the page
// and the stack of its earlier states (undo); the server reads drawn or moved boxes (/classify), orders boxes
// for reading (/reading-order) and writes the corrected page with the project's own writers (/corrected,
// /workspace): no XML is made here.
//
// Mouse: click a box (or a character of the transcription) to select it and see its candidates; click a
// candidate to pick it; drag the selected box to move it, a corner handle to resize it; "Add box", then drag
// on the scan, draws a box for a missed character, which the classifier reads at once. A moved box the
// person has not named is read again; a reading set by hand stays.
// Keys, while editing and outside the text field: Tab, Down or J next character in reading order; Shift+Tab,
// Up or K previous; Left / Right the next / previous column (columns run right to left); 1-9 pick that
// candidate; Enter or T type the character; Delete or Backspace remove the box; B draw a box; Ctrl+Z undo;
// Escape stop drawing, else deselect.
// Uses app.js's globals (current, view, shown, render, showCandidates, request, saveBlob, SVG, $).
"use strict";

const MAX_UNDO = 200;
const DRAG_START = 3;  // screen pixels a press moves before it becomes a drag, so a click never nudges a box
const HANDLE = 9;  // screen pixels: the side of the selected box's corner handles

const edit = {
  on: false,
  file: null,  // the scan these edits belong to
  chars: [],  // by id: {id, box, code, char, candidates, detection_score, class_probability, uncertain, edited, deleted}
  nextId: 0,  // ids are never reused, so a late answer for an undone box cannot land on a new one
  order: [],  // ids of the characters on the page, in reading order
  column: new Map(),  // id -> its column
  selected: null,  // id
  history: [],  // the states before each edit, newest last
  adding: false,
  drag: null,
  busy: new Set(),  // requests in flight
  layoutRun: 0,  // the newest /reading-order request: the answers of older ones are stale
};

function editing() { return edit.on; }

function setEditStatus(text, isError = false) {
  $("edit-status").textContent = text;
  $("edit-status").classList.toggle("error", isError);
}

function track(promise) {
  edit.busy.add(promise);
  const done = () => edit.busy.delete(promise);
  promise.then(done, done);
  return promise;
}

// Resolves once no request of the editor is in flight: saving waits for it, and so do the tests.
window.kuzushijiEditor = {
  async idle() { while (edit.busy.size) await Promise.allSettled([...edit.busy]); },
};

const round1 = (v) => Math.round(v * 10) / 10;
const clamp = (v, low, high) => Math.min(Math.max(v, low), high);
const sameBox = (a, b) => a.every((v, k) => v === b[k]);

// A box of any two corners, inside the page, in tenths of a pixel as the records give them.
function normalised([a, b, c, d]) {
  const {width, height} = current.record;
  return [clamp(Math.min(a, c), 0, width), clamp(Math.min(b, d), 0, height),
          clamp(Math.max(a, c), 0, width), clamp(Math.max(b, d), 0, height)].map(round1);
}

function codeOf(char) { return "U+" + char.codePointAt(0).toString(16).toUpperCase().padStart(4, "0"); }

// ---- entering and leaving -------------------------------------------------------------------------------

function startEditing() {
  if (!current) return;
  if (edit.file !== current.file) {  // a page not edited yet: start from its recognition
    const characters = current.record.characters;
    edit.file = current.file;
    edit.chars = characters.map((c) => ({
      id: c.index, box: c.box.slice(), code: c.code, char: c.char,
      candidates: (c.candidates || []).map((x) => ({...x})), detection_score: c.detection_score,
      class_probability: c.class_probability, uncertain: c.uncertain, edited: false, deleted: false,
    }));
    edit.nextId = characters.length;
    edit.order = characters.map((c) => c.index);
    edit.column = new Map(characters.map((c) => [c.index, c.column]));
    edit.history = [];
    edit.selected = null;
  }
  edit.on = true;
  document.body.classList.add("editing");
  $("edit-toggle").setAttribute("aria-pressed", "true");
  $("edit-toggle").textContent = "Stop correcting";
  for (const id of ["edit-tools", "edit-keys"]) $(id).hidden = false;
  $("downloads").hidden = true;  // those are the recognised page's; the corrected page has its own buttons
  redraw();
  setEditStatus("Correcting: click a character or press Tab.");
}

// Back to the recognised page; the edits stay for the next "Correct" unless `forget` (a new scan).
function stopEditing(forget = false) {
  const was = edit.on;
  edit.on = false;
  edit.drag = null;
  setAdding(false);
  if (forget) edit.file = null;
  document.body.classList.remove("editing");
  $("edit-toggle").setAttribute("aria-pressed", "false");
  $("edit-toggle").textContent = "Correct";
  for (const id of ["edit-tools", "edit-keys", "edit-type"]) $(id).hidden = true;
  $("downloads").hidden = false;
  setEditStatus(forget || !was ? "" : "Showing the page as recognised; Correct goes back to your edits.");
  if (was && !forget && current) {
    render(current.record);
    $("candidates").hidden = true;
  }
}

// ---- drawing ----------------------------------------------------------------------------------------------

function editView() {
  const characters = [];
  const columns = [];
  edit.order.forEach((id, position) => {
    const c = edit.chars[id];
    const column = edit.column.get(id) ?? 0;
    characters.push({...c, index: id, position, column});
    columns[column] = (columns[column] || "") + c.char;
  });
  const {width, height, cls_threshold} = current.record;
  return {width, height, cls_threshold, columns: Array.from(columns, (text) => text || ""), characters};
}

function redraw() {
  render(editView());
  $("edit-undo").disabled = edit.history.length === 0;
  const kept = edit.selected !== null && shown.has(edit.selected);
  if (kept) editSelect(edit.selected);
  else {
    edit.selected = null;
    $("candidates").hidden = true;
    $("edit-type").hidden = true;
  }
}

function addHandles(id) {
  const overlay = $("overlay");
  overlay.querySelectorAll(".handle").forEach((h) => h.remove());
  const g = overlay.querySelector(`g.char-box[data-index="${id}"]`);
  const scale = overlay.getScreenCTM();
  if (!g || !scale) return;
  overlay.append(g);  // on top: a press inside the selected box moves it, not a box it overlaps
  const [x0, y0, x1, y1] = edit.chars[id].box;
  const w = HANDLE / scale.a;
  const h = HANDLE / scale.d;
  // Outside the corners: the inside of even a small box stays free for moving it.
  for (const [corner, x, y] of [["nw", x0 - w, y0 - h], ["ne", x1, y0 - h], ["sw", x0 - w, y1], ["se", x1, y1]]) {
    const handle = document.createElementNS(SVG, "rect");
    handle.classList.add("handle");
    handle.dataset.corner = corner;
    handle.setAttribute("x", x); handle.setAttribute("y", y);
    handle.setAttribute("width", w); handle.setAttribute("height", h);
    g.append(handle);
  }
}

function editSelect(id) {
  if (!shown.has(id)) return;
  const changed = edit.selected !== id;
  edit.selected = id;
  showCandidates(id, pickCandidate);
  $("edit-type").hidden = false;
  if (changed) $("edit-char").value = "";
  addHandles(id);
  const span = document.querySelector(`#transcription span.char[data-index="${id}"]`);
  if (span && changed) span.scrollIntoView({block: "nearest", inline: "nearest"});
}

function deselect() {
  edit.selected = null;
  redraw();
}

function setAdding(on) {
  edit.adding = on;
  $("overlay").classList.toggle("adding", on);
  $("edit-add").setAttribute("aria-pressed", String(on));
  if (on) setEditStatus("Drag on the scan to draw the missed character's box (Escape cancels).");
}

// ---- edits and undo ---------------------------------------------------------------------------------------

function snapshot() {
  return {chars: structuredClone(edit.chars), order: edit.order.slice(), column: new Map(edit.column),
          selected: edit.selected};
}

// Every edit: the state before it onto the undo stack, then the change; `layout` when boxes came, went or
// moved, so the reading order is asked for again.
function change(apply, layout = false) {
  edit.history.push(snapshot());
  if (edit.history.length > MAX_UNDO) edit.history.shift();
  apply();
  redraw();
  if (layout) relayout();
}

function undo() {
  const state = edit.history.pop();
  if (!state) {
    setEditStatus("Nothing to undo.");
    return;
  }
  Object.assign(edit, state);
  redraw();
  relayout();  // also voids an order still on its way for the undone state
  setEditStatus("Undone.");
}

function setReading(c, code, char) {
  Object.assign(c, {code, char, edited: true, uncertain: false});
}

function pickCandidate(k) {
  const c = edit.chars[edit.selected];
  const candidate = c && c.candidates[k];
  if (!candidate) return;
  change(() => setReading(c, candidate.code, candidate.char));
  setEditStatus(`Set to ${candidate.char} (${candidate.code}).`);
}

function typeCharacter(text) {
  const chars = Array.from(text.trim());
  const c = edit.chars[edit.selected];
  if (!c) return false;
  if (chars.length !== 1) {
    setEditStatus("Type exactly one character.", true);
    return false;
  }
  const code = codeOf(chars[0]);
  const known = c.candidates.find((x) => x.code === code);
  change(() => setReading(c, code, known ? known.char : chars[0]));
  setEditStatus(`Set to ${chars[0]} (${code}).`);
  return true;
}

function deleteSelected() {
  const id = edit.selected;
  if (id === null) return;
  const at = edit.order.indexOf(id);
  const next = edit.order[at + 1] ?? edit.order[at - 1] ?? null;  // keep going through the page
  change(() => {
    edit.chars[id].deleted = true;
    edit.order = edit.order.filter((x) => x !== id);
    edit.column.delete(id);
    edit.selected = next;
  }, true);
  setEditStatus("Box deleted.");
}

function addBox(box) {
  const id = edit.nextId++;
  change(() => {
    edit.chars[id] = {id, box, code: "", char: "…", candidates: [], detection_score: null, class_probability: 0,
                      uncertain: false, edited: false, deleted: false};
    edit.order.push(id);
    edit.column.set(id, Math.max(-1, ...edit.column.values()) + 1);  // until the reading order answers
    edit.selected = id;
  }, true);
  setEditStatus("Box added; reading it …");
  classify(id);
}

function moveBox(id, box) {
  const c = edit.chars[id];
  change(() => { c.box = box; }, true);
  if (!c.edited) classify(id);
}

// ---- the server --------------------------------------------------------------------------------------------

function postJSON(url, value) {
  return request(url, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(value)});
}

// The classifier's candidates for box `id` as it is now; they land on it, and on the undo states holding
// the same box, unless someone named it meanwhile.
function classify(id) {
  const box = edit.chars[id].box.slice();
  const body = new FormData();
  body.append("file", edit.file, edit.file.name);
  body.append("boxes", JSON.stringify([box]));
  const file = edit.file;
  return track(request("/classify", {method: "POST", body}).then((r) => r.json()).then((answer) => {
    const got = answer.characters[0];
    if (file !== edit.file) return;
    for (const chars of [edit.chars, ...edit.history.map((state) => state.chars)]) {
      const c = chars[id];
      if (c && !c.edited && sameBox(c.box, box)) {
        Object.assign(c, {code: got.code, char: got.char, candidates: got.candidates,
                          class_probability: got.class_probability, uncertain: got.uncertain});
      }
    }
    if (edit.on) redraw();
    setEditStatus(`Read as ${got.char} (${got.code}); pick another candidate or type it if wrong.`);
  }).catch((error) => setEditStatus(`Could not read the box: ${error.message}. Type its character.`, true)));
}

function relayout() {
  const run = ++edit.layoutRun;
  const ids = edit.order.slice();
  const {width, height} = current.record;
  const file = edit.file;
  return track(postJSON("/reading-order", {width, height, boxes: ids.map((id) => edit.chars[id].box)})
    .then((r) => r.json()).then((answer) => {
      if (run !== edit.layoutRun || file !== edit.file) return;
      edit.order = answer.order.map((k) => ids[k]);
      edit.column = new Map(ids.map((id, k) => [id, answer.column[k]]));
      if (edit.on) redraw();
    }).catch((error) => setEditStatus(`Could not order the characters: ${error.message}`, true)));
}

// The corrected page as the server takes it (/corrected, /workspace).
function correctedPage() {
  const unread = edit.order.find((id) => !edit.chars[id].code);
  if (unread !== undefined) {
    editSelect(unread);
    throw new Error("a drawn box has no reading yet: pick or type its character");
  }
  const {width, height} = current.record;
  const characters = edit.order.map((id) => {
    const c = edit.chars[id];
    const out = {box: c.box, code: c.code, edited: c.edited, detection_score: c.detection_score};
    if (!c.edited) {
      out.class_probability = c.class_probability;
      out.candidates = c.candidates.map(({code, probability}) => ({code, probability}));
    }
    return out;
  });
  return {image: edit.file.name, width, height, characters};
}

async function downloadCorrected(format) {
  try {
    await window.kuzushijiEditor.idle();
    const response = await postJSON(`/corrected?format=${encodeURIComponent(format)}`, correctedPage());
    saveBlob(await response.blob(), edit.file.name.replace(/\.[^.]*$/, "") + ".corrected" + FILE_SUFFIX[format]);
    setEditStatus(`Downloaded the corrected page (${format === "page" ? "PAGE-XML" : format.toUpperCase()}).`);
  } catch (error) {
    setEditStatus(`Download failed: ${error.message}`, true);
  }
}

async function saveToWorkspace() {
  try {
    await window.kuzushijiEditor.idle();
    const body = new FormData();
    body.append("file", edit.file, edit.file.name);
    body.append("page", JSON.stringify(correctedPage()));
    const names = await (await track(request("/workspace", {method: "POST", body}))).json();
    setEditStatus(`Saved ${names.page} beside ${names.image} in the workspace.`);
  } catch (error) {
    setEditStatus(`Saving failed: ${error.message}`, true);
  }
}

// ---- mouse -------------------------------------------------------------------------------------------------

function pagePoint(event) {
  const point = new DOMPoint(event.clientX, event.clientY).matrixTransform($("overlay").getScreenCTM().inverse());
  return [point.x, point.y];
}

function dragged(drag, [x, y]) {
  if (drag.kind === "add") return normalised([...drag.start, x, y]);
  const [x0, y0, x1, y1] = drag.box;
  const dx = x - drag.start[0];
  const dy = y - drag.start[1];
  if (drag.kind === "move") {  // the whole box, kept on the page
    const {width, height} = current.record;
    const left = round1(clamp(x0 + dx, 0, width - (x1 - x0)));
    const top = round1(clamp(y0 + dy, 0, height - (y1 - y0)));
    return [left, top, round1(left + x1 - x0), round1(top + y1 - y0)];
  }
  const box = [x0, y0, x1, y1];  // resize: the dragged corner follows the pointer
  if (drag.corner.includes("w")) box[0] += dx; else box[2] += dx;
  if (drag.corner.includes("n")) box[1] += dy; else box[3] += dy;
  return normalised(box);
}

function showDraft(box) {
  let draft = $("draft");
  if (!draft) {
    draft = document.createElementNS(SVG, "rect");
    draft.id = "draft";
    $("overlay").append(draft);
  }
  draft.setAttribute("x", box[0]); draft.setAttribute("y", box[1]);
  draft.setAttribute("width", box[2] - box[0]); draft.setAttribute("height", box[3] - box[1]);
}

function removeDraft() {
  const draft = $("draft");
  if (draft) draft.remove();
}

const overlay = $("overlay");
overlay.addEventListener("pointerdown", (event) => {
  if (!edit.on || event.button !== 0) return;
  const start = pagePoint(event);
  let drag = null;
  if (edit.adding) drag = {kind: "add", start};
  else {
    const handle = event.target.closest(".handle");
    const g = event.target.closest("g.char-box");
    if (handle && edit.selected !== null) {
      drag = {kind: "resize", id: edit.selected, corner: handle.dataset.corner, start,
              box: edit.chars[edit.selected].box.slice()};
    } else if (g) {
      const id = Number(g.dataset.index);
      if (id !== edit.selected) editSelect(id);
      drag = {kind: "move", id, start, box: edit.chars[id].box.slice()};
    }
  }
  if (!drag) return;
  drag.screen = [event.clientX, event.clientY];
  edit.drag = drag;
  overlay.setPointerCapture(event.pointerId);
  event.preventDefault();
});
overlay.addEventListener("pointermove", (event) => {
  const drag = edit.drag;
  if (!drag) return;
  if (!drag.moved && Math.hypot(event.clientX - drag.screen[0], event.clientY - drag.screen[1]) < DRAG_START) return;
  drag.moved = true;
  showDraft(dragged(drag, pagePoint(event)));
});
overlay.addEventListener("pointerup", (event) => {
  const drag = edit.drag;
  if (!drag) return;
  edit.drag = null;
  removeDraft();
  if (!drag.moved) return;
  const box = dragged(drag, pagePoint(event));
  if (drag.kind === "add") {
    setAdding(false);
    if (box[2] - box[0] >= 1 && box[3] - box[1] >= 1) addBox(box);
  } else if (!sameBox(box, drag.box)) moveBox(drag.id, box);
});
overlay.addEventListener("pointercancel", () => { edit.drag = null; removeDraft(); });

// ---- keys --------------------------------------------------------------------------------------------------

function step(delta) {
  if (!edit.order.length) return;
  const at = edit.order.indexOf(edit.selected);
  const next = at < 0 ? (delta > 0 ? 0 : edit.order.length - 1) : clamp(at + delta, 0, edit.order.length - 1);
  editSelect(edit.order[next]);
}

function stepColumn(delta) {
  const at = edit.selected === null ? -1 : edit.column.get(edit.selected);
  const id = edit.order.find((x) => edit.column.get(x) === at + delta);
  if (id !== undefined) editSelect(id);
}

function startTyping() {
  if (edit.selected === null) {
    setEditStatus("Select a character first.", true);
    return;
  }
  $("edit-type").hidden = false;
  $("edit-char").focus();
  $("edit-char").select();
}

document.addEventListener("keydown", (event) => {
  if (!edit.on || event.isComposing) return;
  const target = event.target;
  if (target.closest && target.closest("input, textarea, select")) return;  // the text field has its own keys
  const key = event.key;
  if ((event.ctrlKey || event.metaKey) && key.toLowerCase() === "z") {
    undo();
    event.preventDefault();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (target.closest && target.closest("button") && (key === "Enter" || key === " ")) return;  // the button's own
  if (key === "Tab") step(event.shiftKey ? -1 : 1);
  else if (key === "ArrowDown" || key === "j") step(1);
  else if (key === "ArrowUp" || key === "k") step(-1);
  else if (key === "ArrowLeft") stepColumn(1);
  else if (key === "ArrowRight") stepColumn(-1);
  else if (/^[1-9]$/.test(key)) pickCandidate(Number(key) - 1);
  else if (key === "Delete" || key === "Backspace") deleteSelected();
  else if (key === "Enter" || key === "t") startTyping();
  else if (key === "b") setAdding(!edit.adding);
  else if (key === "Escape") {
    if (edit.adding) setAdding(false);
    else deselect();
  } else return;
  event.preventDefault();
});

$("edit-type").addEventListener("submit", (event) => {
  event.preventDefault();
  if (typeCharacter($("edit-char").value)) {
    $("edit-char").value = "";
    $("edit-char").blur();
  }
});
$("edit-char").addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    event.target.blur();
    event.preventDefault();
  }
});

$("edit-toggle").addEventListener("click", () => (edit.on ? stopEditing() : startEditing()));
$("edit-add").addEventListener("click", () => setAdding(!edit.adding));
$("edit-delete").addEventListener("click", deleteSelected);
$("edit-undo").addEventListener("click", undo);
$("edit-save").addEventListener("click", saveToWorkspace);
document.querySelectorAll("#edit-tools button[data-format]").forEach((button) =>
  button.addEventListener("click", () => downloadCorrected(button.dataset.format)));
