// labelquorum item page (reviewers): adjudication keys and, on spans tasks, the span editor.
// Keys act only when no text field has focus: a label's key picks it (a type's key marks
// the selected words), N and P go to the next and previous item of the queue. Enter saves
// only on a focused submit button: in the note field or on a choice it does nothing.
// Item text is written with textContent only; offsets sent to the server count code
// points (Python), the page counts UTF-16 units.
"use strict";

(function () {
  const body = document.body;
  if (body.dataset.page !== "item") return;
  const form = document.getElementById("adjudicate-form");
  const textEl = document.getElementById("span-text");
  const valueEl = document.getElementById("span-value");
  const listEl = document.getElementById("span-list");
  const noneEl = document.getElementById("span-none");
  const typing = (t) => t && (t.tagName === "TEXTAREA" || t.tagName === "SELECT"
    || (t.tagName === "INPUT" && !["radio", "checkbox"].includes(t.type)));

  // -- Enter: only a focused submit button submits ----------------------------------
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    const t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT")) ev.preventDefault();
  }, true);

  // -- spans editor -----------------------------------------------------------------
  let entities = [];  // [{start, end, type}] in UTF-16 units
  const text = textEl ? textEl.dataset.text : "";
  const tokens = textEl ? Array.from(text.matchAll(/[\p{L}\p{M}\p{N}_]+|[^\p{L}\p{M}\p{N}_\s]/gu),
    (m) => ({start: m.index, end: m.index + m[0].length})) : [];

  function toPoints(i) { return Array.from(text.slice(0, i)).length; }
  function fromPoints(n) {
    let i = 0;
    for (const ch of text) { if (n-- <= 0) break; i += ch.length; }
    return i;
  }

  function load(value) {
    entities = [];
    try {
      for (const [a, b, type] of JSON.parse(value || "[]")) {
        entities.push({start: fromPoints(a), end: fromPoints(b), type: String(type)});
      }
    } catch (e) { entities = []; }
    paint();
  }

  function paint() {
    if (!textEl) return;
    entities.sort((x, y) => x.start - y.start || x.end - y.end);
    const parts = [];
    let at = 0;
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
    textEl.replaceChildren(...parts);
    listEl.replaceChildren();
    entities.forEach((e, i) => {
      const li = document.createElement("li");
      li.setAttribute("data-testid", "span-entity-" + (i + 1));
      const words = document.createElement("span");
      words.textContent = text.slice(e.start, e.end);
      const type = document.createElement("span");
      type.className = "entity-type";
      type.textContent = e.type;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "linklike";
      remove.setAttribute("data-testid", "span-remove-" + (i + 1));
      remove.textContent = "remove";
      remove.addEventListener("click", () => { entities.splice(i, 1); paint(); });
      li.append(words, type, remove);
      listEl.appendChild(li);
    });
    noneEl.hidden = entities.length > 0;
    valueEl.value = JSON.stringify(entities.map((e) => [toPoints(e.start), toPoints(e.end), e.type]));
  }

  function offsetIn(node, off) {
    const r = document.createRange();
    r.selectNodeContents(textEl);
    r.setEnd(node, off);
    return r.toString().length;
  }

  function tag(type) {
    const sel = window.getSelection();
    if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return;
    const r = sel.getRangeAt(0);
    if (!textEl.contains(r.startContainer) || !textEl.contains(r.endContainer)) return;
    const s = offsetIn(r.startContainer, r.startOffset);
    const e = offsetIn(r.endContainer, r.endOffset);
    const covered = tokens.filter((t) => t.start < e && t.end > s);
    if (!covered.length) return;
    const start = covered[0].start, end = covered[covered.length - 1].end;
    entities = entities.filter((x) => x.end <= start || x.start >= end);
    entities.push({start, end, type});
    sel.removeAllRanges();
    paint();
  }

  if (textEl) {
    load(valueEl.value);
    for (const btn of document.querySelectorAll(".span-type")) {
      btn.addEventListener("mousedown", (ev) => ev.preventDefault());  // keep the selection
      btn.addEventListener("click", () => tag(btn.dataset.label));
    }
    for (const btn of document.querySelectorAll(".use-answer")) {
      btn.addEventListener("click", () => load(btn.dataset.value));
    }
  }

  // -- keys -------------------------------------------------------------------------
  const keyed = {};
  for (const el of document.querySelectorAll(textEl ? ".span-type" : "#adjudicate-form input[data-key]")) {
    if (el.dataset.key) keyed[el.dataset.key.toLowerCase()] = el;
  }
  document.addEventListener("keydown", (ev) => {
    if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const k = ev.key.toLowerCase();
    const go = {n: "queue-next", p: "queue-prev"}[k];
    if (go && !keyed[k]) {
      const link = document.getElementById(go);
      if (link) { ev.preventDefault(); window.location.assign(link.href); }
      return;
    }
    const el = keyed[k];
    if (!el || !form) return;
    ev.preventDefault();
    if (textEl) tag(el.dataset.label);
    else if (el.type === "checkbox") el.checked = !el.checked;
    else el.checked = true;
  });
  body.dataset.ready = "true";
})();
