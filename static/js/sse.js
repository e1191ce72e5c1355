// sse.js — a server-sent events parser for fetch() bodies (POST cannot use EventSource).
//
// Follows the WHATWG "interpret an event stream" rules: lines end with \r\n, \n or \r (a \r at
// the end of one chunk and a \n at the start of the next are one line end); "field: value" with
// one optional space after the colon; lines starting with ":" are comments; data lines join
// with "\n"; a blank line dispatches. Unlike the spec, each event carries the id given in its
// own block (or null), so the caller can tell new events from replayed ones; an incomplete
// event left when the connection drops is never dispatched.

export class SSEParser {
  /** @param {(ev: {type: string, data: string, id: string|null, retry: number|null}) => void} onEvent */
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buf = "";
    this.sawCR = false;
    this.resetBlock();
  }

  resetBlock() {
    this.type = "";
    this.data = [];
    this.hasData = false;
    this.id = null;
    this.retry = null;
  }

  /** Feeds decoded text; dispatches every event completed by it. */
  feed(text) {
    if (!text) return;
    let s = text;
    if (this.sawCR) {
      // "\r" ended the previous chunk: a "\n" here belongs to the same line end.
      if (s[0] === "\n") s = s.slice(1);
      this.sawCR = false;
    }
    this.buf += s;
    let start = 0;
    for (;;) {
      let i = start;
      const n = this.buf.length;
      while (i < n && this.buf[i] !== "\n" && this.buf[i] !== "\r") i++;
      if (i >= n) break;
      const line = this.buf.slice(start, i);
      if (this.buf[i] === "\r") {
        if (i + 1 < n) {
          start = this.buf[i + 1] === "\n" ? i + 2 : i + 1;
        } else {
          this.sawCR = true;
          start = i + 1;
        }
      } else {
        start = i + 1;
      }
      this.line(line);
    }
    this.buf = this.buf.slice(start);
  }

  line(line) {
    if (line === "") {
      this.dispatch();
      return;
    }
    if (line[0] === ":") return; // comment (": ping")
    const c = line.indexOf(":");
    let field = line, value = "";
    if (c >= 0) {
      field = line.slice(0, c);
      value = line.slice(c + 1);
      if (value[0] === " ") value = value.slice(1);
    }
    switch (field) {
      case "event": this.type = value; break;
      case "data": this.data.push(value); this.hasData = true; break;
      case "id": if (!value.includes("\0")) this.id = value; break;
      case "retry": if (/^\d+$/.test(value)) this.retry = Number(value); break;
      default: break; // unknown fields are ignored
    }
  }

  dispatch() {
    const ev = { type: this.type || "message", data: this.data.join("\n"), id: this.id, retry: this.retry };
    const had = this.hasData;
    this.resetBlock();
    if (had) this.onEvent(ev);
  }

  /** The connection ended: whatever is buffered is an incomplete event and is dropped. */
  reset() {
    this.buf = "";
    this.sawCR = false;
    this.resetBlock();
  }
}

/** Compares two event ids ("<ms>-<seq>", Redis stream ids); -1, 0 or 1. Unknown shapes compare
 *  as strings, so the caller still never goes backwards. */
export function compareEventIds(a, b) {
  const pa = /^(\d+)-(\d+)$/.exec(a), pb = /^(\d+)-(\d+)$/.exec(b);
  if (pa && pb) {
    const ma = BigInt(pa[1]), mb = BigInt(pb[1]);
    if (ma !== mb) return ma < mb ? -1 : 1;
    const sa = BigInt(pa[2]), sb = BigInt(pb[2]);
    return sa === sb ? 0 : sa < sb ? -1 : 1;
  }
  return a === b ? 0 : a < b ? -1 : 1;
}
