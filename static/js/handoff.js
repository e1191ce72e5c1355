// handoff.js — "talk to a person" under an answer (POST /api/chat/<request>/handoff, API.md).
//
// Offered after the no-documents apology and after a 👎. The button opens an optional note and
// contact; sending queues the conversation for the support team (the server answers 202 with a
// handoff id; a worker delivers it). States, each said in words: sending, accepted (with the
// handoff id the player can quote), not available (503: this site has no handoff configured,
// or cannot take one now) and failed (any other answer or no answer, with a retry). The page's
// session id goes along, so the server attaches the conversation's turns.

import { setText } from "./i18n.js";
import { postJSON } from "./api.js";
import { h } from "./dom.js";

export const NOTE_MAX = 2000;
export const CONTACT_MAX = 200;

let seq = 0;

export class Handoff {
  /** @param opts {requestId, sessionId: string} */
  constructor(opts) {
    this.requestId = opts.requestId;
    this.sessionId = opts.sessionId;
    this.busy = false;
    const n = ++seq;
    const formId = `ho-form-${n}`;
    this.openBtn = h("button", { type: "button", class: "ho-open", i18n: "ho_open",
      "aria-expanded": "false", "aria-controls": formId });
    this.note = h("textarea", { id: `ho-note-${n}`, rows: "2", maxlength: String(NOTE_MAX) });
    this.contact = h("input", { id: `ho-contact-${n}`, type: "text", maxlength: String(CONTACT_MAX),
      autocomplete: "email", inputmode: "email" });
    this.sendBtn = h("button", { type: "submit", class: "ho-send", i18n: "ho_send" });
    this.cancelBtn = h("button", { type: "button", class: "ho-cancel ghost", i18n: "ho_cancel" });
    this.form = h("form", { class: "ho-form", id: formId, hidden: true },
      h("p", { class: "ho-intro", i18n: "ho_intro" }),
      h("label", { for: this.note.id, i18n: "ho_note" }), this.note,
      h("label", { for: this.contact.id, i18n: "ho_contact" }), this.contact,
      h("div", { class: "ho-form-row" }, this.sendBtn, this.cancelBtn));
    // Focusable by script only: where focus goes when the form it was in closes.
    this.status = h("p", { class: "ho-status", role: "status", "aria-live": "polite", tabindex: "-1" });
    this.retryBtn = h("button", { type: "button", class: "ho-retry", i18n: "retry", hidden: true });
    this.el = h("div", { class: "handoff", "data-state": "offer" },
      this.openBtn, this.form, h("div", { class: "ho-result" }, this.status, this.retryBtn));

    this.openBtn.addEventListener("click", () => this.toggle());
    this.cancelBtn.addEventListener("click", () => {
      this.toggle(false);
      this.openBtn.focus();
    });
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.send();
    });
    this.retryBtn.addEventListener("click", () => this.send());
  }

  toggle(open = this.form.hidden) {
    if (this.busy || this.el.dataset.state === "accepted") return;
    this.form.hidden = !open;
    this.openBtn.setAttribute("aria-expanded", String(open));
    if (this.el.dataset.state === "offer" || this.el.dataset.state === "open") this.el.dataset.state = open ? "open" : "offer";
  }

  setState(state, key, args) {
    this.el.dataset.state = state;
    if (key) setText(this.status, key, args);
    else {
      delete this.status.dataset.i18n;
      this.status.textContent = "";
    }
    this.retryBtn.hidden = state !== "failed";
  }

  async send() {
    if (this.busy) return;
    this.busy = true;
    const body = { session_id: this.sessionId };
    const note = this.note.value.trim(), contact = this.contact.value.trim();
    if (note) body.note = note;
    if (contact) body.contact = contact;
    this.setState("sending", "ho_sending");
    const res = await postJSON(`/api/chat/${encodeURIComponent(this.requestId)}/handoff`, body);
    this.busy = false;
    const hadFocus = this.el.contains(document.activeElement);
    if (res.ok && res.json && typeof res.json.handoff_id === "string") {
      this.setState("accepted", "ho_accepted", { id: res.json.handoff_id });
      this.el.dataset.handoffId = res.json.handoff_id;
      this.form.hidden = true;
      this.openBtn.hidden = true;
    } else if (res.status === 503) {
      this.setState("unavailable", "ho_unavailable");
      this.form.hidden = true;
      this.openBtn.hidden = true;
    } else if (res.status === 0) {
      this.setState("failed", "ho_failedNetwork");
    } else if (res.message) {
      this.setState("failed", "ho_failed", { msg: res.message });
    } else {
      this.setState("failed", "ho_failedStatus", { status: res.status });
    }
    // A keyboard user whose button or form just went away stays here, on the outcome.
    if (hadFocus && (!document.activeElement || document.activeElement === document.body ||
        this.form.hidden && this.form.contains(document.activeElement))) this.status.focus();
  }
}
