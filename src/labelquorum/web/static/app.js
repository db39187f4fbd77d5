// labelquorum annotation page: keyboard-first labelling over the JSON API.
// Item text is only ever written with textContent (never innerHTML), so untrusted text
// stays text. Loaded with `defer`; no inline script anywhere (the CSP forbids it).
// Spans tasks: select text with the mouse, or move over tokens with the arrow keys
// (Shift extends), then a type key (1-9) or button marks the entity; entities are <mark>
// elements built with textContent, their type shown by CSS (attr(data-type)), so the text
// element's text stays exactly the item's text and DOM offsets are text offsets.
// Keys act on the control that has focus: Enter and Space on a button, a summary or a
// checkbox do what that control does; Enter submits only when no control has focus (or
// on Submit itself), and Enter in the comment box sends the comment.
"use strict";

(function () {
  const body = document.body;
  if (body.dataset.page !== "annotate") return;
  const csrf = body.dataset.csrf || "";
  const root = document.getElementById("annotate");
  const multilabel = root.dataset.kind === "multilabel";
  const spans = root.dataset.kind === "spans";
  // free-text tasks: the answer is written in a text box; Ctrl+Enter submits it
  const freeText = root.dataset.kind === "text";
  const answerEl = document.getElementById("answer-text");
  const preselect = root.dataset.preselect === "true";
  const textField = root.dataset.textField || "text";
  const entitiesEl = document.getElementById("entities");
  const entitiesNone = document.getElementById("entities-none");
  const itemEl = document.getElementById("item");
  const fieldsEl = document.getElementById("fields");
  const statusEl = document.getElementById("status");
  const emptyEl = document.getElementById("empty");
  const labelsEl = document.getElementById("labels");
  const actionsEl = document.getElementById("actions");
  const suggestionEl = document.getElementById("suggestion");
  const commentBox = document.getElementById("comment-box");
  // rating tasks on a numeric scale: a number box and a slider (kinds/templates/rating.html)
  const ratingInput = document.getElementById("rating-value");
  const ratingSlider = document.getElementById("rating-slider");
  const choices = Array.from(document.querySelectorAll(multilabel ? ".label-check" : ".label-btn"));
  const progress = {
    today: document.querySelector("[data-testid=progress-today]"),
    total: document.querySelector("[data-testid=progress-total]"),
    remaining: document.querySelector("[data-testid=progress-remaining]"),
  };
  const RESYNC_EVERY = 20;  // answers between asking the server for the progress figures
  const imageSuffix = /\.(png|jpe?g|gif|webp|bmp)$/i;

  let current = null;      // {id, fields, suggestion}
  let preloaded = null;
  let shownAt = performance.now();
  let selected = multilabel ? new Set() : null;
  let busy = false;
  let entities = [];       // spans tasks: [{start, end, type}], UTF-16 offsets, sorted
  let tokens = [];         // [{start, end}] of the item's text: \w+ runs, single other chars
  let cursor = null;       // keyboard selection: {anchor, focus} token indexes, hidden?
  let sinceSync = 0;
  let lastAnswered = true;  // whether the last thing done was an answer (else a skip)

  async function api(method, path, data) {
    const opts = {method, headers: {"Accept": "application/json"}, credentials: "same-origin"};
    if (method !== "GET") {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = csrf;
      opts.body = JSON.stringify(data || {});
    }
    const res = await fetch(path, opts);
    const out = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error((out.error && out.error.message) || res.statusText);
      err.code = out.error && out.error.code;
      err.status = res.status;
      throw err;
    }
    return out;
  }

  function say(text) { statusEl.textContent = text; }

  function select(label) {
    if (multilabel) {
      if (selected.has(label)) selected.delete(label); else selected.add(label);
    } else {
      selected = label;
    }
    paint();
  }

  function paint() {
    for (const el of choices) {
      const on = multilabel ? selected.has(el.dataset.label) : selected === el.dataset.label;
      if (multilabel) el.checked = on; else el.setAttribute("aria-pressed", on ? "true" : "false");
      el.classList.toggle("selected", on);
      const sugg = current && current.suggestion && current.suggestion.label
        .split("|").includes(el.dataset.label);
      el.classList.toggle("suggested", !!sugg);
    }
  }

  function render(item) {
    current = item;
    preloaded = null;
    const has = !!item;
    itemEl.hidden = !has; labelsEl.hidden = !has; actionsEl.hidden = !has;
    commentBox.hidden = !has;
    emptyEl.hidden = has;
    itemEl.dataset.id = has ? item.id : "";
    fieldsEl.replaceChildren();
    selected = multilabel ? new Set() : null;
    setRating("");
    if (answerEl) answerEl.value = "";
    suggestionEl.hidden = true;
    if (!has) { paint(); return; }
    for (const [name, value] of Object.entries(item.fields)) {
      const box = document.createElement("div");
      box.className = "field";
      box.dataset.field = name;
      const title = document.createElement("div");
      title.className = "field-name";
      title.textContent = name;
      box.appendChild(title);
      if (typeof value === "string" && imageSuffix.test(value)) {
        const img = document.createElement("img");
        img.className = "field-image";
        img.alt = name;
        img.src = "/media/" + encodeURIComponent(item.id) + "/" + encodeURIComponent(name);
        box.appendChild(img);
      } else {
        const text = document.createElement("div");
        text.className = "field-text";
        text.dataset.testid = "item-text";
        text.setAttribute("data-testid", "item-text");
        text.textContent = value === null || value === undefined ? "" : String(value);
        box.appendChild(text);
      }
      fieldsEl.appendChild(box);
    }
    markSides();
    showSuggestion(item.suggestion);
    setupSpans(spans && preselect && item.suggestion ? item.suggestion.label : null);
    shownAt = performance.now();
    paint();
    if (freeText) answerEl.focus();
    preload();
  }

  // a widget that shows two fields side by side (pairwise: response A | response B) names
  // them in #field-sides; the other fields span both columns
  const sides = document.getElementById("field-sides");
  function markSides() {
    if (!sides) return;
    fieldsEl.classList.add("sides");
    for (const box of fieldsEl.querySelectorAll(".field")) {
      const side = box.dataset.field === sides.dataset.left ? "left"
        : (box.dataset.field === sides.dataset.right ? "right" : "");
      if (!side) continue;
      box.dataset.side = side;
      const title = box.querySelector(".field-name");
      if (title && sides.dataset[side + "Title"]) title.textContent = sides.dataset[side + "Title"];
    }
  }

  function showSuggestion(s) {
    if (!s) return;
    document.getElementById("suggestion-label").textContent = s.label;
    document.getElementById("suggestion-confidence").textContent =
      s.confidence === null || s.confidence === undefined ? "" : "(confidence " + Number(s.confidence).toFixed(2) + ")";
    suggestionEl.hidden = false;
    // shown and marked; chosen for the person only when the project asks for it
    // (web.preselect_suggestion), and even then they still have to submit it
    if (!preselect) return;
    if (multilabel) selected = new Set(s.label.split("|"));
    else if (ratingInput) setRating(s.label);
    else selected = s.label;
  }

  function setRating(value) {
    if (!ratingInput) return;
    ratingInput.value = value;
    if (value !== "") ratingSlider.value = value;
  }

  // -- progress: counted here, asked of the server on load and every RESYNC_EVERY answers
  function showProgress(p) {
    if (!progress.today) return;
    progress.today.textContent = String(p.today);
    progress.total.textContent = String(p.total);
    progress.remaining.textContent = String(p.remaining);
  }

  function readProgress() {
    const n = (el) => Number(el.textContent) || 0;
    return {today: n(progress.today), total: n(progress.total), remaining: n(progress.remaining)};
  }

  async function syncProgress() {
    if (!progress.today) return;
    sinceSync = 0;
    try {
      showProgress(await api("GET", "/api/progress?offset=" + new Date().getTimezoneOffset()));
    } catch (e) { /* the counts stay as they were */ }
  }

  function counted(answered, step) {
    if (!progress.today) return;
    const p = readProgress();
    if (answered) { p.today += step; p.total += step; }
    p.remaining = Math.max(0, p.remaining - step);
    showProgress(p);
    if (++sinceSync >= RESYNC_EVERY) syncProgress();
  }

  async function preload() {
    if (!current) return;
    try {
      const out = await api("GET", "/api/next?after=" + encodeURIComponent(current.id));
      preloaded = out.item;
      if (preloaded && preloaded.fields) {
        for (const [name, v] of Object.entries(preloaded.fields)) {
          if (typeof v === "string" && imageSuffix.test(v)) {
            new Image().src = "/media/" + encodeURIComponent(preloaded.id) + "/" + encodeURIComponent(name);
          }
        }
      }
    } catch (e) { preloaded = null; }
  }

  async function advance() {
    if (preloaded) { const next = preloaded; render(next); return; }
    const out = await api("GET", "/api/next");
    render(out.item);
  }

  // -- spans ---------------------------------------------------------------------------
  function itemText() {
    const v = current && current.fields ? current.fields[textField] : "";
    return v === null || v === undefined ? "" : String(v);
  }

  function textEl() {
    const box = fieldsEl.querySelector('.field[data-field="' + CSS.escape(textField) + '"]');
    return box ? box.querySelector(".field-text") : null;
  }

  // the server counts code points (Python); the page counts UTF-16 units
  function toPoints(text, i) { return Array.from(text.slice(0, i)).length; }
  function fromPoints(text, n) {
    let i = 0;
    for (const ch of text) { if (n-- <= 0) break; i += ch.length; }
    return i;
  }

  function setupSpans(suggested) {
    if (!spans) return;
    const text = itemText();
    tokens = Array.from(text.matchAll(/[\p{L}\p{M}\p{N}_]+|[^\p{L}\p{M}\p{N}_\s]/gu),
                        (m) => ({start: m.index, end: m.index + m[0].length}));
    entities = [];
    cursor = null;
    if (suggested) {
      try {
        for (const [a, b, type] of JSON.parse(suggested)) {
          entities.push({start: fromPoints(text, a), end: fromPoints(text, b), type: String(type)});
        }
      } catch (e) { entities = []; }
    }
    paintSpans();
  }

  function paintSpans() {
    const el = textEl();
    if (!spans || !el) return;
    const text = itemText();
    const parts = [];
    let at = 0;
    entities.sort((x, y) => x.start - y.start || x.end - y.end);
    for (const e of entities) {
      // an entity overlapping the one before shows from where that one ends: the marks
      // together are the item's text, once, so DOM offsets stay text offsets
      const start = Math.max(e.start, at);
      if (start >= e.end) continue;
      if (start > at) parts.push(document.createTextNode(text.slice(at, start)));
      const mark = document.createElement("mark");
      mark.className = "entity";
      mark.dataset.type = e.type;
      mark.setAttribute("data-testid", "entity-mark");
      mark.textContent = text.slice(start, e.end);
      parts.push(mark);
      at = e.end;
    }
    if (at < text.length) parts.push(document.createTextNode(text.slice(at)));
    el.replaceChildren(...parts);
    entitiesEl.replaceChildren();
    entities.forEach((e, i) => {
      const li = document.createElement("li");
      li.setAttribute("data-testid", "entity-" + (i + 1));
      const words = document.createElement("span");
      words.textContent = text.slice(e.start, e.end);
      const type = document.createElement("span");
      type.className = "entity-type";
      type.textContent = e.type;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "linklike";
      remove.setAttribute("data-testid", "entity-remove-" + (i + 1));
      remove.textContent = "remove";
      remove.addEventListener("click", () => { entities.splice(i, 1); paintSpans(); });
      li.append(words, type, remove);
      entitiesEl.appendChild(li);
    });
    entitiesNone.hidden = entities.length > 0;
    if (cursor && !cursor.hidden) showCursor();
  }

  function offsetIn(el, node, off) {
    const r = document.createRange();
    r.selectNodeContents(el);
    r.setEnd(node, off);
    return r.toString().length;
  }

  function positionIn(el, n) {
    const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walk.nextNode())) {
      if (n <= node.length) return [node, n];
      n -= node.length;
    }
    return [el, el.childNodes.length];
  }

  function showCursor() {
    const el = textEl();
    if (!el || !tokens.length) return;
    const a = Math.min(cursor.anchor, cursor.focus), b = Math.max(cursor.anchor, cursor.focus);
    const [n1, o1] = positionIn(el, tokens[a].start);
    const [n2, o2] = positionIn(el, tokens[b].end);
    window.getSelection().setBaseAndExtent(n1, o1, n2, o2);
  }

  function moveCursor(step, extend) {
    if (!tokens.length) return;
    const last = tokens.length - 1;
    if (!cursor) {
      const at = step > 0 ? 0 : last;
      cursor = {anchor: at, focus: at, hidden: false};
    } else {
      const focus = Math.max(0, Math.min(last, cursor.focus + (cursor.hidden ? (step > 0 ? 1 : 0) : step)));
      cursor = extend && !cursor.hidden ? {anchor: cursor.anchor, focus, hidden: false}
        : {anchor: focus, focus, hidden: false};
    }
    showCursor();
  }

  // the selected text as a token-aligned range, or null
  function selectedRange() {
    const el = textEl();
    const sel = window.getSelection();
    if (!el || !sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
    const r = sel.getRangeAt(0);
    if (!el.contains(r.startContainer) || !el.contains(r.endContainer)) return null;
    const s = offsetIn(el, r.startContainer, r.startOffset);
    const e = offsetIn(el, r.endContainer, r.endOffset);
    const covered = tokens.filter((t) => t.start < e && t.end > s);
    if (!covered.length) return null;
    return {start: covered[0].start, end: covered[covered.length - 1].end,
            last: tokens.indexOf(covered[covered.length - 1])};
  }

  function tag(type) {
    const r = selectedRange();
    if (!r) { say("Select the entity's text first (mouse, or ← → and Shift+← →), then its type."); return; }
    entities = entities.filter((e) => e.end <= r.start || e.start >= r.end);
    entities.push({start: r.start, end: r.end, type});
    cursor = {anchor: r.last, focus: r.last, hidden: true};
    window.getSelection().removeAllRanges();
    paintSpans();
    say("Marked " + type + ".");
  }

  function removeEntity() {
    const r = selectedRange();
    const hit = r ? entities.findIndex((e) => e.start < r.end && e.end > r.start) : -1;
    if (hit >= 0) entities.splice(hit, 1);
    else if (entities.length) entities.pop();
    else return;
    paintSpans();
  }

  function chosen() {
    if (freeText) return answerEl.value.trim() === "" ? null : answerEl.value;
    if (spans) {
      const text = itemText();
      return entities.map((e) => [toPoints(text, e.start), toPoints(text, e.end), e.type]);
    }
    if (multilabel) return Array.from(selected);
    if (ratingInput) return ratingInput.value.trim() === "" ? null : ratingInput.value.trim();
    return selected;
  }

  async function submit() {
    if (busy || !current) return;
    const label = chosen();
    if (ratingInput && label === null) { say("Enter a rating first (type a number, or move the slider)."); return; }
    if (freeText && label === null) { say("Write the answer first, then press Ctrl+Enter."); answerEl.focus(); return; }
    if (!multilabel && !spans && label === null) { say("Choose a label first (keys 1–9)."); return; }
    busy = true;
    try {
      const seconds = (performance.now() - shownAt) / 1000;
      await api("POST", "/api/submit", {id: current.id, label, seconds});
      say("Saved.");
      counted(true, 1);
      lastAnswered = true;
      await advance();
    } catch (e) { say(e.message); if (e.status === 404) await advance(); }
    finally { busy = false; }
  }

  async function skip() {
    if (busy || !current) return;
    busy = true;
    try {
      await api("POST", "/api/skip", {id: current.id});
      say("Skipped.");
      counted(false, 1);
      lastAnswered = false;
      await advance();
    } catch (e) { say(e.message); }
    finally { busy = false; }
  }

  async function undo() {
    if (busy) return;
    busy = true;
    try {
      const out = await api("POST", "/api/undo", {});
      render(out.item);
      counted(lastAnswered, -1);
      say("Your last answer was taken back; answer it again.");
    } catch (e) { say(e.message); }
    finally { busy = false; }
  }

  async function assist() {
    if (!current) return;
    const box = document.getElementById("assist-result");
    try {
      const out = await api("POST", "/api/assist", {id: current.id});
      box.textContent = out.label === null || out.label === undefined
        ? (out.rationale || "The assistant has no suggestion for this item.")
        : "Assistant: " + out.label + (out.rationale ? " — " + out.rationale : "");
      if (spans && out.entities && out.label !== null && out.label !== undefined) assistMarks(box, out);
    } catch (e) { box.textContent = e.message; }
    box.hidden = false;
  }

  // spans: the assistant's entities as marks on a copy of the item's text (the person's
  // own marks stay as they are)
  function assistMarks(box, out) {
    const text = itemText();
    const found = out.entities.map((e) => ({start: fromPoints(text, e.start),
                                            end: fromPoints(text, e.end), type: e.type}))
      .sort((x, y) => x.start - y.start);
    const view = document.createElement("div");
    view.className = "field-text";
    view.setAttribute("data-testid", "assist-marks");
    let at = 0;
    for (const e of found) {
      if (e.start < at) continue;
      if (e.start > at) view.appendChild(document.createTextNode(text.slice(at, e.start)));
      const mark = document.createElement("mark");
      mark.className = "entity";
      mark.dataset.type = e.type;
      mark.textContent = text.slice(e.start, e.end);
      view.appendChild(mark);
      at = e.end;
    }
    if (at < text.length) view.appendChild(document.createTextNode(text.slice(at)));
    box.textContent = found.length ? "Assistant's entities:" : "The assistant found no entities.";
    if (out.rationale) box.appendChild(document.createTextNode(" " + out.rationale));
    box.appendChild(view);
  }

  async function comment() {
    if (!current) return;
    const text = document.getElementById("comment-text");
    const flag = document.getElementById("comment-flag");
    try {
      await api("POST", "/api/comment", {id: current.id, text: text.value, flag: flag.checked});
      text.value = ""; flag.checked = false;
      say("Comment sent.");
    } catch (e) { say(e.message); }
  }

  for (const el of choices) {
    el.addEventListener(multilabel ? "change" : "click", (ev) => {
      if (multilabel) { ev.preventDefault(); }
      if (spans) tag(el.dataset.label); else select(el.dataset.label);
    });
    // keep the text selection when a type button is pressed
    if (spans) el.addEventListener("mousedown", (ev) => ev.preventDefault());
  }
  document.getElementById("submit").addEventListener("click", submit);
  document.getElementById("skip").addEventListener("click", skip);
  document.getElementById("undo").addEventListener("click", undo);
  document.getElementById("undo-empty").addEventListener("click", undo);
  document.getElementById("comment-submit").addEventListener("click", comment);
  const assistBtn = document.getElementById("assist");
  if (assistBtn) assistBtn.addEventListener("click", assist);

  const keys = {};
  for (const el of choices) if (el.dataset.key) keys[el.dataset.key.toLowerCase()] = el.dataset.label;
  // a choice may also take an arrow key (pairwise: ← is A, → is B)
  for (const el of choices) if (el.dataset.arrow) keys["arrow" + el.dataset.arrow] = el.dataset.label;

  // a control that acts on Enter or Space itself (a button, a summary, a checkbox, a link)
  function isControl(t) {
    return !!(t && t !== body && t.matches &&
      t.matches("button, summary, a[href], input, select, textarea, [tabindex]"));
  }

  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    if (freeText && t === answerEl) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault(); if (!ev.repeat) submit();
      } else if (ev.key === "Escape") { answerEl.blur(); }
      return;  // typing in the box never skips, undoes or chooses
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const k = ev.key.toLowerCase();
    if (t && t.id === "comment-text") {
      if (k === "enter" && !ev.shiftKey) { ev.preventDefault(); if (!ev.repeat) comment(); }
      return;
    }
    if (ratingInput && (t === ratingInput || t === ratingSlider)) {
      if (k === "enter" && !ev.repeat) { ev.preventDefault(); t.blur(); submit(); }
      else if (k === "escape") { ev.preventDefault(); t.blur(); }
      return;
    }
    if (t && (t.tagName === "TEXTAREA" || t.tagName === "SELECT" ||
              (t.tagName === "INPUT" && t.type !== "checkbox"))) return;
    // a key held down repeats: it must not answer, skip or undo the items that follow
    if (ev.repeat && (k === "enter" || k === " " || k === "s" || k === "u")) {
      ev.preventDefault(); return;
    }
    if (k === "enter" || k === " ") {
      if (isControl(t)) return;  // the focused control's own action, never a submit
      if (k === "enter") { ev.preventDefault(); submit(); }
      return;
    }
    if (k === "u") { ev.preventDefault(); undo(); return; }
    if (!current) return;
    if (k === "s") { ev.preventDefault(); skip(); return; }
    if (spans && (k === "arrowright" || k === "arrowleft")) {
      ev.preventDefault(); moveCursor(k === "arrowright" ? 1 : -1, ev.shiftKey); return;
    }
    if (spans && (k === "backspace" || k === "delete")) { ev.preventDefault(); removeEntity(); return; }
    if (keys[k] !== undefined) { ev.preventDefault(); if (spans) tag(keys[k]); else select(keys[k]); }
    // a numeric rating: typing a number starts it in the box (the key goes to the box)
    else if (ratingInput && /^[0-9.\-]$/.test(k)) ratingInput.focus();
  });
  if (ratingInput) {
    ratingSlider.addEventListener("input", () => { ratingInput.value = ratingSlider.value; });
    ratingInput.addEventListener("input", () => {
      if (ratingInput.value !== "") ratingSlider.value = ratingInput.value;
    });
  }

  // a control clicked with the mouse gives focus back, so that the next Enter submits
  // instead of pressing it again; pressed from the keyboard, it keeps focus
  root.addEventListener("click", (ev) => {
    const c = ev.target.closest && ev.target.closest("button, summary, input[type=checkbox]");
    if (c && ev.detail > 0) c.blur();
  });

  // time on the item is measured by the server; it leaves out the time the page is hidden
  document.addEventListener("visibilitychange", () => {
    if (!current) return;
    api("POST", "/api/visibility",
        {id: current.id, hidden: document.visibilityState === "hidden"}).catch(() => {});
  });

  // the first item is rendered by the server; pick it up
  markSides();
  if (itemEl.dataset.id) {
    const fields = {};
    for (const box of fieldsEl.querySelectorAll(".field")) {
      const text = box.querySelector(".field-text");
      const img = box.querySelector(".field-image");
      fields[box.dataset.field] = text ? text.textContent : (img ? img.getAttribute("src") : "");
    }
    current = {id: itemEl.dataset.id, fields, suggestion: null};
    if (itemEl.dataset.suggestion !== undefined) {
      const conf = itemEl.dataset.confidence;
      current.suggestion = {label: itemEl.dataset.suggestion, confidence: conf === "" ? null : Number(conf)};
      showSuggestion(current.suggestion);
    }
    setupSpans(spans && preselect && current.suggestion ? current.suggestion.label : null);
    shownAt = performance.now();
    paint();
    if (freeText) answerEl.focus();
    preload();
  }
  syncProgress();
  body.dataset.ready = "true";
})();
