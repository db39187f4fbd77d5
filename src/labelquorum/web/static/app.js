// labelquorum annotation page: keyboard-first labelling over the JSON API.
// Item text is only ever written with textContent (never innerHTML), so untrusted text
// stays text. Loaded with `defer`; no inline script anywhere (the CSP forbids it).
// TODO(spans): span selection by mouse and keyboard for `spans` tasks, once that task
// kind lands (branch `spans`): select text in .field-text, a label key tags the selection.
"use strict";

(function () {
  const body = document.body;
  if (body.dataset.page !== "annotate") return;
  const csrf = body.dataset.csrf || "";
  const root = document.getElementById("annotate");
  const multilabel = root.dataset.kind === "multilabel";
  const itemEl = document.getElementById("item");
  const fieldsEl = document.getElementById("fields");
  const statusEl = document.getElementById("status");
  const emptyEl = document.getElementById("empty");
  const labelsEl = document.getElementById("labels");
  const actionsEl = document.getElementById("actions");
  const suggestionEl = document.getElementById("suggestion");
  const choices = Array.from(document.querySelectorAll(multilabel ? ".label-check" : ".label-btn"));
  const imageSuffix = /\.(png|jpe?g|gif|webp|bmp)$/i;

  let current = null;      // {id, fields, suggestion}
  let preloaded = null;
  let shownAt = performance.now();
  let selected = multilabel ? new Set() : null;
  let busy = false;

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
    emptyEl.hidden = has;
    itemEl.dataset.id = has ? item.id : "";
    fieldsEl.replaceChildren();
    selected = multilabel ? new Set() : null;
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
    showSuggestion(item.suggestion);
    shownAt = performance.now();
    paint();
    preload();
  }

  function showSuggestion(s) {
    if (!s) return;
    document.getElementById("suggestion-label").textContent = s.label;
    document.getElementById("suggestion-confidence").textContent =
      s.confidence === null || s.confidence === undefined ? "" : "(confidence " + Number(s.confidence).toFixed(2) + ")";
    suggestionEl.hidden = false;
    // pre-filled, and marked: the person still has to press Enter to accept it
    if (multilabel) selected = new Set(s.label.split("|"));
    else selected = s.label;
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

  function chosen() {
    if (multilabel) return Array.from(selected);
    return selected;
  }

  async function submit() {
    if (busy || !current) return;
    const label = chosen();
    if (!multilabel && label === null) { say("Choose a label first (keys 1–9)."); return; }
    busy = true;
    try {
      const seconds = (performance.now() - shownAt) / 1000;
      await api("POST", "/api/submit", {id: current.id, label, seconds});
      say("Saved.");
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
      say("Your last answer was taken back; answer it again.");
    } catch (e) { say(e.message); }
    finally { busy = false; }
  }

  async function assist() {
    if (!current) return;
    const box = document.getElementById("assist-result");
    try {
      const out = await api("POST", "/api/assist", {id: current.id});
      box.textContent = "Assistant: " + out.label + (out.rationale ? " — " + out.rationale : "");
    } catch (e) { box.textContent = e.message; }
    box.hidden = false;
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
      select(el.dataset.label);
    });
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

  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    if (t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && t.type !== "checkbox"))) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const k = ev.key.toLowerCase();
    if (k === "enter") { ev.preventDefault(); submit(); return; }
    if (k === "u") { ev.preventDefault(); undo(); return; }
    if (!current) return;
    if (k === "s" && !keys.s) { ev.preventDefault(); skip(); return; }
    if (keys[k] !== undefined) { ev.preventDefault(); select(keys[k]); }
  });

  // the first item is rendered by the server; pick it up
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
    shownAt = performance.now();
    paint();
    preload();
  }
  body.dataset.ready = "true";
})();
