// A bot or user text as DOM nodes: paragraphs, "- " lists, links. Never innerHTML: every piece
// of text is a text node, links are built element by element and only for http(s) URLs.

// Direction marks the server puts around left-to-right runs in Arabic and Persian texts.
const MARKS = /[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const URL_RE = /https?:\/\/[^\s<>"'`\u200e\u200f\u202a-\u202e\u2066-\u2069]+/g;
const TRAILING = /[.,;:!?»”’'"]$/;
const BULLET = /^\s*[-•]\s+/;
const DATE = /\d{4}-\d{2}-\d{2}/;

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

function safeHref(candidate) {
  try {
    const url = new URL(candidate);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch (_) {
    return null;
  }
}

// Text with its URLs as links; `newTab` is the screen-reader hint for target=_blank.
export function appendInline(parent, text, newTab) {
  let last = 0;
  const re = new RegExp(URL_RE.source, "g");
  let match;
  while ((match = re.exec(text)) !== null) {
    let url = match[0];
    while (TRAILING.test(url) || (url.endsWith(")") && !url.includes("("))) url = url.slice(0, -1);
    const href = safeHref(url);
    if (!href) continue;
    if (match.index > last) parent.append(document.createTextNode(text.slice(last, match.index)));
    const link = el("a");
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.dir = "ltr"; // a URL reads left to right, isolated, also inside Arabic or Persian text
    link.textContent = url;
    const hint = el("span", "rw-sr");
    hint.textContent = ` ${newTab}`;
    link.append(hint);
    parent.append(link);
    last = match.index + url.length;
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

// "Källa: … (2026-11-22) https://… Kontrollerad 2026-11-22." in any language: a short label
// with a colon, a link and a date.
export function isSourceLine(paragraph) {
  const plain = paragraph.replace(MARKS, "").trim();
  return /^[^\n:：]{1,40}[:：]/.test(plain) && /https?:\/\//.test(plain) && DATE.test(plain);
}

// Splits an answer into its body and its source paragraph (the last one, if it is one).
export function splitSource(text) {
  const paragraphs = String(text || "")
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter(Boolean);
  if (paragraphs.length > 1 && isSourceLine(paragraphs[paragraphs.length - 1])) {
    return { body: paragraphs.slice(0, -1), source: paragraphs[paragraphs.length - 1] };
  }
  return { body: paragraphs, source: null };
}

function appendParagraph(parent, paragraph, newTab) {
  let list = null;
  let para = null;
  for (const line of paragraph.split("\n")) {
    if (BULLET.test(line)) {
      para = null;
      if (!list) parent.append((list = el("ul")));
      const item = el("li");
      appendInline(item, line.replace(BULLET, ""), newTab);
      list.append(item);
    } else {
      list = null;
      if (para) para.append(el("br"));
      else parent.append((para = el("p")));
      appendInline(para, line, newTab);
    }
  }
}

// The nodes of a message text; the source paragraph goes into its own, distinct block.
export function renderText(container, text, { newTab, sourceLabel }) {
  const { body, source } = splitSource(text);
  for (const paragraph of body) appendParagraph(container, paragraph, newTab);
  if (source) {
    const block = el("p", "rw-source");
    const label = el("span", "rw-sr");
    label.textContent = `${sourceLabel}: `;
    block.append(label);
    appendInline(block, source, newTab);
    container.append(block);
  }
}
