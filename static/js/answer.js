// answer.js — one question and its answer on the page: the parts that stream (Micro overview,
// Pro analysis; in English mode for the staff's Korean answer and the customer's English
// one), the translated question (shown when its `translation` event comes, usually after
// the first words), the characters and terms found, the sources, the usage and cost, and the
// answer's end state (done, stopped, or an error in words with a retry).
//
// Text from the model and the knowledge base only ever reaches the DOM as text nodes
// (markdown.js builds the answer's elements; everything else uses textContent).

import { ChatStream } from "./stream.js";
import { renderMarkdown, markdownText, safeHref } from "./markdown.js";
import { t, setText, hasKey, sectionName } from "./i18n.js";
import { Feedback } from "./feedback.js";
import { Handoff } from "./handoff.js";
import { h } from "./dom.js";

const MODELS = ["micro", "pro"];
const PHASES_FOR = { ko: ["answer"], en: ["staff_ko", "customer_en"] };
const PHASE_LANG = { staff_ko: "ko", customer_en: "en" };
// The question's translation is a job of its own (phase translate_ko / translate_en): it
// arrives as one `translation` event, whenever it is ready, and is never an answer part.
const isTranslation = (phase) => typeof phase === "string" && phase.startsWith("translate");
// Codes whose retry makes sense even when an event does not say so.
const RETRYABLE = new Set(["throttled", "model_error", "timeout", "worker_lost", "unavailable",
  "internal", "rate_limited", "overloaded"]);

// Re-rendering is batched to one pass per frame, whatever the rate of deltas.
const dirty = new Set();
let frame = 0;
function markDirty(part) {
  dirty.add(part);
  if (!frame) frame = requestAnimationFrame(flush);
}
function flush() {
  frame = 0;
  const doc = document.scrollingElement || document.documentElement;
  const atBottom = doc.scrollTop + window.innerHeight >= doc.scrollHeight - 96;
  for (const p of dirty) p.render();
  dirty.clear();
  if (atBottom) doc.scrollTop = doc.scrollHeight;
}
/** Renders what is pending now (the page may be hidden, where frames do not run). */
export function flushNow() {
  if (frame) cancelAnimationFrame(frame);
  flush();
}

function formatCost(usd) {
  if (typeof usd !== "number" || !Number.isFinite(usd)) return "—";
  if (usd === 0) return "$0";
  if (usd < 0.01) return "$" + usd.toPrecision(2);
  return "$" + usd.toFixed(4);
}

const int = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "0");

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    setText(button, "copied");
  } catch (_) {
    setText(button, "copyFailed");
  }
  setTimeout(() => setText(button, "copy"), 1500);
}

let partSeq = 0;

/** One streaming part: the answer of one model in one phase. */
class Part {
  constructor(phase, model, lang) {
    this.phase = phase;
    this.model = model;
    this.raw = "";
    this.state = "waiting";
    this.copyBtn = h("button", { type: "button", class: "copy", i18n: "copy", hidden: true });
    this.copyBtn.addEventListener("click", () => copyText(this.raw, this.copyBtn));
    const id = "part-" + ++partSeq;
    this.title = h("h3", { class: "part-title", id },
      h("span", { class: "part-name", i18n: "part_" + model }),
      h("span", { class: "model-badge", text: model === "micro" ? "Nova Micro" : "Nova Pro" }));
    this.status = h("span", { class: "part-status" });
    this.body = h("div", {
      class: "part-body md", lang, "aria-live": "polite", "aria-atomic": "false",
      "aria-busy": "true",
    });
    this.el = h("section", { class: `part part-${model}`, dataset: { model, phase, state: "waiting" } },
      h("header", { class: "part-head" }, this.title, this.status, this.copyBtn), this.body);
    this.el.setAttribute("aria-labelledby", id);
    this.setState("waiting");
  }

  append(text) {
    if (!text) return;
    this.raw += text;
    if (this.state === "waiting") this.setState("streaming");
    markDirty(this);
  }

  get ended() {
    return !(this.state === "waiting" || this.state === "streaming");
  }

  setState(s) {
    this.state = s;
    this.el.dataset.state = s;
    setText(this.status, "state_" + s);
    const live = s === "waiting" || s === "streaming";
    this.body.setAttribute("aria-busy", live ? "true" : "false");
    this.copyBtn.hidden = live || !this.raw;
    this.render();
  }

  render() {
    const { fragment, tail } = renderMarkdown(this.raw);
    if (!this.ended) {
      const cursor = h("span", { class: "cursor", "aria-hidden": "true" });
      (tail || fragment).appendChild(cursor);
    }
    this.body.replaceChildren(fragment);
  }
}

/** A question and its answer (one list item of the chat log). */
export class Turn {
  /** @param opts {question, uiLang, sessionId: () => string, onBusy(bool), announce(key)} */
  constructor(opts) {
    this.opts = opts;
    this.question = opts.question;
    this.uiLang = opts.uiLang;
    this.el = h("li", { class: "turn" },
      h("div", { class: "question" },
        h("h2", { class: "vh", i18n: "you" }),
        h("p", { class: "question-text", text: this.question })));
    this.answer = null;
    this.stream = null;
  }

  /** Builds a fresh answer and starts its request. */
  start() {
    this.parts = new Map(); // "phase/model" → Part
    this.phases = new Map(); // phase → section element
    this.errors = [];
    this.notice = null;
    this.meta = null;
    this.build();
    this.opts.onBusy(true, this);
    this.opts.announce("status_sending");
    this.stream = new ChatStream(
      { message: this.question, uiLang: this.uiLang, sessionId: this.opts.sessionId() },
      {
        onEvent: (type, data) => this.onEvent(type, data),
        onResume: (n) => this.onResume(n),
        onEnd: (r) => this.onEnd(r),
      });
    this.stream.run();
  }

  stop() {
    if (this.stream && !this.stream.ended) {
      this.answer.dataset.stopping = "true";
      this.stream.stop();
    }
  }

  get busy() {
    return !!(this.stream && !this.stream.ended);
  }

  build() {
    const old = this.answer;
    this.translated = h("p", { class: "translated", hidden: true });
    this.entities = h("ul", { class: "entities", hidden: true });
    this.entities.setAttribute("data-i18n-aria-label", "entities");
    this.entities.setAttribute("aria-label", t("entities"));
    this.phasesBox = h("div", { class: "phases" });
    this.noticeEl = h("p", { class: "notice", hidden: true, role: "note" });
    this.resumeEl = h("p", { class: "resume", hidden: true, role: "status" });
    this.errorText = h("p", { class: "error-text" });
    this.retryBtn = h("button", { type: "button", class: "retry", i18n: "retry" });
    this.retryBtn.addEventListener("click", () => this.retry());
    this.errorEl = h("div", { class: "error", hidden: true, role: "alert" }, this.errorText, this.retryBtn);
    this.sourcesEl = h("details", { class: "sources", hidden: true });
    this.footer = h("footer", { class: "answer-foot", hidden: true });
    this.loopEl = h("div", { class: "answer-loop", hidden: true }); // feedback.js, handoff.js
    this.feedback = null;
    this.handoff = null;
    this.answer = h("article", { class: "answer", dataset: { state: "streaming", uiLang: this.uiLang } },
      h("h2", { class: "vh", i18n: "answer" }),
      this.translated, this.entities, this.phasesBox, this.noticeEl, this.resumeEl, this.errorEl,
      this.sourcesEl, this.footer, this.loopEl);
    for (const phase of PHASES_FOR[this.uiLang] || PHASES_FOR.ko) this.phase(phase);
    if (old) old.replaceWith(this.answer);
    else this.el.append(this.answer);
  }

  /** The section of a phase (made on first use) with its two parts. */
  phase(phase) {
    let sec = this.phases.get(phase);
    if (sec) return sec;
    const lang = PHASE_LANG[phase] || this.uiLang;
    sec = h("section", { class: "phase", dataset: { phase } });
    // In Korean mode the answer is the one phase: the article's heading names it already.
    if (phase !== "answer") sec.append(h("h2", { class: "phase-title", i18n: "phase_" + phase }));
    const grid = h("div", { class: "parts" });
    for (const model of MODELS) {
      const p = new Part(phase, model, lang);
      this.parts.set(phase + "/" + model, p);
      grid.append(p.el);
    }
    sec.append(grid);
    this.phasesBox.append(sec);
    this.phases.set(phase, sec);
    return sec;
  }

  part(phase, model) {
    if (!MODELS.includes(model)) return null;
    if (!this.parts.has(phase + "/" + model)) this.phase(phase);
    return this.parts.get(phase + "/" + model);
  }

  onEvent(type, d) {
    if (this.resumeEl && !this.resumeEl.hidden && this.resumeEl.dataset.i18n === "resuming") {
      setText(this.resumeEl, "resumed");
      setTimeout(() => { this.resumeEl.hidden = true; }, 2000);
    }
    if (isTranslation(d.phase) && type !== "translation") {
      // Its error is shown quietly on the translation's line; the answers go on. (An older
      // worker's delta and model_done of it are not an answer either.)
      if (type === "error") this.translationFailed();
      return;
    }
    switch (type) {
      case "translation": this.onTranslation(d); break;
      case "meta": this.onMeta(d); break;
      case "delta": {
        const p = this.part(String(d.phase || "answer"), String(d.model));
        if (p && typeof d.text === "string") p.append(d.text);
        break;
      }
      case "model_done": {
        const p = this.part(String(d.phase || "answer"), String(d.model));
        if (p && !p.ended) p.setState("done");
        break;
      }
      case "notice": {
        this.notice = d;
        // A guardrail's intervention is said in the page's words (and follows a language
        // switch); other notices carry their text in the request's language.
        if (d.code === "guardrail") setText(this.noticeEl, "notice_guardrail");
        else {
          delete this.noticeEl.dataset.i18n;
          this.noticeEl.textContent = typeof d.text === "string" ? d.text : "";
        }
        this.noticeEl.dataset.code = String(d.code || "");
        this.noticeEl.hidden = false;
        break;
      }
      case "error": this.onError(d); break;
      case "done": this.onDone(d); break;
      default: break;
    }
  }

  onMeta(m) {
    this.meta = m;
    this.answer.dataset.requestId = String(m.request_id || "");
    if (Array.isArray(m.phases)) {
      // The server's phases win: add what it announces, drop what it does not (still empty).
      for (const ph of m.phases) if (typeof ph === "string") this.phase(ph);
      for (const [ph, sec] of this.phases) {
        if (!m.phases.includes(ph)) {
          sec.remove();
          this.phases.delete(ph);
          for (const model of MODELS) this.parts.delete(ph + "/" + model);
        }
      }
    }
    // Translated before the search (nothing sure was found as asked): in meta already. Otherwise
    // meta says a translation is on its way, and the line waits for its event.
    const other = m.input_lang === "ko" ? "en" : "ko";
    if (typeof m.translated_query === "string" && m.translated_query) this.showTranslation(m.translated_query, other);
    else if (typeof m.translating === "string" && this.translated.dataset.state !== "done") {
      this.translated.replaceChildren(h("span", { class: "pending", i18n: "translatingQuery" }));
      this.translated.dataset.state = "pending";
      this.translated.hidden = false;
    }
    if (Array.isArray(m.entities) && m.entities.length) {
      const seen = new Set();
      for (const e of m.entities) {
        if (!e || typeof e.canonical !== "string" || seen.has(e.canonical)) continue;
        seen.add(e.canonical);
        const chip = h("li", { class: "chip", dataset: { section: String(e.section || "") } },
          h("span", { class: "chip-name", text: e.canonical }));
        if (typeof e.matched === "string" && e.matched && e.matched.toLowerCase() !== e.canonical.toLowerCase())
          chip.append(h("span", { class: "chip-matched", text: e.matched }));
        chip.title = sectionName(String(e.section || ""));
        this.entities.append(chip);
      }
      this.entities.hidden = this.entities.children.length === 0;
    }
    if (Array.isArray(m.sources) && m.sources.length) this.showSources(m.sources);
  }

  /** The question translated (text only; lang: the language it is in). */
  showTranslation(text, lang) {
    const q = h("q", { text });
    q.lang = lang === "en" || lang === "ko" ? lang : this.uiLang;
    this.translated.replaceChildren(h("span", { class: "label", i18n: "translatedQuery" }), " ", q);
    this.translated.dataset.state = "done";
    this.translated.hidden = false;
  }

  onTranslation(d) {
    if (typeof d.translated_query === "string" && d.translated_query) this.showTranslation(d.translated_query, d.target_language);
  }

  translationFailed() {
    if (this.translated.dataset.state === "done") return;
    this.translated.replaceChildren(h("span", { class: "note", i18n: "translationUnavailable" }));
    this.translated.dataset.state = "failed";
    this.translated.hidden = false;
  }

  showSources(sources) {
    const list = h("ol", { class: "source-list" });
    for (const s of sources) {
      if (!s || typeof s !== "object") continue;
      const title = typeof s.title === "string" && s.title ? s.title : (typeof s.url === "string" ? s.url : "");
      const href = typeof s.url === "string" ? safeHref(s.url) : null;
      const head = href
        ? h("a", { class: "source-title", href, target: "_blank", rel: "noopener noreferrer nofollow", text: title })
        : h("span", { class: "source-title", text: title });
      const item = h("li", { class: "source" }, head);
      if (typeof s.score === "number" && Number.isFinite(s.score)) {
        const score = h("span", { class: "source-score" });
        setText(score, "sourceScore", { score: s.score.toFixed(2) });
        item.append(" ", score);
      }
      // An excerpt is a slice of a Markdown document: shown as its text, without # and ** markers.
      const excerpt = typeof s.excerpt === "string" ? markdownText(s.excerpt) : "";
      if (excerpt) item.append(h("p", { class: "source-excerpt", text: excerpt }));
      if (href) item.append(h("p", { class: "source-url", text: href }));
      list.append(item);
    }
    const summary = h("summary");
    setText(summary, "sources", { n: list.children.length });
    this.sourcesEl.replaceChildren(summary, list);
    this.sourcesEl.hidden = list.children.length === 0;
  }

  onError(d) {
    const code = String(d.code || "internal");
    this.errors.push({ code, retryable: d.retryable === true, model: d.model, phase: d.phase });
    const state = code === "canceled" ? "stopped" : "error";
    if (d.model) {
      const p = this.part(String(d.phase || "answer"), String(d.model));
      if (p && !p.ended) p.setState(state);
    } else {
      for (const p of this.parts.values()) {
        if (!p.ended && (!d.phase || p.phase === d.phase)) p.setState(state);
      }
    }
  }

  onDone(d) {
    this.footer.replaceChildren();
    const u = d.usage || {};
    const usage = h("span", { class: "usage" });
    setText(usage, "usage", {
      input: int(u.input_tokens), output: int(u.output_tokens),
      cacheRead: int(u.cache_read_tokens), cacheWrite: int(u.cache_write_tokens),
    });
    const cost = h("span", { class: "cost" });
    setText(cost, "cost", { cost: formatCost(d.cost_usd) });
    this.footer.append(usage, cost);
    if (Number.isFinite(d.elapsed_ms)) {
      const el = h("span", { class: "elapsed" });
      setText(el, "elapsed", { s: (d.elapsed_ms / 1000).toFixed(1) });
      this.footer.append(el);
    }
    if (this.meta && this.meta.request_id) {
      const rid = h("span", { class: "request-id" });
      setText(rid, "requestId", { id: String(this.meta.request_id) });
      this.footer.append(rid);
    }
    if (this.meta && this.meta.backend === "sim") this.footer.append(h("span", { class: "sim", i18n: "simBackend" }));
    this.footer.hidden = false;
  }

  onResume(n) {
    this.resumeEl.hidden = false;
    setText(this.resumeEl, "resuming", { n });
  }

  onEnd(r) {
    flushNow();
    this.resumeEl.hidden = true;
    if (this.translated.dataset.state === "pending") this.translated.hidden = true; // never came
    const stopAsked = !!(this.stream && this.stream.stopRequested);
    let final = "done", errKey = null, retry = false, retryAfter = null;
    if (r.state === "stopped") {
      final = "stopped";
    } else if (r.state === "failed") {
      final = "error";
      retry = true;
      if (r.kind === "http") {
        errKey = r.code && hasKey("err_" + r.code) ? "err_" + r.code
          : r.status === 429 ? "err_rate_limited"
          : r.status === 502 || r.status === 503 ? "err_unavailable"
          : r.status === 504 ? "err_timeout"
          : r.status === 413 ? "err_payload_too_large"
          : r.status === 400 ? "err_bad_request" : "err_unknown";
        retry = !(r.status >= 400 && r.status < 429);
        retryAfter = r.retryAfter;
      } else {
        errKey = "err_" + r.kind;
      }
    } else {
      const real = this.errors.filter((e) => e.code !== "canceled");
      const canceled = this.errors.some((e) => e.code === "canceled");
      if (real.length) {
        final = "error";
        const first = real[0];
        errKey = hasKey("err_" + first.code) ? "err_" + first.code : "err_unknown";
        retry = real.some((e) => e.retryable || RETRYABLE.has(e.code));
      } else if (canceled) {
        if (stopAsked) final = "stopped";
        else {
          // Canceled without a stop from here: the server saw our connection go.
          final = "error";
          errKey = "err_dropped";
          retry = true;
        }
      }
    }
    const noDocs = this.notice && this.notice.code === "no_documents";
    for (const p of this.parts.values()) {
      if (p.ended) continue;
      if (noDocs && !p.raw) {
        p.setState("done");
        p.el.hidden = true;
      } else if (final === "stopped") p.setState("stopped");
      else if (final === "error" && !p.raw) p.setState("error");
      else p.setState("incomplete");
    }
    if (noDocs) {
      for (const sec of this.phases.values()) {
        const all = [...sec.querySelectorAll(".part")];
        if (all.every((e) => e.hidden)) sec.hidden = true;
      }
    }
    this.answer.dataset.state = final;
    delete this.answer.dataset.stopping;
    if (final === "stopped") {
      this.noticeEl.hidden = false;
      setText(this.noticeEl, "stoppedNote");
      this.noticeEl.dataset.code = "stopped";
    }
    if (errKey) this.showError(errKey, retry, retryAfter);
    if (final === "done") this.offerLoop(noDocs);
    this.opts.onBusy(false, this);
    this.opts.announce(final === "done" ? "status_done" : final === "stopped" ? "status_stopped" : "status_failed");
  }

  /** A finished answer: 👍/👎 (one rating for the whole answer group of this request) and
   *  "talk to a person", offered after the no-documents apology or once 👎 is chosen. */
  offerLoop(noDocs) {
    const rid = this.meta && typeof this.meta.request_id === "string" ? this.meta.request_id : "";
    if (!rid) return;
    const offerHandoff = () => {
      if (this.handoff) return;
      this.handoff = new Handoff({ requestId: rid, sessionId: this.opts.sessionId() });
      this.loopEl.append(this.handoff.el);
    };
    const answered = [...this.parts.values()].some((p) => p.raw);
    if (answered && !noDocs) {
      this.feedback = new Feedback({ requestId: rid, target: this.answer, onDown: offerHandoff });
      this.loopEl.append(this.feedback.el);
    }
    if (noDocs) offerHandoff();
    this.loopEl.hidden = !this.loopEl.children.length;
  }

  showError(key, retry, retryAfter) {
    setText(this.errorText, key);
    this.errorEl.dataset.key = key;
    this.retryBtn.hidden = !retry;
    this.errorEl.hidden = false;
    clearInterval(this.countdown);
    if (retry && retryAfter > 0) {
      let left = Math.min(retryAfter, 120);
      this.retryBtn.disabled = true;
      setText(this.retryBtn, "retryIn", { s: left });
      this.countdown = setInterval(() => {
        left--;
        if (left > 0) setText(this.retryBtn, "retryIn", { s: left });
        else {
          clearInterval(this.countdown);
          this.retryBtn.disabled = false;
          setText(this.retryBtn, "retry");
        }
      }, 1000);
    }
  }

  retry() {
    if (this.busy || !this.opts.canStart()) return;
    clearInterval(this.countdown);
    this.start();
  }

  /** Forgets the turn (clear chat): stops its request if it still runs. */
  dispose() {
    clearInterval(this.countdown);
    this.stop();
  }
}
