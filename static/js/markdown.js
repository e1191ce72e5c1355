// markdown.js — the small Markdown subset the models write, built as DOM nodes.
//
// Blocks: headings (# … ######), unordered (- * +) and ordered (1. 1)) lists with nesting by
// indentation, fenced code (```), block quotes (>), rules (---), paragraphs (single newlines
// kept as line breaks). Inline: `code`, **bold**, *emphasis*, and bare http(s) URLs as links.
// Every piece of text goes in through text nodes: nothing from the model or the knowledge base
// is ever parsed as HTML, so "<script>" or "<img onerror=…>" shows as the characters it is.
// Input may be cut anywhere (it is re-rendered as it streams): an open fence or an unclosed
// ** renders as what has arrived.

const HEADING_OFFSET = 3; // "# x" inside an answer is an <h4>: the page owns h1–h3

/** Renders `src`; returns {fragment, tail}: tail is the element the last text went into (where
 *  a typing cursor belongs), or null when there is none. */
export function renderMarkdown(src, doc = document) {
  const r = new Renderer(doc);
  r.run(String(src).replace(/\r\n?/g, "\n"));
  return { fragment: r.frag, tail: r.tail };
}

/** A link's href when `url` is http or https, else null (javascript:, data:… are never links). */
export function safeHref(url) {
  try {
    const u = new URL(url, document.baseURI);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch (_) {
    return null;
  }
}

class Renderer {
  constructor(doc) {
    this.doc = doc;
    this.frag = doc.createDocumentFragment();
    this.tail = null;
    this.para = null;    // the open <p>
    this.lists = [];     // open lists: {indent, el, ordered, li}
    this.listBlank = false; // a blank line came after the last item
    this.quote = null;   // the open <blockquote>
  }

  el(tag, parent) {
    const e = this.doc.createElement(tag);
    parent.appendChild(e);
    return e;
  }

  container() {
    return this.quote || this.frag;
  }

  closePara() { this.para = null; }

  closeLists() {
    this.lists = [];
    this.listBlank = false;
  }

  closeAll() {
    this.closePara();
    this.closeLists();
    this.quote = null;
  }

  run(src) {
    const lines = src.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const fence = /^ {0,3}(```+|~~~+)\s*([\w+-]*)\s*$/.exec(line);
      if (fence) {
        i = this.code(lines, i + 1, fence[1], fence[2]);
        continue;
      }
      this.line(line);
    }
  }

  /** A fenced block from line `i` to its closing fence (or the end); returns the last line used. */
  code(lines, i, marker, lang) {
    this.closeAll();
    const pre = this.el("pre", this.frag);
    const code = this.el("code", pre);
    if (lang) code.dataset.lang = lang;
    const body = [];
    const close = new RegExp("^ {0,3}" + marker[0].replace(/[~`]/, "\\$&") + "{" + marker.length + ",}\\s*$");
    for (; i < lines.length; i++) {
      if (close.test(lines[i])) break;
      body.push(lines[i]);
    }
    code.appendChild(this.doc.createTextNode(body.join("\n")));
    this.tail = code;
    return i;
  }

  line(raw) {
    if (/^\s*$/.test(raw)) {
      this.closePara();
      // A blank line inside a list keeps the list open (loose lists); the next non-item ends it.
      if (this.lists.length) this.listBlank = true;
      else this.quote = null;
      return;
    }
    let line = raw;
    const q = /^ {0,3}> ?(.*)$/.exec(line);
    if (q) {
      if (!this.quote) {
        this.closePara();
        this.closeLists();
        this.quote = this.el("blockquote", this.frag);
      }
      line = q[1];
      if (/^\s*$/.test(line)) { this.closePara(); return; }
    } else if (this.quote && !this.para) {
      this.quote = null;
    }

    const h = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      this.closePara();
      this.closeLists();
      const level = Math.min(6, h[1].length + HEADING_OFFSET);
      const e = this.el("h" + level, this.container());
      this.inline(h[2], e);
      return;
    }
    if (/^ {0,3}([-*_])( *\1){2,}\s*$/.test(line)) {
      this.closePara();
      this.closeLists();
      this.el("hr", this.container());
      return;
    }
    const item = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/.exec(line);
    if (item) {
      this.listItem(item[1].replace(/\t/g, "    ").length, item[2], item[3]);
      return;
    }
    const indent = /^\s*/.exec(line)[0].replace(/\t/g, "    ").length;
    if (this.lists.length) {
      const top = this.lists[this.lists.length - 1];
      if (indent > top.indent && top.li) {
        // An indented line under an item continues it.
        if (this.listBlank) {
          this.para = this.el("p", top.li);
          this.inline(line.trim(), this.para);
        } else {
          this.el("br", top.li);
          this.inline(line.trim(), top.li);
        }
        this.listBlank = false;
        return;
      }
      if (!this.listBlank) {
        // A lazy continuation line of the item.
        this.el("br", top.li);
        this.inline(line.trim(), top.li);
        return;
      }
      this.closeLists();
    }
    if (this.para) {
      this.el("br", this.para);
    } else {
      this.para = this.el("p", this.container());
    }
    this.inline(line.trim(), this.para);
  }

  listItem(indent, marker, text) {
    this.closePara();
    const ordered = /\d/.test(marker);
    // Close lists nested deeper than this item.
    while (this.lists.length && this.lists[this.lists.length - 1].indent > indent) this.lists.pop();
    let top = this.lists[this.lists.length - 1];
    if (top && top.indent === indent && top.ordered !== ordered) {
      this.lists.pop();
      top = this.lists[this.lists.length - 1];
    }
    if (!top || top.indent < indent) {
      const parent = top && top.li ? top.li : this.container();
      const el = this.el(ordered ? "ol" : "ul", parent);
      if (ordered) {
        const start = parseInt(marker, 10);
        if (start !== 1) el.start = start;
      }
      top = { indent, el, ordered, li: null };
      this.lists.push(top);
    }
    this.listBlank = false;
    top.li = this.el("li", top.el);
    this.inline(text, top.li);
  }

  /** Inline spans of `text`, appended to `parent`. */
  inline(text, parent) {
    this.tail = parent;
    appendInline(this.doc, text, parent);
  }
}

const URL_RE = /https?:\/\/[^\s<>"'`]*[^\s<>"'`.,;:!?)\]}]/y;

function appendInline(doc, text, parent) {
  let plain = "";
  const flush = () => {
    if (plain) parent.appendChild(doc.createTextNode(plain));
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "`") {
      let n = 1;
      while (text[i + n] === "`") n++;
      const fence = "`".repeat(n);
      const end = text.indexOf(fence, i + n);
      if (end > i) {
        flush();
        const code = doc.createElement("code");
        code.textContent = text.slice(i + n, end).replace(/^ (.*) $/, "$1");
        parent.appendChild(code);
        i = end + n;
        continue;
      }
      plain += fence;
      i += n;
      continue;
    }
    if ((c === "*" || c === "_") && text[i + 1] === c) {
      const end = text.indexOf(c + c, i + 2);
      if (end > i + 2 && text[i + 2] !== " " && text[end - 1] !== " ") {
        flush();
        const strong = doc.createElement("strong");
        appendInline(doc, text.slice(i + 2, end), strong);
        parent.appendChild(strong);
        i = end + 2;
        continue;
      }
    } else if (c === "*" && text[i + 1] && text[i + 1] !== " " && text[i + 1] !== "*") {
      const end = text.indexOf("*", i + 1);
      if (end > i + 1 && text[end - 1] !== " " && text[end + 1] !== "*") {
        flush();
        const em = doc.createElement("em");
        appendInline(doc, text.slice(i + 1, end), em);
        parent.appendChild(em);
        i = end + 1;
        continue;
      }
    } else if (c === "h" && (i === 0 || /[\s(（「"'[]/.test(text[i - 1]))) {
      URL_RE.lastIndex = i;
      const m = URL_RE.exec(text);
      const href = m && safeHref(m[0]);
      if (href) {
        flush();
        const a = doc.createElement("a");
        a.href = href;
        a.rel = "noopener noreferrer nofollow";
        a.target = "_blank";
        a.textContent = m[0];
        parent.appendChild(a);
        i += m[0].length;
        continue;
      }
    }
    plain += c;
    i++;
  }
  flush();
}
