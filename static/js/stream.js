// stream.js — one chat request: POST /api/chat, read its event stream, resume it after a
// dropped connection, stop it.
//
// The request's events are numbered by the server (SSE id). The last id seen is kept; when the
// connection drops before `done` (a network error or an early end of the body, not an error
// event and not a stop) the stream is resumed with GET /api/chat/<request_id>/events and
// Last-Event-ID, and only events newer than the last one seen are passed on, so no text is
// ever shown twice. Resumes are bounded (RESUME_ATTEMPTS in a row without progress) and spaced
// by a capped exponential backoff with jitter.

import { SSEParser, compareEventIds } from "./sse.js";

const RESUME_ATTEMPTS = 6;
const BACKOFF_BASE_MS = 300;
const BACKOFF_CAP_MS = 5000;
const STOP_GRACE_MS = 5000; // after a cancel, how long the server gets to end the stream
// The server sends ": ping" every 15 s on a quiet stream; a connection silent for this long is
// dead (a phone that changed networks keeps a half-open socket) and is resumed.
const IDLE_MS = 45000;

const sleep = (ms, signal) => new Promise((resolve) => {
  if (signal && signal.aborted) return resolve();
  const t = setTimeout(resolve, ms);
  if (signal) signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
});

/** Reads an API error response ({"error": {code, message, request_id}}) into plain fields. */
async function readApiError(res) {
  let code = "", message = "", requestId = "";
  try {
    const j = await res.json();
    if (j && j.error) {
      code = String(j.error.code || "");
      message = String(j.error.message || "");
      requestId = String(j.error.request_id || "");
    }
  } catch (_) { /* not JSON: the status says enough */ }
  let retryAfter = null;
  const ra = res.headers.get("Retry-After");
  if (ra) {
    if (/^\d+$/.test(ra.trim())) retryAfter = Number(ra.trim());
    else {
      const t = Date.parse(ra);
      if (!Number.isNaN(t)) retryAfter = Math.max(0, Math.ceil((t - Date.now()) / 1000));
    }
  }
  return { status: res.status, code, message, requestId, retryAfter };
}

const isEventStream = (res) => (res.headers.get("Content-Type") || "").startsWith("text/event-stream");

/**
 * A chat request. Callbacks (all optional):
 *   onEvent(type, data)  each event once, in order; data is the parsed JSON object
 *   onResume(attempt)    a resume is about to be tried
 *   onEnd(result)        once: {state: "done"} (`done` arrived; a stop shows as canceled
 *                        errors before it) | {state: "stopped"} (ended here without `done`) |
 *                        {state: "failed", kind: "http"|"network"|"lost"|"gone", status, code,
 *                         message, retryAfter}
 */
export class ChatStream {
  constructor({ message, uiLang, sessionId }, callbacks) {
    this.body = { message, ui_lang: uiLang };
    if (sessionId) this.body.session_id = sessionId;
    this.cb = callbacks || {};
    this.requestId = null;
    this.lastId = null;
    this.finished = false; // `done` was received
    this.stopRequested = false;
    this.stopLocal = false; // give up on the server and end here
    this.ended = false;
    this.progress = 0;
    this.ctrl = null;
    this.resumes = 0;
  }

  /** Runs the request to its end; resolves when onEnd has been called. */
  async run() {
    let res;
    this.ctrl = new AbortController();
    try {
      res = await fetch("/api/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "text/event-stream" },
        body: JSON.stringify(this.body),
        cache: "no-store",
        signal: this.ctrl.signal,
      });
    } catch (_) {
      return this.end(this.stopRequested ? { state: "stopped" } : { state: "failed", kind: "network" });
    }
    if (!res.ok || !isEventStream(res)) {
      const e = await readApiError(res);
      return this.end({ state: "failed", kind: "http", ...e });
    }
    await this.consume(res);

    let attempt = 0;
    while (!this.finished) {
      if (this.stopLocal || (this.stopRequested && !this.requestId)) return this.end({ state: "stopped" });
      // Dropped before meta: there is no request id to resume.
      if (!this.requestId) return this.end({ state: "failed", kind: "network" });
      if (attempt >= RESUME_ATTEMPTS) return this.end({ state: "failed", kind: "lost" });
      const wait = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
      this.ctrl = new AbortController();
      await sleep(wait / 2 + Math.random() * wait / 2, this.ctrl.signal);
      if (this.stopLocal) return this.end({ state: "stopped" });
      attempt++;
      this.resumes++;
      if (this.cb.onResume) this.cb.onResume(attempt);
      const headers = { "Accept": "text/event-stream" };
      if (this.lastId) headers["Last-Event-ID"] = this.lastId;
      try {
        res = await fetch(`/api/chat/${encodeURIComponent(this.requestId)}/events`, {
          headers, cache: "no-store", signal: this.ctrl.signal,
        });
      } catch (_) {
        continue;
      }
      if (res.status === 404) return this.end({ state: "failed", kind: "gone", status: 404 });
      if (!res.ok || !isEventStream(res)) {
        if (res.status >= 500 || res.status === 429) continue;
        const e = await readApiError(res);
        return this.end({ state: "failed", kind: "http", ...e });
      }
      const before = this.progress;
      await this.consume(res);
      if (this.progress > before) attempt = 0;
    }
    return this.end({ state: "done" });
  }

  /** Reads one response body to its end (or until `done`, a drop or an abort). */
  async consume(res) {
    const parser = new SSEParser((ev) => this.dispatch(ev));
    const reader = res.body.getReader();
    const dec = new TextDecoder("utf-8");
    const ctrl = this.ctrl;
    let idle = 0;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => ctrl.abort(), IDLE_MS);
    };
    try {
      for (;;) {
        arm();
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(dec.decode(value, { stream: true }));
        if (this.finished) break;
      }
      if (!this.finished) parser.feed(dec.decode());
    } catch (_) {
      // A dropped connection or our own abort: the caller decides what follows.
    } finally {
      clearTimeout(idle);
      parser.reset(); // an event cut in half is never passed on
      if (this.finished) reader.cancel().catch(() => {});
    }
  }

  dispatch(ev) {
    if (this.finished) return;
    if (ev.id !== null && ev.id !== "") {
      // Replays start after Last-Event-ID; anything not newer was already shown.
      if (this.lastId !== null && compareEventIds(ev.id, this.lastId) <= 0) return;
      this.lastId = ev.id;
    }
    let data;
    try {
      data = ev.data === "" ? {} : JSON.parse(ev.data);
    } catch (_) {
      return; // not ours
    }
    if (data === null || typeof data !== "object") data = {};
    if (ev.type === "meta" && typeof data.request_id === "string") this.requestId = data.request_id;
    if (ev.type === "done") this.finished = true;
    this.progress++;
    if (this.cb.onEvent) this.cb.onEvent(ev.type, data);
  }

  /** Stop: ask the server to cancel (its stream then ends with error canceled + done); end here
   *  if it does not within STOP_GRACE_MS, or at once when there is no request id yet. */
  stop() {
    if (this.ended || this.stopRequested) return;
    this.stopRequested = true;
    if (!this.requestId) {
      this.stopLocal = true;
      if (this.ctrl) this.ctrl.abort();
      return;
    }
    fetch(`/api/chat/${encodeURIComponent(this.requestId)}/cancel`, { method: "POST", cache: "no-store" })
      .catch(() => {});
    this.stopTimer = setTimeout(() => {
      if (this.ended) return;
      this.stopLocal = true;
      if (this.ctrl) this.ctrl.abort();
    }, STOP_GRACE_MS);
  }

  end(result) {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.stopTimer);
    if (this.ctrl) this.ctrl.abort();
    if (this.cb.onEnd) this.cb.onEnd(result);
  }
}
