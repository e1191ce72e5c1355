// feedback.js — 👍 / 👎 under a finished answer (POST /api/chat/<request>/feedback, API.md).
//
// One row per request: the API keeps one rating per request, so the row rates the whole answer
// group the player saw for that question (Micro's overview and Pro's analysis; in English mode
// the staff's Korean answer and the customer's English one too). 👍 is sent at once; 👎 opens
// the reason choices and an optional comment (≤ 1,000 characters, counted), sent with its own
// button. The player can change the rating at any time: the server keeps every one and the
// last one wins. After the server took a rating, `nova:feedback` (detail: requestId, rating,
// reason) is dispatched on the answer element. The player's words only reach the DOM as the
// textarea's own value; the server's refusal is shown as text.

import { setText } from "./i18n.js";
import { postJSON } from "./api.js";
import { h } from "./dom.js";

export const REASONS = ["wrong", "outdated", "unclear", "offensive", "other"];
export const COMMENT_MAX = 1000;

let seq = 0;

/** A button whose accessible name is its words (the emoji beside them is hidden from it). */
function rateButton(cls, emoji, key) {
  return h("button", { type: "button", class: "fb-rate " + cls, "aria-pressed": "false" },
    h("span", { class: "fb-emoji", "aria-hidden": "true", text: emoji }), " ",
    h("span", { class: "fb-word", i18n: key }));
}

export class Feedback {
  /**
   * @param opts {requestId, target: the answer element (gets the nova:feedback event),
   *              onDown(): the player chose 👎 (the page offers a person then)}
   */
  constructor(opts) {
    this.requestId = opts.requestId;
    this.target = opts.target;
    this.onDown = opts.onDown || (() => {});
    this.choice = null;   // what the buttons show as pressed: "up", "down" or null
    this.busy = false;
    this.lastBody = null; // what a retry sends again
    const n = ++seq;

    const qId = `fb-q-${n}`, formId = `fb-form-${n}`, countId = `fb-count-${n}`;
    this.up = rateButton("fb-up", "👍", "fb_up");
    this.down = rateButton("fb-down", "👎", "fb_down");
    this.down.setAttribute("aria-controls", formId);
    this.status = h("p", { class: "fb-status", role: "status", "aria-live": "polite" });
    this.retryBtn = h("button", { type: "button", class: "fb-retry", i18n: "retry", hidden: true });

    const reasons = h("fieldset", { class: "fb-reasons" }, h("legend", { i18n: "fb_reasonTitle" }));
    this.radios = REASONS.map((r) => {
      const id = `fb-${n}-${r}`;
      const input = h("input", { type: "radio", name: `fb-reason-${n}`, value: r, id });
      reasons.append(h("span", { class: "fb-reason" }, input, h("label", { for: id, i18n: "fb_reason_" + r })));
      return input;
    });
    this.comment = h("textarea", { id: `fb-comment-${n}`, rows: "2", maxlength: String(COMMENT_MAX),
      "aria-describedby": countId });
    this.count = h("span", { class: "fb-count", id: countId });
    this.sendBtn = h("button", { type: "submit", class: "fb-send", i18n: "fb_send" });
    this.form = h("form", { class: "fb-form", id: formId, hidden: true },
      reasons,
      h("label", { class: "fb-comment-label", for: this.comment.id, i18n: "fb_comment" }),
      this.comment,
      h("div", { class: "fb-form-row" }, this.count, this.sendBtn));
    this.el = h("div", { class: "feedback", role: "group", "aria-labelledby": qId, "data-state": "idle" },
      h("div", { class: "fb-row" },
        h("span", { class: "fb-question", id: qId, i18n: "fb_question" }), this.up, this.down),
      this.form,
      h("div", { class: "fb-result" }, this.status, this.retryBtn));
    this.updateCount();

    this.up.addEventListener("click", () => this.chooseUp());
    this.down.addEventListener("click", () => this.chooseDown());
    this.comment.addEventListener("input", () => this.updateCount());
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.sendDown();
    });
    this.retryBtn.addEventListener("click", () => {
      if (this.lastBody) this.send(this.lastBody);
    });
  }

  updateCount() {
    setText(this.count, "fb_count", { n: this.comment.value.length.toLocaleString("en-US"),
      max: COMMENT_MAX.toLocaleString("en-US") });
  }

  press(choice) {
    this.choice = choice;
    this.up.setAttribute("aria-pressed", String(choice === "up"));
    this.down.setAttribute("aria-pressed", String(choice === "down"));
    this.el.dataset.choice = choice || "";
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

  chooseUp() {
    if (this.busy) return;
    this.form.hidden = true;
    this.press("up");
    this.send({ rating: "up" });
  }

  /** 👎 opens (or, pressed again, closes) the reasons; nothing is sent before its button. */
  chooseDown() {
    if (this.busy) return;
    if (this.choice === "down" && !this.form.hidden) {
      this.form.hidden = true;
      return;
    }
    this.press("down");
    this.form.hidden = false;
    this.setState("choosing", "fb_chooseReason");
    this.onDown();
  }

  sendDown() {
    if (this.busy) return;
    const body = { rating: "down" };
    const r = this.radios.find((x) => x.checked);
    if (r) body.reason = r.value;
    const c = this.comment.value.trim();
    if (c) body.comment = c;
    this.send(body);
  }

  async send(body) {
    this.busy = true;
    this.lastBody = body;
    this.setState("sending", "fb_sending");
    const res = await postJSON(`/api/chat/${encodeURIComponent(this.requestId)}/feedback`, body);
    this.busy = false;
    if (!res.ok) {
      if (res.status === 0) this.setState("failed", "fb_failedNetwork");
      else if (res.message) this.setState("failed", "fb_failed", { msg: res.message });
      else this.setState("failed", "fb_failedStatus", { status: res.status });
      return;
    }
    this.setState("sent", body.rating === "up" ? "fb_sentUp" : "fb_sentDown");
    if (body.rating === "down" && !this.form.hidden) {
      const inForm = this.form.contains(document.activeElement);
      this.form.hidden = true;
      if (inForm) this.down.focus(); // keyboard users keep their place
    }
    this.target.dispatchEvent(new CustomEvent("nova:feedback", {
      bubbles: true,
      detail: { requestId: this.requestId, rating: body.rating, reason: body.reason || null },
    }));
  }
}
