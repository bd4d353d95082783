// The return-support assistant's chat widget. One script tag:
//
//   <script src="https://…/widget/widget.js" defer
//           data-server-url="https://assistant.example.org" data-lang="sv"
//           data-title="…" data-retention-days="30"></script>
//
// Optional: data-socket-path (/socket.io), data-leave-url (the neutral page "leave quickly"
// opens), data-open="true" (open at start), data-storage="session" (keep everything for this
// browser tab only, in sessionStorage: for shared computers in shelters and libraries; the
// default is localStorage). Talks socket.io to bot/channels/socketio.py:
// session_request {token | end} -> session_confirm {token, resumed}; user_uttered {message, id,
// metadata} with an acknowledgement {ok, text}; bot_uttered {text, buttons, metadata};
// history {messages, received}; session_ended {reason, text}.
//
// What is kept in the browser: the session token (an opaque handle, not the conversation's
// id), the language, whether the privacy note was read, and the conversation as the server
// stored it (the server's echo of each message, after redaction), never the text as typed:
// a message waiting to be sent lives in memory only. Everything is wiped by "Clear", "Leave
// quickly", when the server says the data was deleted or the session ended, and when nothing
// was written for the retention period.
import { io } from "socket.io-client";
import { appendInline, renderText } from "./format.js";

/* global __WIDGET_CSS__, __WIDGET_STRINGS__, __WIDGET_LANGUAGES__ */
const CSS = __WIDGET_CSS__;
const STRINGS = __WIDGET_STRINGS__;
const LANGUAGES = __WIDGET_LANGUAGES__;
const CODES = Object.keys(LANGUAGES);
const MAX_CHARS = 2000; // bot/channels/common.py MAX_MESSAGE_CHARS
const MAX_STORED = 200;
const ACK_TIMEOUT_MS = 30000;
const MAX_TRIES = 3;
// Console messages shown as signs: a counsellor took the conversation, the bot is back.
const SIGNS = ["counsellor_joined", "bot_back"];

const script = document.currentScript;

function readConfig(node) {
  const data = (node && node.dataset) || {};
  const scriptOrigin = node && node.src ? new URL(node.src, location.href).origin : location.origin;
  const days = parseInt(data.retentionDays || "30", 10);
  return {
    server: (data.serverUrl || scriptOrigin).replace(/\/+$/, ""),
    path: data.socketPath || "/socket.io",
    lang: data.lang || "sv",
    title: data.title || "",
    leaveUrl: data.leaveUrl || "https://www.google.com/",
    open: data.open === "true",
    days: Number.isFinite(days) && days > 0 ? days : 30,
    session: data.storage === "session",
  };
}

function normalise(tag) {
  if (!tag) return null;
  let code = String(tag).toLowerCase().replace("_", "-").split("-")[0];
  if (code === "prs") code = "fa"; // Dari
  return CODES.includes(code) ? code : null;
}

function seedLanguage(saved, fallback) {
  if (CODES.includes(saved)) return saved;
  for (const tag of navigator.languages || [navigator.language]) {
    const code = normalise(tag);
    if (code) return code;
  }
  return normalise(fallback) || "sv";
}

function removePrefixed(backend, prefix) {
  try {
    const keys = [];
    for (let i = 0; i < backend.length; i += 1) {
      const key = backend.key(i);
      if (key && key.startsWith(prefix)) keys.push(key);
    }
    keys.forEach((key) => backend.removeItem(key));
  } catch (_) {
    /* nothing stored */
  }
}

function storage(name) {
  try {
    const backend = window[name];
    backend.setItem("rw:probe", "1");
    backend.removeItem("rw:probe");
    return backend;
  } catch (_) {
    return null;
  }
}

// localStorage (or sessionStorage: data-storage="session") under one prefix; a memory map
// when storage is blocked. In session mode, what an earlier page kept in localStorage goes.
function makeStore(prefix, session) {
  const backend = storage(session ? "sessionStorage" : "localStorage");
  if (session) {
    const local = storage("localStorage");
    if (local) removePrefixed(local, prefix);
  }
  const memory = new Map();
  return {
    get(key, fallback) {
      try {
        const raw = backend ? backend.getItem(prefix + key) : memory.get(key);
        return raw == null ? fallback : JSON.parse(raw);
      } catch (_) {
        return fallback;
      }
    },
    set(key, value) {
      const raw = JSON.stringify(value);
      try {
        if (backend) backend.setItem(prefix + key, raw);
        else memory.set(key, raw);
      } catch (_) {
        memory.set(key, raw);
      }
    },
    remove(key) {
      memory.delete(key);
      try {
        if (backend) backend.removeItem(prefix + key);
      } catch (_) {
        /* nothing stored */
      }
    },
    wipe() {
      memory.clear();
      if (backend) removePrefixed(backend, prefix);
    },
  };
}

function newId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter(Boolean));
  return node;
}

function cleanButtons(raw) {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter((b) => b && typeof b.title === "string" && typeof b.payload === "string")
    .map((b) => ({ title: b.title, payload: b.payload }));
}

function cleanBotMessage(raw) {
  if (!raw || typeof raw !== "object") return null;
  const text = typeof raw.text === "string" ? raw.text : "";
  const buttons = cleanButtons(raw.buttons || raw.quick_replies);
  if (!text && !buttons.length) return null;
  const meta = raw.metadata && typeof raw.metadata === "object" ? raw.metadata : {};
  const metadata = {};
  if (meta.counsellor) metadata.counsellor = true;
  if (SIGNS.includes(meta.event)) metadata.event = meta.event;
  if (typeof meta.notice === "string") metadata.notice = meta.notice;
  return { sender: "bot", text, buttons, metadata };
}

function start() {
  const cfg = readConfig(script);
  const store = makeStore(`rw:${cfg.server}:`, cfg.session);
  const DAY_MS = 86400000;
  // nothing written for the retention period: what was kept goes (the server's copy and the
  // session are gone by then too)
  const until = store.get("until", null);
  if (typeof until === "number" && until < Date.now()) store.wipe();
  store.remove("queue"); // kept as typed by earlier versions of this widget
  const state = {
    lang: seedLanguage(store.get("lang"), cfg.lang),
    token: store.get("token", null),
    messages: store.get("messages", []).filter((m) => m && typeof m.text === "string"),
    queue: [], // messages waiting to be sent: in memory only, never stored as typed
    ending: null, // a token to end at the next connection ("Clear" while offline)
    sentToken: null,
    privacySeen: store.get("privacy", false),
    confirmed: false,
    attempt: 0,
    inflight: 0,
    retryTimer: null,
    lastAuthor: "bot",
  };
  const t = (key) => (STRINGS[state.lang] && STRINGS[state.lang][key]) || STRINGS.en[key] || key;

  // ---- the page: a shadow root keeps the host page's styles out and ours in ----
  const host = h("div", { class: "return-assistant-widget" });
  const shadow = host.attachShadow({ mode: "open" });
  if (window.CSSStyleSheet && "adoptedStyleSheets" in Document.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    shadow.append(h("style", { text: CSS }));
  }

  const launcher = h("button", {
    class: "rw-launcher", type: "button", "aria-controls": "rw-panel", "aria-expanded": "false",
  });
  const title = h("h2", { class: "rw-title", id: "rw-title" });
  const closeButton = h("button", { class: "rw-icon", type: "button", text: "×" });
  const leaveButton = h("button", { class: "rw-leave", type: "button" });
  const languageLabel = h("label", { class: "rw-language-label", for: "rw-language" });
  const languageSelect = h(
    "select",
    { class: "rw-language", id: "rw-language" },
    ...CODES.map((code) =>
      h("option", { value: code, lang: code, dir: LANGUAGES[code].dir, text: LANGUAGES[code].name }),
    ),
  );
  const clearButton = h("button", { class: "rw-clear", type: "button" });
  const status = h("p", { class: "rw-status", role: "status" });
  const privacyTitle = h("h3", { id: "rw-privacy-title" });
  const privacyText = h("p");
  const privacyOk = h("button", { class: "rw-primary", type: "button" });
  const privacy = h(
    "div",
    { class: "rw-privacy", role: "region", "aria-labelledby": "rw-privacy-title" },
    privacyTitle, privacyText, privacyOk,
  );
  const log = h("div", { class: "rw-log", role: "log", "aria-live": "polite", tabindex: "0" });
  const typingText = h("span", { class: "rw-typing-text" });
  const typing = h(
    "div",
    { class: "rw-typing", hidden: true },
    h("span", { class: "rw-dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")),
    typingText,
  );
  const inputLabel = h("label", { class: "rw-sr", for: "rw-input" });
  const input = h("textarea", { id: "rw-input", rows: "1", maxlength: String(MAX_CHARS) });
  const sendButton = h("button", { class: "rw-send", type: "submit" });
  const form = h("form", { class: "rw-form" }, inputLabel, input, sendButton);
  const panel = h(
    "section",
    { class: "rw-panel", id: "rw-panel", "aria-labelledby": "rw-title", hidden: true },
    h("header", { class: "rw-header" }, title, leaveButton, closeButton),
    h("div", { class: "rw-tools" }, languageLabel, languageSelect, clearButton),
    status,
    privacy,
    log,
    typing,
    form,
  );
  const pageRtl = getComputedStyle(document.documentElement).direction === "rtl";
  const root = h("div", { class: pageRtl ? "rw rw-page-rtl" : "rw" }, launcher, panel);
  shadow.append(root);
  document.body.append(host);

  // ---- words and direction ----
  function applyLanguage() {
    const { dir } = LANGUAGES[state.lang];
    root.lang = state.lang;
    root.dir = dir;
    title.textContent = cfg.title || t("title");
    launcher.textContent = t("open");
    closeButton.setAttribute("aria-label", t("close"));
    closeButton.title = t("close");
    leaveButton.textContent = t("leave");
    leaveButton.title = t("leave_hint");
    languageLabel.textContent = t("language");
    languageSelect.value = state.lang;
    clearButton.textContent = t("clear");
    privacyTitle.textContent = t("privacy_title");
    privacyText.textContent = t("privacy_text").replace("{days}", String(cfg.days));
    privacyOk.textContent = t("privacy_ok");
    log.setAttribute("aria-label", t("conversation"));
    typingText.textContent = t("typing");
    inputLabel.textContent = t("input_label");
    input.placeholder = t("placeholder");
    sendButton.textContent = t("send");
    privacy.hidden = state.privacySeen;
    setStatus(state.statusKey || "status_connecting");
  }

  function setStatus(key) {
    state.statusKey = key;
    status.textContent = t(key);
    status.className = `rw-status rw-${key}`;
  }

  // ---- messages ----
  // only what the server stored (its redacted echo, its replies): never a text as typed
  function persist() {
    state.messages = state.messages.slice(-MAX_STORED);
    store.set(
      "messages",
      state.messages.filter((m) => m.sender !== "user" || m.stored).map((m) => {
        const kept = { ...m };
        ["stored", "id", "display", "pending", "failed"].forEach((key) => delete kept[key]);
        return kept;
      }),
    );
    store.set("until", Date.now() + cfg.days * DAY_MS);
  }

  function notice(text) {
    return h("p", { class: "rw-notice", text });
  }

  function sign(text, kind) {
    return h("p", { class: `rw-sign rw-sign-${kind}`, dir: "auto", text });
  }

  function userStatus(msg) {
    if (msg.failed) return h("span", { class: "rw-state rw-failed", text: t("not_sent") });
    if (msg.pending) return h("span", { class: "rw-state", text: t("pending") });
    return null;
  }

  function messageNode(msg, latest) {
    if (msg.sender === "user") {
      const bubble = h("div", { class: "rw-msg rw-user", "data-id": msg.id || null, dir: "auto" });
      bubble.append(h("span", { class: "rw-sr", text: `${t("you")}: ` }));
      const body = h("p");
      appendInline(body, msg.text, t("new_tab"));
      bubble.append(body);
      const mark = userStatus(msg);
      if (mark) bubble.append(mark);
      return [bubble];
    }
    const nodes = [];
    const event = msg.metadata && msg.metadata.event;
    if (event) {
      // the console's own words, in the conversation's language
      state.lastAuthor = event === "counsellor_joined" ? "counsellor" : "bot";
      nodes.push(sign(msg.text || t(event), event));
      return nodes;
    }
    const author = msg.metadata && msg.metadata.counsellor ? "counsellor" : "bot";
    if (author !== state.lastAuthor) {
      nodes.push(sign(t(author === "counsellor" ? "counsellor_joined" : "bot_back"), author));
    }
    state.lastAuthor = author;
    const bubble = h("div", { class: `rw-msg rw-${author}`, dir: "auto" });
    if (author === "counsellor") {
      bubble.append(h("span", { class: "rw-author", text: t("counsellor") }));
    } else {
      bubble.append(h("span", { class: "rw-sr", text: `${t("assistant")}: ` }));
    }
    renderText(bubble, msg.text, { newTab: t("new_tab"), sourceLabel: t("source") });
    nodes.push(bubble);
    if (latest && msg.buttons && msg.buttons.length) {
      nodes.push(
        h(
          "div",
          { class: "rw-buttons", role: "group", "aria-label": t("suggestions") },
          ...msg.buttons.map((b) =>
            h("button", {
              type: "button", class: "rw-reply", dir: "auto", text: b.title,
              onclick: () => {
                send(b.payload, b.title);
                input.focus();
              },
            }),
          ),
        ),
      );
    }
    return nodes;
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function append(msg) {
    log.append(...messageNode(msg, true));
    scrollDown();
  }

  function renderAll() {
    log.setAttribute("aria-busy", "true");
    log.textContent = "";
    state.lastAuthor = "bot";
    let lastUser = -1;
    state.messages.forEach((m, i) => {
      if (m.sender === "user") lastUser = i;
    });
    state.messages.forEach((m, i) => log.append(...messageNode(m, i > lastUser)));
    log.removeAttribute("aria-busy");
    scrollDown();
  }

  function dropButtons() {
    log.querySelectorAll(".rw-buttons").forEach((node) => node.remove());
  }

  function titleOfPayload(text) {
    for (let i = state.messages.length - 1; i >= 0; i -= 1) {
      const found = (state.messages[i].buttons || []).find((b) => b.payload === text);
      if (found) return found.title;
    }
    return null;
  }

  function setTyping(on) {
    typing.hidden = !on;
    if (on) scrollDown();
  }

  // ---- sending: a queue in memory, one message in flight, each acknowledged ----
  function waitingMessage(item) {
    const msg = { sender: "user", text: item.display || item.text, id: item.id, pending: true };
    if (item.display) msg.display = true;
    return msg;
  }

  function send(text, display) {
    const item = { id: newId(), text: text.slice(0, MAX_CHARS), lang: state.lang, tries: 0 };
    if (display) item.display = display; // a button's title: not what the person typed
    state.queue.push(item);
    const msg = waitingMessage(item);
    state.messages.push(msg);
    dropButtons();
    append(msg);
    connect();
    pump();
  }

  // echo: the text as the server stored it (redacted), shown and kept instead of the typed one
  function markSent(id, failed, echo) {
    if (state.queue.length && state.queue[0].id === id) state.queue.shift();
    const msg = state.messages.find((m) => m.id === id);
    if (msg) {
      msg.pending = false;
      msg.failed = failed || undefined;
      if (!failed && typeof echo === "string" && echo) {
        if (!msg.display) msg.text = echo.startsWith("/") ? titleOfPayload(echo) || "" : echo;
        msg.stored = Boolean(msg.text);
      }
    }
    persist();
    const bubble = log.querySelector(`[data-id="${id}"]`);
    if (bubble && msg && msg.stored && !msg.display) {
      const body = bubble.querySelector("p");
      if (body) {
        body.textContent = "";
        appendInline(body, msg.text, t("new_tab"));
      }
    }
    const node = bubble && bubble.querySelector(".rw-state");
    if (node) {
      if (failed) node.replaceWith(userStatus(msg));
      else node.remove();
    }
  }

  function retryLater(ms) {
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(pump, ms);
  }

  function pump() {
    if (!state.confirmed || state.inflight || !state.queue.length) return;
    const item = state.queue[0];
    const attempt = (state.attempt += 1);
    state.inflight = attempt;
    setTyping(true);
    const payload = { message: item.text, id: item.id, metadata: { language: item.lang } };
    socket.timeout(ACK_TIMEOUT_MS).emit("user_uttered", payload, (err, ack) => {
      if (state.inflight !== attempt) return; // from before a reconnect
      state.inflight = 0;
      if (err || !ack) {
        setTyping(false);
        retryLater(2000);
        return;
      }
      if (ack.ok) {
        markSent(item.id, false, ack.text);
      } else if (ack.error === "session_ended") {
        // the server also sent session_ended: the message goes to the new conversation
        state.confirmed = false;
        return;
      } else if (ack.error === "rate_limited") {
        retryLater(Math.max(1, Number(ack.retry_after) || 2) * 1000);
        return;
      } else if (ack.error === "no_session") {
        state.confirmed = false;
        requestSession();
        return;
      } else if (ack.error === "unavailable" && (item.tries += 1) < MAX_TRIES) {
        setTyping(false);
        retryLater(3000 * item.tries);
        return;
      } else {
        markSent(item.id, true);
      }
      setTyping(state.queue.length > 0);
      pump();
    });
  }

  // ---- the connection ----
  // A random key sent with every request of the connection: a load balancer in front of
  // several servers keeps the connection with one of them (engine.io's long-polling needs
  // that) and spreads connections by it. Made per page load, never stored, tells nothing.
  const routeKey = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
  const socket = io(cfg.server, {
    path: cfg.path,
    autoConnect: false,
    reconnectionDelayMax: 10000,
    query: { r: routeKey },
  });

  function connect() {
    if (!socket.connected && !socket.active) socket.connect();
  }

  function requestSession() {
    if (state.ending) {
      // "Clear" while offline: the old session ends now, a new one begins
      socket.emit("session_request", { end: state.ending });
      state.ending = null;
      state.sentToken = null;
      return;
    }
    // another tab may have started a new session meanwhile: the stored token is the newest
    const stored = store.get("token", null);
    if (stored && stored !== state.token && !state.token) state.token = stored;
    state.sentToken = state.token;
    socket.emit("session_request", state.token ? { token: state.token } : {});
  }

  // messages written but not yet taken go to the new conversation (shown as waiting)
  function keepWaiting(waiting) {
    state.queue = waiting;
    state.messages = state.messages.concat(waiting.map(waitingMessage));
  }

  // forget what this browser kept of the conversation; the language and the note stay
  function forget(keepSettings) {
    const { privacySeen, lang } = state;
    store.wipe();
    state.token = null;
    state.messages = [];
    state.queue = [];
    state.inflight = 0;
    clearTimeout(state.retryTimer);
    if (keepSettings) {
      store.set("privacy", privacySeen);
      store.set("lang", lang);
    }
  }

  // the server ended this session: deleted ("delete my data"), or "Clear"/"Leave quickly" in
  // another tab of the same conversation, or it expired
  function sessionEnded(data) {
    const mine = state.token;
    const stored = store.get("token", null);
    const others = stored && stored !== mine ? stored : null; // another tab's new session
    // deleted: what was in flight is what asked for it, and nothing goes on; else the server
    // refused what was waiting, which goes to the new conversation
    const waitingBefore = data && data.reason === "deleted" ? [] : state.queue.slice();
    forget(true);
    if (others) {
      state.token = others;
      store.set("token", others);
    }
    keepWaiting(waitingBefore);
    renderAll();
    const text = data && typeof data.text === "string" && data.text ? data.text : t("session_over");
    log.append(notice(text));
    setTyping(false);
    state.confirmed = false;
    if (socket.connected) requestSession();
  }

  socket.on("connect", () => {
    setStatus("status_connecting");
    requestSession();
  });
  socket.on("disconnect", () => {
    state.confirmed = false;
    state.inflight = 0;
    setTyping(false);
    setStatus("status_offline");
  });
  socket.on("connect_error", () => setStatus("status_offline"));
  socket.on("history", (data) => {
    const received = new Set(Array.isArray(data && data.received) ? data.received : []);
    // what the server already has is in its history: not shown twice, not sent twice
    state.queue = state.queue.filter((item) => !received.has(item.id));
    const waiting = new Set(state.queue.map((item) => item.id));
    const local = state.messages.filter((m) => m.sender === "user" && waiting.has(m.id));
    const server = (Array.isArray(data && data.messages) ? data.messages : [])
      .map((m) =>
        m && m.sender === "user" && typeof m.text === "string"
          ? { sender: "user", text: m.text, stored: true }
          : cleanBotMessage(m),
      )
      .filter(Boolean);
    state.messages = server.concat(local);
    persist();
    renderAll();
  });
  socket.on("session_confirm", (data) => {
    if (!data || typeof data.token !== "string") return;
    if (state.sentToken && !data.resumed) {
      // the kept conversation is not resumed (expired, ended, deleted): its copy goes
      const waiting = state.queue.slice();
      forget(true);
      keepWaiting(waiting); // what the person just wrote goes to the new conversation
      renderAll();
      log.append(notice(t("session_over")));
    }
    state.sentToken = null;
    state.token = data.token;
    store.set("token", data.token);
    store.set("until", Date.now() + cfg.days * DAY_MS);
    state.confirmed = true;
    setStatus("status_online");
    pump();
  });
  socket.on("session_ended", (data) => sessionEnded(data));
  socket.on("session_unavailable", () => {
    setStatus("status_offline");
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(() => socket.connected && requestSession(), 5000);
  });
  socket.on("bot_uttered", (raw) => {
    const msg = cleanBotMessage(raw);
    if (!msg) return;
    if (msg.metadata.notice) {
      log.append(notice(msg.text));
      scrollDown();
      return;
    }
    state.messages.push(msg);
    persist();
    append(msg);
  });
  socket.on("user_echo", (data) => {
    // the same person's message, written in another tab
    let text = data && typeof data.text === "string" ? data.text : "";
    if (text.startsWith("/")) text = titleOfPayload(text) || "";
    if (!text) return;
    const msg = { sender: "user", text, stored: true };
    state.messages.push(msg);
    persist();
    dropButtons();
    append(msg);
  });
  window.addEventListener("online", () => {
    if (!socket.connected) socket.connect();
  });

  // ---- controls ----
  function openPanel(focus) {
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute("aria-expanded", "true");
    connect();
    scrollDown();
    if (focus) input.focus();
  }

  function closePanel() {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  launcher.addEventListener("click", () => openPanel(true));
  closeButton.addEventListener("click", closePanel);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closePanel();
  });
  leaveButton.addEventListener("click", () => {
    // the session ends on the server too: a beacon is sent even as the page is left
    const token = state.token;
    if (token && navigator.sendBeacon) {
      try {
        navigator.sendBeacon(`${cfg.server}${cfg.path.replace(/\/+$/, "")}/end`, token);
      } catch (_) {
        /* the session then expires */
      }
    }
    forget(false);
    socket.close();
    host.remove();
    location.replace(cfg.leaveUrl);
  });
  clearButton.addEventListener("click", () => {
    if (!window.confirm(t("clear_confirm"))) return;
    const old = state.token;
    forget(true);
    renderAll();
    log.append(notice(t("cleared")));
    setTyping(false);
    state.confirmed = false;
    if (old) state.ending = old; // ended on the server (now, or at the next connection)
    if (socket.connected) requestSession();
    input.focus();
  });
  privacyOk.addEventListener("click", () => {
    state.privacySeen = true;
    store.set("privacy", true);
    privacy.hidden = true;
    input.focus();
  });
  languageSelect.addEventListener("change", () => {
    const code = languageSelect.value;
    if (!CODES.includes(code) || code === state.lang) return;
    state.lang = code;
    store.set("lang", code);
    applyLanguage();
    renderAll();
    send(`/choose_language{"language": "${code}"}`, LANGUAGES[code].name);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    input.rows = 1;
    send(text);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });
  input.addEventListener("input", () => {
    input.rows = Math.min(4, Math.max(1, input.value.split("\n").length));
  });

  applyLanguage();
  renderAll();
  // an ongoing conversation reconnects at once (a counsellor may answer); a new one on opening
  if (state.token) connect();
  if (cfg.open) openPanel(false);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
