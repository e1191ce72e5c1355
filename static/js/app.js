// app.js — the chat page: language switch, composer (IME-safe Enter), stop, clear chat, the
// translate box, and the session id. Answers themselves live in answer.js.

import { Turn } from "./answer.js";
import { t, setText, getLang, setLang, applyI18n, LANGS } from "./i18n.js";

const SESSION_KEY = "dual-nova.session";
const LANG_KEY = "dual-nova.lang";
const MAX_CHARS = 4000;

const $ = (id) => document.getElementById(id);
const els = {
  log: $("log"), empty: $("empty"), form: $("composer"), message: $("message"), send: $("send"),
  stop: $("stop"), clear: $("clear"), status: $("status"), note: $("composer-note"),
  trForm: $("translate-form"), trText: $("tr-text"), trTarget: $("tr-target"), trGo: $("tr-go"),
  trResult: $("tr-result"),
};

// ---- session: one id per browser tab, forgotten by "clear chat"

function newSessionId() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

let memorySession = null; // when sessionStorage is unavailable

function sessionId() {
  let id = null;
  try { id = sessionStorage.getItem(SESSION_KEY); } catch (_) { /* storage off */ }
  if (id && /^[A-Za-z0-9_-]{8,64}$/.test(id)) return id;
  if (!memorySession) memorySession = newSessionId();
  try { sessionStorage.setItem(SESSION_KEY, memorySession); } catch (_) { /* memory only */ }
  return memorySession;
}

// ---- language

function applyLang(lang) {
  setLang(lang);
  document.documentElement.lang = lang;
  for (const l of LANGS) $("lang-" + l).setAttribute("aria-pressed", String(l === lang));
  document.title = t("pageTitle");
  applyI18n(document);
  try { localStorage.setItem(LANG_KEY, lang); } catch (_) { /* not remembered */ }
}

function initialLang() {
  try {
    const l = localStorage.getItem(LANG_KEY);
    if (LANGS.includes(l)) return l;
  } catch (_) { /* default */ }
  return "ko";
}

// ---- status for screen readers

function announce(key) {
  // Cleared first so the same words are announced again.
  els.status.textContent = "";
  setTimeout(() => setText(els.status, key), 50);
}

// ---- chat

const turns = [];
let active = null;

function setBusy(busy, turn) {
  if (busy) active = turn;
  else if (active === turn) active = null;
  const on = !!active;
  els.send.disabled = on;
  els.stop.hidden = !on;
  els.stop.disabled = !on;
  els.form.dataset.busy = String(on);
  if (!on && document.activeElement === els.stop) els.message.focus();
}

function canStart() {
  return !active;
}

function ask(question) {
  const q = question.replace(/\s+$/, "");
  if (!q.trim() || active) return false;
  if ([...q].length > MAX_CHARS) {
    setText(els.note, "tooLong");
    els.note.hidden = false;
    return false;
  }
  els.note.hidden = true;
  els.empty.hidden = true;
  const turn = new Turn({
    question: q, uiLang: getLang(), sessionId, announce, canStart,
    onBusy: (b, tr) => setBusy(b, tr),
  });
  turns.push(turn);
  els.log.append(turn.el);
  turn.start();
  turn.el.scrollIntoView({ block: "start", behavior: "instant" });
  return true;
}

function submit() {
  if (ask(els.message.value)) {
    els.message.value = "";
    autosize();
  }
}

function stop() {
  if (active) active.stop();
}

async function clearChat() {
  const old = sessionId();
  for (const tr of turns) tr.dispose();
  turns.length = 0;
  active = null;
  setBusy(false, null);
  els.log.replaceChildren();
  els.empty.hidden = false;
  const fresh = newSessionId();
  try { sessionStorage.setItem(SESSION_KEY, fresh); } catch (_) { /* memory only */ }
  memorySession = fresh;
  let ok = true;
  try {
    const res = await fetch(`/api/session/${encodeURIComponent(old)}`, { method: "DELETE", cache: "no-store" });
    // 404: the server never kept this session (or it expired): nothing to forget.
    ok = res.ok || res.status === 404;
  } catch (_) {
    ok = false;
  }
  setText(els.note, ok ? "clearDone" : "clearServerFailed");
  els.note.hidden = false;
  announce(ok ? "clearDone" : "clearServerFailed");
  els.message.focus();
}

// ---- composer: Enter sends, Shift+Enter is a new line, and Enter that ends an IME
// composition (Korean, Japanese, Chinese input) never sends.

let composing = false;
els.message.addEventListener("compositionstart", () => { composing = true; });
els.message.addEventListener("compositionend", () => { composing = false; });
els.message.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && active) {
    e.preventDefault();
    stop();
    return;
  }
  if (e.key !== "Enter") return;
  // isComposing: Chrome/Firefox while the composition is open; keyCode 229: the Enter that
  // Safari delivers just after compositionend, and older engines' composition keys.
  if (e.isComposing || composing || e.keyCode === 229) return;
  if (e.shiftKey || e.altKey) return; // a new line
  e.preventDefault();
  submit();
});

function autosize() {
  els.message.style.height = "auto";
  els.message.style.height = Math.min(els.message.scrollHeight + 2, window.innerHeight * 0.4) + "px";
}
els.message.addEventListener("input", autosize);

els.form.addEventListener("submit", (e) => {
  e.preventDefault();
  submit();
});
els.stop.addEventListener("click", stop);
els.clear.addEventListener("click", clearChat);
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && active && e.target !== els.message) stop();
});
for (const l of LANGS) $("lang-" + l).addEventListener("click", () => applyLang(l));
for (const b of document.querySelectorAll("[data-example]")) {
  b.addEventListener("click", () => {
    if (ask(t(b.dataset.i18n))) els.message.focus();
  });
}

// ---- translate box

els.trForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = els.trText.value.trim();
  const out = els.trResult;
  out.replaceChildren();
  out.dataset.state = "";
  if (!text) {
    out.append(Object.assign(document.createElement("p"), { className: "tr-error" }));
    setText(out.firstChild, "translateEmpty");
    return;
  }
  els.trGo.disabled = true;
  const busy = document.createElement("p");
  setText(busy, "translating");
  out.append(busy);
  out.dataset.state = "busy";
  try {
    const res = await fetch("/api/translate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text, target: els.trTarget.value }),
      cache: "no-store",
    });
    let j = null;
    try { j = await res.json(); } catch (_) { /* shown as a failure */ }
    out.replaceChildren();
    if (res.ok && j && typeof j.translated_text === "string") {
      const langName = (l) => (l === "ko" || l === "en" ? t("langName_" + l) : String(l || "?"));
      const head = document.createElement("p");
      head.className = "tr-head";
      const label = document.createElement("span");
      setText(label, "translateResult");
      const dir = document.createElement("span");
      dir.className = "tr-dir";
      dir.textContent = ` · ${langName(j.detected_language)} → ${langName(j.target_language)}`;
      head.append(label, dir);
      const body = document.createElement("p");
      body.className = "tr-text";
      body.textContent = j.translated_text;
      if (j.target_language === "ko" || j.target_language === "en") body.lang = j.target_language;
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "copy";
      setText(copy, "copy");
      copy.addEventListener("click", async () => {
        try { await navigator.clipboard.writeText(j.translated_text); setText(copy, "copied"); }
        catch (_) { setText(copy, "copyFailed"); }
        setTimeout(() => setText(copy, "copy"), 1500);
      });
      out.append(head, body, copy);
      out.dataset.state = "done";
    } else {
      const p = document.createElement("p");
      p.className = "tr-error";
      setText(p, res.status === 404 || res.status === 501 ? "translateUnavailable" : "translateFailed");
      out.append(p);
      out.dataset.state = "error";
    }
  } catch (_) {
    out.replaceChildren();
    const p = document.createElement("p");
    p.className = "tr-error";
    setText(p, "translateFailed");
    out.append(p);
    out.dataset.state = "error";
  } finally {
    els.trGo.disabled = false;
  }
});

// ---- start

applyLang(initialLang());
sessionId();
setBusy(false, null);
autosize();
document.body.dataset.ready = "true";
