// The journey-map canvas (Streamlit custom component v2, no iframe, no build step).
//
// Python passes the newest stored map as `data`; every edit made here becomes an
// operation ({op: "set_cell", ...}) that is shown at once (applied to a local copy) and
// sent to Python with setTriggerValue("ops", {client, ops: [...unacknowledged]}).  Python
// applies them to the newest version in the store and returns `acked[client]`, the last
// sequence number it applied, so an operation is resent until it is acknowledged and
// applied exactly once.  User text is only ever set with textContent / value, never as
// HTML.

const STATES = new WeakMap();
const EMOTION = /^\s*([+\-\u2212]?\d+(?:[.,]\d+)?)/;
const COLOURS = ["yellow", "pink", "blue", "green", "orange", "purple"];
const STATUSES = ["", "idea", "planned", "in progress", "done", "dropped"];
const RESEND_MS = 2500;
// A pause in typing this long (ms) saves the text typed so far.
const TYPING_SAVE_MS = 600;
// A crowded cell on a crowded projector shows this many notes, then "+N more".
const MORE_AFTER = 3;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function button(label, className, aria, onClick) {
  const b = el("button", "cxc-btn " + (className || ""), label);
  b.type = "button";
  if (aria) { b.setAttribute("aria-label", aria); b.title = aria; }
  b.addEventListener("click", (e) => { e.stopPropagation(); onClick(e); });
  return b;
}

function clone(x) { return JSON.parse(JSON.stringify(x)); }

function newId(prefix) {
  const bytes = new Uint8Array(4);
  crypto.getRandomValues(bytes);
  return prefix + "_" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function clean(text) {
  return String(text ?? "").replace(/\r\n?/g, "\n").trim();
}

export function parseEmotion(text) {
  const m = EMOTION.exec(clean(text));
  if (!m) return null;
  const v = parseFloat(m[1].replace("\u2212", "-").replace(",", "."));
  return Math.max(-2, Math.min(2, v));
}

function emotionWords(text) {
  const t = clean(text);
  const m = EMOTION.exec(t);
  return m ? t.slice(m[0].length).trim() : t;
}

// ---------------------------------------------------------------------------------
// Operations on the local copy (the same rules as cxdata.journey_map.apply_op)

function stageIndex(m, id) { return m.stages.findIndex((s) => s.id === id); }
function laneIndex(m, id) { return m.lanes.findIndex((l) => l.id === id); }
function noteIndex(m, id) { return m.notes.findIndex((n) => n.id === id); }
function clamp(i, n) { return Math.max(0, Math.min(i, n)); }

function applyLocal(m, op) {
  switch (op.op) {
    case "set_cell": {
      const lane = m.lanes[laneIndex(m, op.lane)];
      if (!lane || stageIndex(m, op.stage) < 0) return;
      const current = lane.cells[op.stage] || "";
      const text = clean(op.text);
      if (op.base != null && clean(op.base) !== current && text !== current) return;
      if (text) lane.cells[op.stage] = text; else delete lane.cells[op.stage];
      return;
    }
    case "add_stage":
    case "restore_stage": {
      const stage = op.op === "add_stage" ? { id: op.id, name: clean(op.name) || "New stage" } : op.stage;
      if (stageIndex(m, stage.id) >= 0) return;
      m.stages.splice(op.position ?? m.stages.length, 0, { id: stage.id, name: stage.name });
      for (const lane of m.lanes) {
        const t = (op.cells || {})[lane.id];
        if (t) lane.cells[stage.id] = t;
      }
      for (const n of op.notes || []) m.notes.push(clone(n));
      return;
    }
    case "rename_stage": {
      const i = stageIndex(m, op.stage);
      if (i >= 0 && clean(op.name)) m.stages[i].name = clean(op.name);
      return;
    }
    case "move_stage": {
      const i = stageIndex(m, op.stage);
      if (i < 0) return;
      const [s] = m.stages.splice(i, 1);
      m.stages.splice(clamp(op.position, m.stages.length), 0, s);
      return;
    }
    case "remove_stage": {
      const i = stageIndex(m, op.stage);
      if (i < 0) return;
      m.stages.splice(i, 1);
      for (const lane of m.lanes) delete lane.cells[op.stage];
      m.notes = m.notes.filter((n) => n.stage_id !== op.stage);
      return;
    }
    case "add_lane":
    case "restore_lane": {
      const lane = op.op === "add_lane"
        ? { id: op.id, name: clean(op.name) || "New lane", kind: op.kind || "text", topic: op.topic || "notes", cells: {} }
        : clone(op.lane);
      if (laneIndex(m, lane.id) >= 0) return;
      lane.cells = lane.cells || {};
      lane.style = lane.style || m.defaultStyle;
      m.lanes.splice(op.position ?? m.lanes.length, 0, lane);
      for (const n of op.notes || []) m.notes.push(clone(n));
      return;
    }
    case "rename_lane": {
      const i = laneIndex(m, op.lane);
      if (i >= 0 && clean(op.name)) m.lanes[i].name = clean(op.name);
      return;
    }
    case "move_lane": {
      const i = laneIndex(m, op.lane);
      if (i < 0) return;
      const [l] = m.lanes.splice(i, 1);
      m.lanes.splice(clamp(op.position, m.lanes.length), 0, l);
      return;
    }
    case "remove_lane": {
      const i = laneIndex(m, op.lane);
      if (i < 0) return;
      m.lanes.splice(i, 1);
      m.notes = m.notes.filter((n) => n.lane_id !== op.lane);
      return;
    }
    case "add_note": {
      if (noteIndex(m, op.id) >= 0 || !clean(op.text)) return;
      const note = { id: op.id, lane_id: op.lane, stage_id: op.stage, text: clean(op.text),
        colour: op.colour || "yellow", author: op.author || "", owner: op.owner || "",
        metric: op.metric || "", status: op.status || "" };
      m.notes.splice(op.position ?? m.notes.length, 0, note);
      return;
    }
    case "edit_note": {
      const i = noteIndex(m, op.note);
      if (i < 0) return;
      for (const k of ["text", "colour", "owner", "metric", "status"]) {
        if (k in op) m.notes[i][k] = k === "colour" ? op[k] : clean(op[k]);
      }
      return;
    }
    case "move_note": {
      const i = noteIndex(m, op.note);
      if (i < 0) return;
      const [n] = m.notes.splice(i, 1);
      n.lane_id = op.lane; n.stage_id = op.stage;
      const sib = [];
      m.notes.forEach((x, j) => { if (x.lane_id === op.lane && x.stage_id === op.stage) sib.push(j); });
      let at = sib.length ? sib[sib.length - 1] + 1 : m.notes.length;
      if (op.index != null && op.index < sib.length) at = sib[Math.max(0, op.index)];
      m.notes.splice(at, 0, n);
      return;
    }
    case "remove_note": {
      const i = noteIndex(m, op.note);
      if (i >= 0) m.notes.splice(i, 1);
      return;
    }
    default:
      return;
  }
}

// The operation that undoes `op`, worked out on the map as it was before `op`.
function inverseOf(m, op) {
  switch (op.op) {
    case "set_cell": {
      const lane = m.lanes[laneIndex(m, op.lane)];
      return { op: "set_cell", lane: op.lane, stage: op.stage, text: lane ? lane.cells[op.stage] || "" : "", base: clean(op.text) };
    }
    case "add_stage": return { op: "remove_stage", stage: op.id };
    case "restore_stage": return { op: "remove_stage", stage: op.stage.id };
    case "remove_stage": {
      const i = stageIndex(m, op.stage);
      const cells = {};
      for (const lane of m.lanes) if (lane.cells[op.stage]) cells[lane.id] = lane.cells[op.stage];
      return { op: "restore_stage", stage: clone(m.stages[i]), position: i, cells,
        notes: m.notes.filter((n) => n.stage_id === op.stage).map(clone) };
    }
    case "rename_stage": return { op: "rename_stage", stage: op.stage, name: m.stages[stageIndex(m, op.stage)].name };
    case "move_stage": return { op: "move_stage", stage: op.stage, position: stageIndex(m, op.stage) };
    case "add_lane": return { op: "remove_lane", lane: op.id };
    case "restore_lane": return { op: "remove_lane", lane: op.lane.id };
    case "remove_lane": {
      const i = laneIndex(m, op.lane);
      const lane = clone(m.lanes[i]);
      return { op: "restore_lane", lane: { id: lane.id, name: lane.name, kind: lane.kind, topic: lane.topic, cells: lane.cells, style: lane.style },
        position: i, notes: m.notes.filter((n) => n.lane_id === op.lane).map(clone) };
    }
    case "rename_lane": return { op: "rename_lane", lane: op.lane, name: m.lanes[laneIndex(m, op.lane)].name };
    case "move_lane": return { op: "move_lane", lane: op.lane, position: laneIndex(m, op.lane) };
    case "add_note": return { op: "remove_note", note: op.id };
    case "remove_note": {
      const i = noteIndex(m, op.note);
      const n = m.notes[i];
      return { op: "add_note", id: n.id, lane: n.lane_id, stage: n.stage_id, text: n.text, colour: n.colour,
        author: n.author, owner: n.owner, metric: n.metric, status: n.status, position: i };
    }
    case "edit_note": {
      const n = m.notes[noteIndex(m, op.note)];
      const back = { op: "edit_note", note: op.note };
      for (const k of ["text", "colour", "owner", "metric", "status"]) if (k in op) back[k] = n[k];
      return back;
    }
    case "move_note": {
      const n = m.notes[noteIndex(m, op.note)];
      const index = m.notes.filter((x) => x.lane_id === n.lane_id && x.stage_id === n.stage_id).findIndex((x) => x.id === n.id);
      return { op: "move_note", note: op.note, lane: n.lane_id, stage: n.stage_id, index };
    }
    default: return null;
  }
}

// ---------------------------------------------------------------------------------
// One canvas instance

class Canvas {
  constructor(parent) {
    this.parent = parent;
    this.root = el("div", "cxc-root");
    this.root.setAttribute("data-testid", "cx-canvas");
    parent.appendChild(this.root);
    this.client = newId("c");
    this.seq = 0;
    this.pending = [];          // [{seq, op}] sent or to send, not yet acknowledged
    this.undo = [];
    this.redo = [];
    this.data = null;
    this.model = null;
    this.editing = null;        // {type: "cell"|"note"|"stage"|"lane", ...}
    this.focusKey = null;       // data-key of the element to focus after a render
    this.lastJson = "";
    this.message = "";
    this.lastSent = 0;
    this.timer = setInterval(() => this.tick(), 500);
    this.onResize = () => this.fit();
    window.addEventListener("resize", this.onResize);
    this.root.addEventListener("keydown", (e) => this.onKey(e));
  }

  receive(data, send) {
    this.send = send;
    const json = JSON.stringify(data);
    if (json === this.lastJson) return;
    this.lastJson = json;
    this.data = data;
    const acked = (data.acked || {})[this.client] || 0;
    this.pending = this.pending.filter((p) => p.seq > acked);
    if (data.message && data.message.id !== this.messageId) {
      this.messageId = data.message.id;
      if (data.message.client === this.client) this.message = data.message.text;
    }
    this.rebuild();
  }

  rebuild() {
    const m = clone(this.data.map);
    m.defaultStyle = this.data.default_style;
    for (const p of this.pending) applyLocal(m, p.op);
    this.model = m;
    if (this.editing) { this.renderStatus(); return; }   // never pull the text box from under a typist
    this.render();
  }

  get mode() { return this.data.mode; }
  get editable() { return this.data.mode === "edit"; }

  // -- sending --------------------------------------------------------------------
  push(op, { record = true } = {}) {
    this.message = "";
    const inverse = inverseOf(this.model, op);
    if (record && inverse) { this.undo.push({ op, inverse }); this.redo = []; }
    this.seq += 1;
    this.pending.push({ seq: this.seq, op });
    applyLocal(this.model, op);
    this.flush();
    return inverse;
  }

  flush() {
    if (!this.pending.length || !this.send) return;
    this.lastSent = Date.now();
    this.send("ops", { client: this.client, ops: this.pending });
  }

  tick() {
    if (this.pending.length && Date.now() - this.lastSent > RESEND_MS) this.flush();
    this.renderTimer();
  }

  doUndo() {
    const item = this.undo.pop();
    if (!item) return;
    const inverse = inverseOf(this.model, item.inverse);
    this.push(item.inverse, { record: false });
    this.redo.push({ op: item.op, inverse: item.inverse, redoInverse: inverse });
    this.render();
  }

  doRedo() {
    const item = this.redo.pop();
    if (!item) return;
    this.push(item.op, { record: false });
    this.undo.push({ op: item.op, inverse: item.inverse });
    this.render();
  }

  // -- rendering -----------------------------------------------------------------
  render() {
    const m = this.model;
    const active = this.parent.activeElement;
    if (!this.focusKey && active && active.dataset && active.dataset.key) this.focusKey = active.dataset.key;
    this.root.replaceChildren();
    this.root.className = "cxc-root cxc-" + this.mode;
    if (this.editable) this.root.appendChild(this.toolbar());
    const body = el("div", "cxc-body");
    const wrap = el("div", "cxm" + (this.mode === "present" ? " cxm-present" : ""));
    this.wrap = wrap;
    wrap.style.setProperty("--cxm-cols", String(Math.max(m.stages.length, 1)));
    const title = el("h2", "cxm-title", m.name);
    wrap.appendChild(title);
    if (this.data.context && this.data.context.length && !this.data.focus) {
      const ctx = el("div", "cxm-context");
      for (const [label, text] of this.data.context) {
        const span = el("span");
        span.appendChild(el("b", null, label + ": "));
        span.appendChild(document.createTextNode(text));
        ctx.appendChild(span);
      }
      wrap.appendChild(ctx);
    }
    const scroller = el("div", "cxc-scroll");
    scroller.appendChild(this.grid(m));
    wrap.appendChild(scroller);
    body.appendChild(wrap);
    if (this.mode === "present") body.appendChild(this.sidePanel());
    this.root.appendChild(body);
    this.renderStatus();
    this.renderTimer();
    // An open editor takes the focus at once (synchronously: keys typed right after
    // the click or Enter must land in it).
    const editor = this.editing && this.root.querySelector(".cxc-name-input, .cxc-note-form textarea, .cxc-editor");
    if (editor) {
      editor.focus({ preventScroll: false });
      if (editor.classList.contains("cxc-name-input")) editor.select();
      else if (this.editing.type === "note") editor.select();
      else { const end = editor.value.length; editor.setSelectionRange(end, end); }
      this.focusKey = null;
    } else if (this.focusKey) {
      const target = this.root.querySelector(`[data-key="${CSS.escape(this.focusKey)}"]`);
      if (target) target.focus({ preventScroll: true });
      this.focusKey = null;
    }
    requestAnimationFrame(() => this.fit());
  }

  toolbar() {
    const bar = el("div", "cxc-toolbar");
    bar.appendChild(button("↶ Undo", "", "Undo (Ctrl+Z)", () => this.doUndo()));
    bar.appendChild(button("↷ Redo", "", "Redo (Ctrl+Shift+Z)", () => this.doRedo()));
    bar.appendChild(button("+ Stage", "", "Add a stage at the end", () => this.addStage(this.model.stages.length)));
    bar.appendChild(button("+ Lane", "", "Add a lane at the bottom", () => this.addLane(this.model.lanes.length)));
    const ws = this.data.workshop || {};
    if (ws.locked) bar.appendChild(el("span", "cxc-pill cxc-locked", "Locked for participants"));
    if (ws.voting_open) bar.appendChild(el("span", "cxc-pill", `Voting open · ${ws.votes_per_person} per person`));
    bar.appendChild(el("span", "cxc-timer", ""));
    bar.appendChild(el("span", "cxc-spacer"));
    bar.appendChild(el("span", "cxc-status"));
    bar.appendChild(el("span", "cxc-help",
      "Click a cell and type · Enter / Tab move on · Esc leaves · Alt+N adds a note · drag notes between cells"));
    return bar;
  }

  renderStatus() {
    const status = this.root.querySelector(".cxc-status");
    if (!status) return;
    if (this.pending.length) {
      status.textContent = "Saving…";
      status.className = "cxc-status cxc-saving";
    } else {
      status.textContent = `All changes saved · version ${this.data.version}`;
      status.className = "cxc-status cxc-saved";
    }
    if (this.message) {
      const msg = el("span", "cxc-message", " " + this.message);
      status.appendChild(msg);
    }
  }

  renderTimer() {
    const ws = (this.data && this.data.workshop) || {};
    for (const node of this.root.querySelectorAll(".cxc-timer")) {
      if (!ws.timer_ends_at) { node.textContent = ""; node.hidden = true; continue; }
      node.hidden = false;
      const left = Math.max(0, Math.round(ws.timer_ends_at - Date.now() / 1000));
      const mm = Math.floor(left / 60), ss = String(left % 60).padStart(2, "0");
      node.textContent = `${ws.timer_label ? ws.timer_label + " · " : "Timer "}${mm}:${ss}`;
      node.classList.toggle("cxc-timer-done", left === 0);
    }
  }

  grid(m) {
    const n = m.stages.length;
    const grid = el("div", "cxm-grid");
    grid.setAttribute("role", "grid");
    grid.setAttribute("aria-label", "Journey map");
    const focusIndex = this.data.focus ? stageIndex(m, this.data.focus) : -1;
    const cols = [this.editable ? "minmax(9em, 11em)" : "minmax(7em, 10em)"];
    // Editing: columns wide enough for a stage's longest word (the row scrolls sideways
    // when needed); presenting: every column shares the screen and the font shrinks.
    const longest = (s) => Math.max(6, ...s.name.split(/\s+/).map((w) => w.length));
    m.stages.forEach((s, i) => cols.push(i === focusIndex ? "minmax(8em, 3fr)"
      : this.editable ? `minmax(${Math.max(8, Math.min(14, longest(s) * 0.68 + 1.6)).toFixed(1)}em, 1fr)` : "minmax(0, 1fr)"));
    if (this.editable) cols.push("2.6em");
    grid.style.gridTemplateColumns = cols.join(" ");
    const colClass = (i) => (focusIndex < 0 ? "" : i === focusIndex ? " cxm-focus" : " cxm-dim");

    // Header row
    const corner = el("div", "cxm-corner");
    corner.style.gridRow = "1"; corner.style.gridColumn = "1";
    grid.appendChild(corner);
    m.stages.forEach((stage, i) => {
      const head = el("div", "cxm-stage" + colClass(i));
      head.setAttribute("role", "columnheader");
      head.dataset.stage = String(i + 1);
      head.style.gridRow = "1"; head.style.gridColumn = String(i + 2);
      head.appendChild(el("span", "cxm-num", `Stage ${i + 1}`));
      head.appendChild(this.nameField("stage", stage.id, stage.name, `Stage ${i + 1}`));
      if (this.editable) {
        const tools = el("div", "cxc-tools");
        tools.appendChild(button("◀", "", `Move stage “${stage.name}” left`, () => this.moveStage(stage.id, i - 1)));
        tools.appendChild(button("▶", "", `Move stage “${stage.name}” right`, () => this.moveStage(stage.id, i + 1)));
        tools.appendChild(button("+", "", `Add a stage after “${stage.name}”`, () => this.addStage(i + 1)));
        tools.appendChild(button("✕", "cxc-danger", `Remove stage “${stage.name}”`, () => this.removeStage(stage.id)));
        head.appendChild(tools);
      }
      grid.appendChild(head);
    });
    if (this.editable) {
      const add = button("+", "cxc-add-col", "Add a stage", () => this.addStage(m.stages.length));
      add.style.gridRow = "1"; add.style.gridColumn = String(n + 2);
      grid.appendChild(add);
    }

    m.lanes.forEach((lane, li) => {
      const row = li + 2;
      const style = lane.style || m.defaultStyle || {};
      const label = el("div", "cxm-label");
      label.setAttribute("role", "rowheader");
      label.style.background = style.accent;
      label.style.gridRow = String(row); label.style.gridColumn = "1";
      label.appendChild(this.nameField("lane", lane.id, lane.name, "Lane"));
      if (lane.linked) label.appendChild(el("small", null, "from data"));
      if (this.editable) {
        const tools = el("div", "cxc-tools");
        tools.appendChild(button("▲", "", `Move lane “${lane.name}” up`, () => this.moveLane(lane.id, li - 1)));
        tools.appendChild(button("▼", "", `Move lane “${lane.name}” down`, () => this.moveLane(lane.id, li + 1)));
        tools.appendChild(button("+", "", `Add a lane below “${lane.name}”`, () => this.addLane(li + 1)));
        tools.appendChild(button("✕", "cxc-danger", `Remove lane “${lane.name}”`, () => this.removeLane(lane.id)));
        label.appendChild(tools);
      }
      grid.appendChild(label);
      if (lane.kind === "emotion") grid.appendChild(this.emotionCurve(m, lane, row));
      m.stages.forEach((stage, si) => {
        grid.appendChild(this.cell(m, lane, stage, li, si, row, style, colClass(si)));
      });
    });
    if (this.editable) {
      const add = button("+ Add a lane", "cxc-add-row", "Add a lane", () => this.addLane(m.lanes.length));
      add.style.gridRow = String(m.lanes.length + 2); add.style.gridColumn = "1";
      grid.appendChild(add);
    }
    if (!n) {
      const empty = el("div", "cxm-empty", this.editable ? "This map has no stages yet: press “+ Stage” to add one." : "This map has no stages yet.");
      empty.style.gridColumn = "2"; empty.style.gridRow = "1";
      grid.appendChild(empty);
    }
    return grid;
  }

  nameField(type, id, name, what) {
    const key = `${type}:${id}`;
    if (this.editing && this.editing.type === type && this.editing.id === id) {
      const input = el("input", "cxc-name-input");
      input.value = name;
      input.dataset.key = key;
      input.setAttribute("aria-label", `Name of ${what}`);
      const mine = this.editing;
      const done = (commit) => {
        if (this.editing !== mine || mine.done) return;
        mine.done = true;
        this.editing = null;
        const value = clean(input.value);
        if (commit && value && value !== name) this.push({ op: type === "stage" ? "rename_stage" : "rename_lane", [type]: id, name: value });
        this.focusKey = key;
        this.render();
      };
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); e.stopPropagation(); done(true); }
        else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); done(false); }
      });
      input.addEventListener("blur", () => done(true));
      return input;
    }
    const span = el("span", "cxm-name", name);
    if (this.editable) {
      span.tabIndex = 0;
      span.dataset.key = key;
      span.setAttribute("role", "button");
      span.setAttribute("aria-label", `Rename ${what} “${name}”`);
      const start = () => { this.editing = { type, id }; this.render(); };
      span.addEventListener("click", start);
      span.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === "F2") { e.preventDefault(); e.stopPropagation(); start(); } });
    }
    return span;
  }

  cell(m, lane, stage, li, si, row, style, extra) {
    const text = lane.cells[stage.id] || "";
    const key = `cell:${lane.id}:${stage.id}`;
    const cell = el("div", "cxm-cell" + (style.bold ? " cxm-strong" : "") + (lane.kind === "emotion" ? " cxm-emo-cell" : "") + extra);
    cell.setAttribute("role", "gridcell");
    cell.dataset.key = key;
    cell.dataset.lane = lane.id;
    cell.dataset.stage = stage.id;
    cell.style.gridRow = String(row); cell.style.gridColumn = String(si + 2);
    if (lane.kind !== "emotion") { cell.style.background = style.fill; cell.style.color = style.ink; }
    cell.style.setProperty("--cxm-accent", style.accent);
    if ((this.data.changed || []).includes(`${lane.id}:${stage.id}`)) cell.classList.add("cxc-changed");
    const editing = this.editing && this.editing.type === "cell" && this.editing.lane === lane.id && this.editing.stage === stage.id;
    if (editing) {
      cell.classList.add("cxc-editing");
      cell.appendChild(this.cellEditor(lane, stage, text, li, si));
    } else if (lane.kind === "emotion") {
      const v = parseEmotion(text);
      if (v !== null) {
        const val = el("span", "cxm-val", v === 0 ? "0" : (v > 0 ? "+" : "−") + String(Math.abs(v)));
        val.style.color = v >= 0.5 ? "#15803d" : v <= -0.5 ? "#b91c1c" : "#64748b";
        // Beside its dot on the curve, kept inside the row.
        val.style.top = `${Math.max(16, Math.min(66, 50 - v * 20))}%`;
        cell.appendChild(val);
        const words = emotionWords(text);
        if (words) cell.appendChild(el("span", "cxm-word", words));
      } else if (text) {
        cell.appendChild(el("span", "cxm-word", text));
      }
    } else if (text) {
      cell.appendChild(el("div", "cxc-text", text));
    }
    const link = (lane.evidence || {})[stage.id];
    if (link && !editing) {
      const a = el("a", "cxc-evidence", this.mode === "present" ? "↗" : "↗ evidence");
      a.href = link.url;
      a.target = "_blank";
      a.rel = "noopener";
      a.title = link.title;
      a.setAttribute("aria-label", link.title);
      a.addEventListener("click", (e) => e.stopPropagation());
      cell.appendChild(a);
    }
    const notes = m.notes.filter((x) => x.lane_id === lane.id && x.stage_id === stage.id);
    if (this.draftNote && this.draftNote.lane_id === lane.id && this.draftNote.stage_id === stage.id) notes.push(this.draftNote);
    if (notes.length || this.editable) {
      const box = el("div", "cxc-notes");
      notes.forEach((note) => box.appendChild(this.note(note, lane)));
      if (notes.length > MORE_AFTER) box.appendChild(el("span", "cxc-more", `+${notes.length - MORE_AFTER} more`));
      if (this.editable && !editing) {
        box.appendChild(button("+ note", "cxc-add-note", `Add a note to ${lane.name} × ${stage.name}`, () => this.addNote(lane.id, stage.id)));
      }
      cell.appendChild(box);
    }
    if (this.editable) {
      cell.tabIndex = 0;
      cell.setAttribute("aria-label", `${lane.name} × ${stage.name}: ${text || "empty"}`);
      cell.addEventListener("click", (e) => {
        if (e.target.closest(".cxc-note, button, a, textarea, input, select")) return;
        this.startCell(lane.id, stage.id);
      });
      cell.addEventListener("keydown", (e) => this.onCellKey(e, lane, stage, li, si));
      cell.addEventListener("dragover", (e) => { if (this.dragNote) { e.preventDefault(); cell.classList.add("cxc-drop"); } });
      cell.addEventListener("dragleave", () => cell.classList.remove("cxc-drop"));
      cell.addEventListener("drop", (e) => {
        e.preventDefault();
        cell.classList.remove("cxc-drop");
        const id = this.dragNote;
        this.dragNote = null;
        if (id) { this.push({ op: "move_note", note: id, lane: lane.id, stage: stage.id }); this.render(); }
      });
    }
    return cell;
  }

  cellEditor(lane, stage, text, li, si) {
    const area = el("textarea", "cxc-editor");
    area.value = this.editing.initial ?? text;
    area.dataset.key = `edit:${lane.id}:${stage.id}`;
    area.setAttribute("aria-label", `${lane.name} × ${stage.name}`);
    area.rows = Math.max(2, area.value.split("\n").length);
    // Each editor finishes only its own editing session: re-rendering removes the old
    // text box, and its late blur must not end the editor that replaced it.
    const mine = this.editing;
    // Saved while typing too (after a short pause), so the store and the projector are
    // never far behind the keyboard; undo treats the whole edit as one step.
    let sent = text;
    let pause = null;
    area.addEventListener("input", () => {
      clearTimeout(pause);
      pause = setTimeout(() => {
        const value = clean(area.value);
        if (mine.done || value === sent) return;
        this.push({ op: "set_cell", lane: lane.id, stage: stage.id, text: value, base: sent, draft: true }, { record: false });
        sent = value;
        this.renderStatus();
      }, TYPING_SAVE_MS);
    });
    const finish = (move) => {
      if (this.editing !== mine || mine.done) return;
      mine.done = true;
      clearTimeout(pause);
      const value = clean(area.value);
      this.editing = null;
      if (value !== sent) this.push({ op: "set_cell", lane: lane.id, stage: stage.id, text: value, base: sent }, { record: false });
      if (value !== text) {
        this.undo.push({ op: { op: "set_cell", lane: lane.id, stage: stage.id, text: value, base: text },
          inverse: { op: "set_cell", lane: lane.id, stage: stage.id, text, base: value } });
        this.redo = [];
      }
      this.afterMove(li, si, move);
    };
    area.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Enter" && !e.shiftKey && !e.altKey) { e.preventDefault(); finish("down"); }
      else if (e.key === "Enter" && e.shiftKey) { /* a line break in the cell */ }
      else if (e.key === "Tab") { e.preventDefault(); finish(e.shiftKey ? "left" : "right"); }
      else if (e.key === "Escape") { e.preventDefault(); finish("stay"); }
    });
    area.addEventListener("blur", () => setTimeout(() => { if (this.parent.activeElement !== area) finish("none"); }, 0));
    return area;
  }

  afterMove(li, si, move) {
    const m = this.model;
    let [l, s] = [li, si];
    if (move === "down") l += 1;
    if (move === "right") { s += 1; if (s >= m.stages.length) { s = 0; l += 1; } }
    if (move === "left") { s -= 1; if (s < 0) { s = m.stages.length - 1; l -= 1; } }
    if (move === "none") { this.render(); return; }
    if (move !== "stay" && l >= 0 && l < m.lanes.length && s >= 0 && s < m.stages.length) {
      this.editing = { type: "cell", lane: m.lanes[l].id, stage: m.stages[s].id };
    } else {
      const lane = m.lanes[Math.max(0, Math.min(l, m.lanes.length - 1))];
      const stage = m.stages[Math.max(0, Math.min(s, m.stages.length - 1))];
      if (move === "stay") this.focusKey = `cell:${m.lanes[li].id}:${m.stages[si].id}`;
      else if (lane && stage) this.focusKey = `cell:${lane.id}:${stage.id}`;
    }
    this.render();
  }

  startCell(laneId, stageId, initial) {
    this.editing = { type: "cell", lane: laneId, stage: stageId, initial };
    this.render();
  }

  onCellKey(e, lane, stage, li, si) {
    if (e.target !== e.currentTarget) return;
    const m = this.model;
    const go = (l, s) => {
      if (l < 0 || s < 0 || l >= m.lanes.length || s >= m.stages.length) return;
      const t = this.root.querySelector(`[data-key="${CSS.escape(`cell:${m.lanes[l].id}:${m.stages[s].id}`)}"]`);
      if (t) t.focus();
    };
    if (e.altKey && (e.key === "n" || e.key === "N")) { e.preventDefault(); this.addNote(lane.id, stage.id); return; }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Enter" || e.key === "F2") { e.preventDefault(); this.startCell(lane.id, stage.id); }
    else if (e.key === "ArrowRight") { e.preventDefault(); go(li, si + 1); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); go(li, si - 1); }
    else if (e.key === "ArrowDown") { e.preventDefault(); go(li + 1, si); }
    else if (e.key === "ArrowUp") { e.preventDefault(); go(li - 1, si); }
    else if (e.key === "Delete" || e.key === "Backspace") {
      e.preventDefault();
      const text = lane.cells[stage.id] || "";
      if (text) { this.focusKey = `cell:${lane.id}:${stage.id}`; this.push({ op: "set_cell", lane: lane.id, stage: stage.id, text: "", base: text }); this.render(); }
    } else if (e.key.length === 1) {
      e.preventDefault();
      this.startCell(lane.id, stage.id, e.key);
    }
  }

  onKey(e) {
    if (!this.editable) return;
    const inText = e.target.closest && e.target.closest("textarea, input, select");
    if (inText) return;
    const z = e.key === "z" || e.key === "Z";
    if ((e.ctrlKey || e.metaKey) && z && !e.shiftKey) { e.preventDefault(); this.doUndo(); }
    else if ((e.ctrlKey || e.metaKey) && ((z && e.shiftKey) || e.key === "y")) { e.preventDefault(); this.doRedo(); }
  }

  // -- notes ---------------------------------------------------------------------
  note(note, lane) {
    const key = `note:${note.id}`;
    const card = el("div", `cxc-note cxc-note-${COLOURS.includes(note.colour) ? note.colour : "yellow"}`);
    card.dataset.key = key;
    card.dataset.note = note.id;
    const votes = this.data.votes || {};
    if (this.editing && this.editing.type === "note" && this.editing.id === note.id) {
      card.appendChild(this.noteEditor(note, lane));
      return card;
    }
    card.appendChild(el("div", "cxc-note-text", note.text));
    const opportunity = lane.topic === "opportunities";
    if (opportunity && (note.owner || note.metric || note.status)) {
      const meta = el("div", "cxc-note-meta");
      if (note.owner) meta.appendChild(el("span", null, "Owner: " + note.owner));
      if (note.metric) meta.appendChild(el("span", null, "Metric: " + note.metric));
      if (note.status) meta.appendChild(el("span", "cxc-status-pill", note.status));
      card.appendChild(meta);
    }
    if (note.author) card.appendChild(el("div", "cxc-note-author", "— " + note.author));
    if (votes.totals && votes.totals[note.id]) {
      const dots = votes.totals[note.id];
      const badge = el("span", "cxc-votes", `● ${dots}`);
      badge.setAttribute("aria-label", `${dots} ${dots === 1 ? "vote" : "votes"}`);
      card.appendChild(badge);
    }
    if (this.editable) {
      card.tabIndex = 0;
      card.draggable = true;
      card.setAttribute("aria-label", `Note: ${note.text}${note.author ? " by " + note.author : ""}. Enter edits, Alt+arrows move, Delete removes.`);
      card.addEventListener("dragstart", (e) => { this.dragNote = note.id; e.dataTransfer.setData("text/plain", note.id); e.dataTransfer.effectAllowed = "move"; });
      card.addEventListener("dragend", () => { this.dragNote = null; });
      card.addEventListener("click", (e) => { e.stopPropagation(); this.editing = { type: "note", id: note.id }; this.render(); });
      card.addEventListener("keydown", (e) => this.onNoteKey(e, note));
      const tools = el("div", "cxc-note-tools");
      tools.appendChild(button("◐", "", "Change the note's colour (C)", () => this.cycleColour(note)));
      tools.appendChild(button("✕", "cxc-danger", "Remove the note", () => { this.push({ op: "remove_note", note: note.id }); this.render(); }));
      card.appendChild(tools);
    }
    return card;
  }

  noteEditor(note, lane) {
    const form = el("div", "cxc-note-form");
    const area = el("textarea", "cxc-editor");
    area.value = note.text;
    area.dataset.key = `noteedit:${note.id}`;
    area.setAttribute("aria-label", "Note text");
    form.appendChild(area);
    const fields = {};
    if (lane.topic === "opportunities") {
      for (const [name, label] of [["owner", "Owner"], ["metric", "Metric"]]) {
        const input = el("input", "cxc-meta-input");
        input.value = note[name] || "";
        input.placeholder = label;
        input.setAttribute("aria-label", label);
        form.appendChild(input);
        fields[name] = input;
      }
      const select = el("select", "cxc-meta-input");
      select.setAttribute("aria-label", "Status");
      for (const s of STATUSES) {
        const o = el("option", null, s || "Status…");
        o.value = s;
        if ((note.status || "") === s) o.selected = true;
        select.appendChild(o);
      }
      form.appendChild(select);
      fields.status = select;
    }
    const draft = this.draftNote && this.draftNote.id === note.id;
    if (draft) area.placeholder = `A note for ${lane.name}`;
    const mine = this.editing;
    const finish = (commit) => {
      if (this.editing !== mine || mine.done) return;
      mine.done = true;
      this.editing = null;
      if (draft) {
        this.draftNote = null;
        const text = clean(area.value);
        if (commit && text) {
          const op = { op: "add_note", id: note.id, lane: note.lane_id, stage: note.stage_id, text, colour: note.colour, author: note.author };
          for (const [name, input] of Object.entries(fields)) if (clean(input.value)) op[name] = clean(input.value);
          this.push(op);
          this.focusKey = `note:${note.id}`;
        } else {
          this.focusKey = `cell:${note.lane_id}:${note.stage_id}`;
        }
        this.render();
        return;
      }
      if (commit) {
        const op = { op: "edit_note", note: note.id };
        const text = clean(area.value);
        if (text && text !== note.text) op.text = text;
        for (const [name, input] of Object.entries(fields)) if (clean(input.value) !== (note[name] || "")) op[name] = clean(input.value);
        if (!text) this.push({ op: "remove_note", note: note.id });
        else if (Object.keys(op).length > 2) this.push(op);
      }
      this.focusKey = `note:${note.id}`;
      this.render();
    };
    form.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Enter" && !e.shiftKey && e.target.tagName !== "SELECT") { e.preventDefault(); finish(true); }
      else if (e.key === "Escape") { e.preventDefault(); finish(!draft); }
    });
    form.addEventListener("focusout", () => setTimeout(() => {
      if (!form.contains(this.parent.activeElement)) finish(true);
    }, 0));
    return form;
  }

  addNote(laneId, stageId) {
    // The note exists once it has text: the editor opens on a draft, sent on Enter.
    const id = newId("n");
    const lane = this.model.lanes.find((l) => l.id === laneId);
    const colour = lane && lane.topic === "opportunities" ? "green" : "yellow";
    this.draftNote = { id, lane_id: laneId, stage_id: stageId, text: "", colour, author: this.data.author || "" };
    this.editing = { type: "note", id };
    this.render();
  }

  cycleColour(note) {
    const next = COLOURS[(COLOURS.indexOf(note.colour) + 1) % COLOURS.length];
    this.focusKey = `note:${note.id}`;
    this.push({ op: "edit_note", note: note.id, colour: next });
    this.render();
  }

  onNoteKey(e, note) {
    if (e.target !== e.currentTarget) return;
    e.stopPropagation();
    const m = this.model;
    if (e.key === "Enter" || e.key === "F2") { e.preventDefault(); this.editing = { type: "note", id: note.id }; this.render(); return; }
    if (e.key === "Delete" || e.key === "Backspace") {
      e.preventDefault();
      this.focusKey = `cell:${note.lane_id}:${note.stage_id}`;
      this.push({ op: "remove_note", note: note.id });
      this.render();
      return;
    }
    if (e.key === "c") { e.preventDefault(); this.cycleColour(note); return; }
    if ((e.ctrlKey || e.metaKey) && (e.key === "z" || e.key === "Z" || e.key === "y")) { this.onKey(e); return; }
    if (e.altKey && e.key.startsWith("Arrow")) {
      e.preventDefault();
      let l = laneIndex(m, note.lane_id), s = stageIndex(m, note.stage_id);
      if (e.key === "ArrowRight") s += 1; else if (e.key === "ArrowLeft") s -= 1;
      else if (e.key === "ArrowDown") l += 1; else if (e.key === "ArrowUp") l -= 1;
      if (l < 0 || s < 0 || l >= m.lanes.length || s >= m.stages.length) return;
      this.focusKey = `note:${note.id}`;
      this.push({ op: "move_note", note: note.id, lane: m.lanes[l].id, stage: m.stages[s].id });
      this.render();
    }
  }

  // -- structure -------------------------------------------------------------------
  addStage(position) {
    const id = newId("s");
    this.push({ op: "add_stage", id, name: "New stage", position });
    this.editing = { type: "stage", id };
    this.render();
  }

  addLane(position) {
    const id = newId("l");
    this.push({ op: "add_lane", id, name: "New lane", kind: "text", topic: "notes", position });
    this.editing = { type: "lane", id };
    this.render();
  }

  moveStage(id, position) {
    if (position < 0 || position >= this.model.stages.length) return;
    this.push({ op: "move_stage", stage: id, position });
    this.render();
  }

  moveLane(id, position) {
    if (position < 0 || position >= this.model.lanes.length) return;
    this.push({ op: "move_lane", lane: id, position });
    this.render();
  }

  removeStage(id) {
    this.push({ op: "remove_stage", stage: id });
    // After push (which clears the last message): say how to get it back.
    this.message = "Stage removed — Undo (Ctrl+Z) brings it back with its cells.";
    this.render();
  }

  removeLane(id) {
    this.push({ op: "remove_lane", lane: id });
    this.message = "Lane removed — Undo (Ctrl+Z) brings it back with its cells.";
    this.render();
  }

  // -- emotion curve ---------------------------------------------------------------
  emotionCurve(m, lane, row) {
    const n = m.stages.length;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "cxc-curve");
    svg.setAttribute("viewBox", `0 0 ${Math.max(n, 1) * 100} 100`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("aria-hidden", "true");
    svg.style.gridRow = `${row} / span 1`;     // both lines: an absolute item with an "auto" end spans to the grid edge
    svg.style.gridColumn = `2 / span ${Math.max(n, 1)}`;
    const zero = document.createElementNS(ns, "line");
    zero.setAttribute("x1", "0"); zero.setAttribute("x2", String(n * 100));
    zero.setAttribute("y1", "50"); zero.setAttribute("y2", "50");
    zero.setAttribute("class", "cxc-zero");
    svg.appendChild(zero);
    let run = [];
    const flush = () => {
      if (run.length > 1) {
        const line = document.createElementNS(ns, "polyline");
        line.setAttribute("points", run.map(([x, y]) => `${x},${y}`).join(" "));
        line.setAttribute("class", "cxc-line");
        svg.appendChild(line);
      }
      run = [];
    };
    m.stages.forEach((s, i) => {
      const v = parseEmotion(lane.cells[s.id]);
      if (v === null) { flush(); return; }
      run.push([i * 100 + 50, 50 - v * 20]);
    });
    flush();
    m.stages.forEach((s, i) => {
      const v = parseEmotion(lane.cells[s.id]);
      if (v === null) return;
      // A zero-length line with a round cap and a non-scaling stroke: a round dot
      // however much the drawing is stretched.
      const dot = document.createElementNS(ns, "line");
      for (const [k, val] of [["x1", i * 100 + 50], ["x2", i * 100 + 50], ["y1", 50 - v * 20], ["y2", 50 - v * 20]]) dot.setAttribute(k, String(val));
      dot.setAttribute("class", "cxc-dot " + (v >= 0.5 ? "pos" : v <= -0.5 ? "neg" : "mid"));
      svg.appendChild(dot);
    });
    return svg;
  }

  // -- presentation ------------------------------------------------------------------
  sidePanel() {
    const side = el("aside", "cxc-side");
    const ws = this.data.workshop || {};
    const timer = el("div", "cxc-timer cxc-timer-big", "");
    side.appendChild(timer);
    if (this.data.join) {
      const join = el("div", "cxc-join");
      join.appendChild(el("div", "cxc-join-title", "Join and add notes"));
      if (this.data.join.qr) {
        const img = el("img", "cxc-qr");
        img.src = this.data.join.qr;
        img.alt = "QR code of the join link";
        join.appendChild(img);
      }
      const link = el("a", "cxc-join-url", this.data.join.url);
      link.href = this.data.join.url;
      link.target = "_blank";
      join.appendChild(link);
      side.appendChild(join);
    }
    if (ws.locked) side.appendChild(el("div", "cxc-pill cxc-locked", "Map locked"));
    const votes = this.data.votes || {};
    if (ws.voting_open && !ws.votes_revealed) {
      side.appendChild(el("div", "cxc-pill", `Voting: ${ws.votes_per_person} dots each · ${votes.placed || 0} placed by ${votes.voters || 0}`));
    }
    if (votes.results && votes.results.length) {
      const box = el("div", "cxc-results");
      box.appendChild(el("div", "cxc-join-title", "Top votes"));
      const list = el("ol", "cxc-ranking");
      for (const r of votes.results.slice(0, 8)) {
        const item = el("li");
        item.appendChild(el("b", null, `${r.rank}. ${r.votes} ● `));
        item.appendChild(document.createTextNode(r.text));
        list.appendChild(item);
      }
      box.appendChild(list);
      side.appendChild(box);
    }
    return side;
  }

  // Scale the presentation to the window: the largest font size (between the minimum
  // readable size and 40 px) at which every stage and lane fits without scrolling.
  fit() {
    if (this.mode !== "present" || !this.wrap) return;
    const wrap = this.wrap;
    const top = this.root.getBoundingClientRect().top + window.scrollY;
    const available = Math.max(200, window.innerHeight - top - 8);
    const minimum = this.data.min_font || 11;
    const fits = (size) => {
      wrap.style.setProperty("--cxm-font", size + "px");
      const grid = wrap.querySelector(".cxm-grid");
      if (this.root.scrollHeight > available + 1) return false;
      if (grid && grid.scrollWidth > grid.clientWidth + 1) return false;
      // Every stage name and lane name fits its box without breaking a word.
      for (const name of wrap.querySelectorAll(".cxm-name")) {
        if (name.scrollWidth > name.parentElement.clientWidth + 1) return false;
      }
      return true;
    };
    // The largest font that fits; when even the smallest readable one does not, the
    // map is drawn more compactly (notes side by side, long cells clamped with "…",
    // then only the first notes of a crowded cell with "+N more") before it would scroll.
    const levels = ["", "cxc-compact", "cxc-compact cxc-tight"];
    for (const level of levels) {
      wrap.classList.remove("cxc-compact", "cxc-tight");
      if (level) wrap.classList.add(...level.split(" "));
      if (!fits(minimum)) continue;
      let lo = minimum, hi = 40;
      while (hi - lo > 0.5) {
        const mid = (lo + hi) / 2;
        if (fits(mid)) lo = mid; else hi = mid;
      }
      fits(lo);
      this.root.dataset.fit = "ok";
      this.root.dataset.level = level || "full";
      this.root.dataset.font = String(Math.round(lo * 10) / 10);
      return;
    }
    fits(minimum);
    this.root.dataset.fit = "scroll";
    this.root.dataset.font = String(minimum);
  }

  destroy() {
    clearInterval(this.timer);
    window.removeEventListener("resize", this.onResize);
  }
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let canvas = STATES.get(parentElement);
  if (!canvas) {
    canvas = new Canvas(parentElement);
    STATES.set(parentElement, canvas);
  }
  canvas.receive(data, setTriggerValue);
  // Streamlit calls this module again with each new `data`: the canvas (its unsaved
  // operations, undo stack and open editor) lives on across those calls.
}
