// markdown.js — the model's Markdown (CommonMark + GFM tables and strikethrough) as DOM nodes.
//
// Parsing is markdown-it's (static/vendor/markdown-it.min.js, pinned by
// tools/page-vendor/package-lock.json; scripts/vendor-page). Its HTML renderer is not used: this
// file walks markdown-it's token stream and builds elements itself, from a fixed list of tags,
// and every piece of text goes in through text nodes. Raw HTML is off (html: false), so
// "<script>" or "<img onerror=…>" shows as the characters it is; links are made only for
// absolute http(s) URLs (validateLink), anything else (javascript:, data:, relative) stays text.
// Input may be cut anywhere (it is re-rendered as it streams): markdown-it renders a prefix as
// what has arrived (an open fence is a code block, an unclosed ** is text).

import "../vendor/markdown-it.min.js"; // UMD: defines globalThis.markdownit

const HEADING_OFFSET = 3; // "# x" inside an answer is an <h4>: the page owns h1–h3

const md = globalThis.markdownit({
  html: false,        // raw HTML is text
  linkify: true,      // bare http(s) URLs become links, as the models write them
  typographer: false, // the text stays the model's characters
  breaks: true,       // a single newline is a line break (the models write lines, not reflowed prose)
});
// Only URLs with a scheme: "support.example.com" or "a@b.c" stay text.
md.linkify.set({ fuzzyLink: false, fuzzyEmail: false, fuzzyIP: false });
md.validateLink = (url) => /^\s*https?:\/\//i.test(url) && safeHref(url.trim()) !== null;

/** A link's href when `url` is http or https, else null (javascript:, data:… are never links). */
export function safeHref(url) {
  try {
    const u = new URL(url, document.baseURI);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch (_) {
    return null;
  }
}

// Tags a token may open; anything else (none is expected with html: false) is ignored and its
// text kept.
const BLOCK_TAGS = new Set(["p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote",
  "table", "thead", "tbody", "tr", "th", "td", "em", "strong", "s", "a"]);

/** Renders `src`; returns {fragment, tail}: tail is the element the last text went into (where
 *  a typing cursor belongs), or null when there is none. */
export function renderMarkdown(src, doc = document) {
  const frag = doc.createDocumentFragment();
  const state = { doc, tail: null };
  walk(md.parse(String(src), {}), frag, state);
  return { fragment: frag, tail: state.tail };
}

/** The text of `src` without its Markdown markers (# headings, **, `, list bullets, table
 *  pipes): what a source excerpt shows. Blocks are separated by one space. */
export function markdownText(src) {
  const out = [];
  const add = (s) => { if (s) out.push(s); };
  const sep = () => { if (out.length && out[out.length - 1] !== " ") out.push(" "); };
  for (const t of md.parse(String(src), {})) {
    if (t.type === "inline") {
      for (const c of t.children || []) {
        if (c.type === "text" || c.type === "code_inline" || c.type === "html_inline") add(c.content);
        else if (c.type === "softbreak" || c.type === "hardbreak") sep();
        else if (c.type === "image") add(c.content);
      }
    } else if (t.type === "fence" || t.type === "code_block" || t.type === "html_block") {
      sep();
      add(t.content.trim());
      sep();
    } else if (t.nesting !== 0 || t.type === "hr") {
      sep();
    }
  }
  return out.join("").trim();
}

function tagFor(token) {
  const m = /^h([1-6])$/.exec(token.tag);
  return m ? "h" + Math.min(6, Number(m[1]) + HEADING_OFFSET) : token.tag;
}

function text(state, parent, s) {
  if (!s) return;
  parent.appendChild(state.doc.createTextNode(s));
  state.tail = parent;
}

/** Builds `tokens` (block tokens, or an inline token's children) under `root`. */
function walk(tokens, root, state) {
  const { doc } = state;
  const stack = [root];
  const top = () => stack[stack.length - 1];
  for (const t of tokens) {
    if (t.nesting === 1) {
      // A tight list's paragraphs are hidden: their text goes straight into the <li>.
      // A link whose URL is not http(s) after all (validateLink let none through) is its text.
      const href = t.tag === "a" ? safeHref(t.attrGet("href") || "") : null;
      if (t.hidden || !BLOCK_TAGS.has(t.tag) || (t.tag === "a" && !href)) { stack.push(top()); continue; }
      const e = doc.createElement(tagFor(t));
      if (t.tag === "ol") {
        const start = Number(t.attrGet("start"));
        if (Number.isInteger(start) && start !== 1) e.start = start;
      } else if (t.tag === "a") {
        e.href = href;
        e.rel = "noopener noreferrer nofollow";
        e.target = "_blank";
      } else if (t.tag === "th" || t.tag === "td") {
        // GFM column alignment, through the CSSOM (a style attribute would break the CSP).
        const a = /text-align:\s*(left|right|center)/.exec(t.attrGet("style") || "");
        if (a) e.style.textAlign = a[1];
      }
      if (t.tag === "table") {
        // A wide table scrolls on its own rather than widening the answer.
        const wrap = doc.createElement("div");
        wrap.className = "table-wrap";
        wrap.appendChild(e);
        top().appendChild(wrap);
      } else {
        top().appendChild(e);
      }
      stack.push(e);
      continue;
    }
    if (t.nesting === -1) {
      if (stack.length > 1) stack.pop();
      continue;
    }
    switch (t.type) {
      case "inline":
        walk(t.children || [], top(), state);
        break;
      case "text":
      case "html_inline": // only with html: true; kept as text all the same
        text(state, top(), t.content);
        break;
      case "html_block":
        text(state, top().appendChild(doc.createElement("p")), t.content);
        break;
      case "code_inline": {
        const c = top().appendChild(doc.createElement("code"));
        text(state, c, t.content);
        break;
      }
      case "fence":
      case "code_block": {
        const pre = top().appendChild(doc.createElement("pre"));
        const code = pre.appendChild(doc.createElement("code"));
        const lang = /^[\w+-]+/.exec((t.info || "").trim());
        if (lang) code.dataset.lang = lang[0];
        code.appendChild(doc.createTextNode(t.content.replace(/\n$/, "")));
        state.tail = code;
        break;
      }
      case "softbreak":
      case "hardbreak":
        top().appendChild(doc.createElement("br"));
        break;
      case "hr":
        top().appendChild(doc.createElement("hr"));
        break;
      case "image":
        // No images from model text: the alt text stands in for it.
        walk(t.children || [], top(), state);
        break;
      default:
        if (t.content) text(state, top(), t.content);
    }
  }
}
