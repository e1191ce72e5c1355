// dom.js — h(tag, props, ...children): one element built from its properties (class, i18n: a
// string key set with setText, text: textContent, dataset, anything else an attribute; true
// is an empty attribute, false/null/undefined none) and its children (elements or strings,
// appended as text). Player text only ever enters through text or a child string.

import { setText } from "./i18n.js";

export function h(tag, props, ...children) {
  const e = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "i18n") setText(e, v);
      else if (k === "text") e.textContent = v;
      else if (k === "dataset") Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? "" : v);
    }
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
