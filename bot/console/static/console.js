// Counsellor console. Plain JavaScript, no framework, nothing loaded from elsewhere.
// Every text that comes from a user, a counsellor or a content file is put into the page
// with textContent, never as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const API = "/console/api";
  const REPLY_MAX = 2000;

  const state = {
    me: null,            // {username, role, csrf_token}
    queue: [],
    known: null,         // ids of handoffs already seen (null before the first queue arrives)
    clockOffset: 0,      // server time minus browser time, in ms
    current: null,       // the open handoff
    seen: new Set(),     // seq of the transcript turns shown
    nextSeq: 0,
    queueSource: null,
    convSource: null,
    audio: null,
    beeps: 0,
    auditLast: null,     // id of the oldest audit entry shown (the next page starts below it)
    auditBroken: null,   // id of the first entry the chain check found broken
  };

  // ---- small helpers ------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function detailMessage(data, fallback) {
    const detail = data && data.detail;
    if (!detail) return fallback;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => d.msg).join("; ");
    if (detail.message) return detail.message;
    return fallback;
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && state.me) headers["X-CSRF-Token"] = state.me.csrf_token;
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (err) {
      return { ok: false, status: 0, data: { detail: "The console server did not answer." } };
    }
    let data = null;
    if (response.status !== 204) {
      try { data = await response.json(); } catch (err) { data = null; }
    }
    if (response.status === 401 && path !== "/login") {
      showLogin("Your session has ended. Please log in again.");
    }
    return { ok: response.ok, status: response.status, data };
  }

  function notice(id, text, bad) {
    const node = $(id);
    if (!text) { node.hidden = true; node.textContent = ""; return; }
    node.textContent = text;
    node.classList.toggle("bad", Boolean(bad));
    node.hidden = false;
  }

  function formatWaiting(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    if (h > 0) return `${h} h ${String(m).padStart(2, "0")} min`;
    if (m > 0) return `${m} min ${String(sec).padStart(2, "0")} s`;
    return `${sec} s`;
  }

  function serverNow() { return Date.now() + state.clockOffset; }

  function timeOf(seconds) {
    if (!seconds) return "";
    return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  const REASONS = { request: "asked for a person", crisis: "crisis", not_understood: "bot did not understand" };

  // ---- sound and desktop notifications ------------------------------------------------------

  function ensureAudio() {
    try {
      if (!state.audio) {
        const Ctx = window.AudioContext || window.webkitAudioContext;
        if (Ctx) state.audio = new Ctx();
      }
      if (state.audio && state.audio.state === "suspended") state.audio.resume();
    } catch (err) { /* no sound available */ }
  }

  function beep(urgent) {
    state.beeps += 1;
    document.body.dataset.beeps = String(state.beeps);
    const ctx = state.audio;
    if (!ctx) return;
    const tones = urgent ? [0, 0.22, 0.44] : [0];
    for (const offset of tones) {
      const start = ctx.currentTime + offset;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = urgent ? 880 : 660;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.25, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.18);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.2);
    }
  }

  function desktopNotify(handoff) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const urgent = handoff.priority === "urgent";
    try {
      // No message text: only what the queue shows.
      const n = new Notification(urgent ? "URGENT: someone needs a counsellor" : "Someone is waiting for a counsellor", {
        body: `${handoff.language} · ${handoff.channel} · ${REASONS[handoff.reason] || handoff.reason}`,
        tag: handoff.id,
      });
      n.onclick = () => { window.focus(); openHandoff(handoff.id); };
    } catch (err) { /* notifications unavailable */ }
  }

  function updateNotifyButton() {
    const button = $("notify-button");
    if (!("Notification" in window) || Notification.permission !== "default") {
      button.hidden = true;
    } else {
      button.hidden = false;
    }
  }

  // ---- login --------------------------------------------------------------------------------

  function showLogin(message) {
    stopStreams();
    state.me = null;
    state.known = null;
    state.current = null;
    $("app-view").hidden = true;
    $("audit-view").hidden = true;
    $("account").hidden = true;
    $("login-view").hidden = false;
    $("login-error").textContent = message || "";
    $("login-username").focus();
  }

  function showApp() {
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    $("account").hidden = false;
    $("account-name").textContent = state.me.username;
    $("account-role").textContent = state.me.role;
    $("audit-button").hidden = state.me.role !== "admin";
    $("queue-button").hidden = true;
    $("audit-view").hidden = true;
    updateNotifyButton();
    startQueue();
  }

  async function onLogin(event) {
    event.preventDefault();
    ensureAudio();
    const username = $("login-username").value.trim();
    const password = $("login-password").value;
    $("login-submit").disabled = true;
    const r = await api("POST", "/login", { username, password });
    $("login-submit").disabled = false;
    $("login-password").value = "";
    if (!r.ok) {
      $("login-error").textContent = detailMessage(r.data, "Login failed.");
      return;
    }
    state.me = r.data;
    $("login-error").textContent = "";
    showApp();
  }

  async function onLogout() {
    await api("POST", "/logout");
    showLogin("You are logged out.");
  }

  // ---- queue --------------------------------------------------------------------------------

  function setLive(ok) {
    const node = $("live-status");
    node.textContent = ok ? "live" : "reconnecting…";
    node.classList.toggle("ok", ok);
    node.classList.toggle("down", !ok);
  }

  function stopStreams() {
    if (state.queueSource) { state.queueSource.close(); state.queueSource = null; }
    stopConversationStream();
  }

  function startQueue() {
    if (state.queueSource) state.queueSource.close();
    const source = new EventSource(`${API}/stream`);
    state.queueSource = source;
    source.addEventListener("queue", (event) => {
      const data = JSON.parse(event.data);
      state.clockOffset = Date.parse(data.server_time) - Date.now();
      updateQueue(data.handoffs);
      setLive(true);
    });
    source.addEventListener("logout", () => showLogin("Your session has ended. Please log in again."));
    // "live" only once the first snapshot is in: what the queue shows is then current.
    source.onerror = async () => {
      setLive(false);
      if (source.readyState === EventSource.CLOSED && state.queueSource === source) {
        const r = await api("GET", "/me");
        if (r.ok) setTimeout(() => { if (state.queueSource === source) startQueue(); }, 1000);
      }
    };
  }

  function updateQueue(handoffs) {
    const fresh = [];
    if (state.known === null) {
      state.known = new Set(handoffs.map((h) => h.id));
    } else {
      for (const h of handoffs) {
        if (!state.known.has(h.id)) {
          state.known.add(h.id);
          if (h.status === "waiting") fresh.push(h);
        }
      }
    }
    state.queue = handoffs;
    renderQueue(new Set(fresh.map((h) => h.id)));
    if (fresh.length) {
      beep(fresh.some((h) => h.priority === "urgent"));
      fresh.forEach(desktopNotify);
    }
    document.title = handoffs.some((h) => h.status === "waiting")
      ? `(${handoffs.filter((h) => h.status === "waiting").length}) Counsellor console`
      : "Counsellor console";
  }

  function renderQueue(freshIds) {
    const body = $("queue-body");
    body.replaceChildren();
    const handoffs = state.queue;
    $("queue-count").textContent = handoffs.length ? `(${handoffs.length})` : "";
    $("queue-empty").hidden = handoffs.length > 0;
    $("queue-table").hidden = handoffs.length === 0;
    for (const h of handoffs) {
      const row = el("tr");
      row.dataset.id = h.id;
      if (h.priority === "urgent") row.classList.add("urgent");
      if (freshIds.has(h.id)) row.classList.add("new");
      if (state.current && state.current.id === h.id) row.classList.add("selected");
      row.appendChild(el("td", h.priority === "urgent" ? "priority-urgent" : "", h.priority));
      const waiting = el("td", "waiting", formatWaiting(serverNow() - Date.parse(h.created_at)));
      waiting.dataset.created = h.created_at;
      row.appendChild(waiting);
      row.appendChild(el("td", "lang", h.language));
      row.appendChild(el("td", "channel", h.channel));
      row.appendChild(el("td", "reason", REASONS[h.reason] || h.reason));
      const statusText = h.status === "claimed" ? `claimed by ${h.claimed_by}` : h.status;
      row.appendChild(el("td", `status status-${h.status}`, statusText));
      const actions = el("td", "row-actions");
      const mayOpen = h.status === "waiting" || h.claimed_by === state.me.username || state.me.role === "admin";
      if (mayOpen) {
        const open = el("button", "secondary open", "Open");
        open.type = "button";
        open.addEventListener("click", () => openHandoff(h.id));
        actions.appendChild(open);
      }
      if (h.status === "waiting") {
        const claim = el("button", "claim", "Claim");
        claim.type = "button";
        claim.addEventListener("click", () => claimHandoff(h.id, true));
        actions.appendChild(claim);
      }
      row.appendChild(actions);
      body.appendChild(row);
    }
  }

  function tickWaiting() {
    for (const cell of document.querySelectorAll("td.waiting")) {
      cell.textContent = formatWaiting(serverNow() - Date.parse(cell.dataset.created));
    }
  }

  // ---- conversation -------------------------------------------------------------------------

  function stopConversationStream() {
    if (state.convSource) { state.convSource.close(); state.convSource = null; }
  }

  function leaveConversation() {
    stopConversationStream();
    state.current = null;
    $("conversation").hidden = true;
    renderQueue(new Set());
  }

  async function openHandoff(id) {
    notice("queue-notice", "");
    const r = await api("GET", `/handoffs/${encodeURIComponent(id)}`);
    if (!r.ok) {
      if (r.status !== 401) notice("queue-notice", detailMessage(r.data, "Could not open the conversation."), true);
      return;
    }
    stopConversationStream();
    state.current = r.data.handoff;
    state.seen = new Set();
    $("transcript").replaceChildren();
    $("reply-text").value = "";
    updateCount();
    notice("conversation-notice", "");
    $("conversation").hidden = false;
    appendTurns(r.data.turns);
    state.nextSeq = r.data.next_seq;
    renderConversation();
    renderQueue(new Set());
    loadStandardTexts(state.current.language);
    // live only while the handoff is open; an ended one is shown as it was (the server
    // refuses the stream then)
    if (state.current.status === "waiting" || state.current.status === "claimed") {
      startConversationStream(id, state.nextSeq);
    }
  }

  function startConversationStream(id, after) {
    const source = new EventSource(`${API}/handoffs/${encodeURIComponent(id)}/stream?after=${after}`);
    state.convSource = source;
    source.addEventListener("turns", (event) => appendTurns(JSON.parse(event.data)));
    source.addEventListener("handoff", (event) => {
      const handoff = JSON.parse(event.data);
      if (state.current && state.current.id === handoff.id) {
        state.current = handoff;
        renderConversation();
      }
    });
    source.addEventListener("taken", (event) => {
      const data = JSON.parse(event.data);
      source.close();
      notice("conversation-notice", `Already taken by ${data.claimed_by}.`, true);
      disableActions();
    });
    source.addEventListener("ended", () => { source.close(); disableActions(); });
    source.addEventListener("rasa", (event) => {
      const data = JSON.parse(event.data);
      notice("conversation-notice", data.ok ? "" : "The assistant's server does not answer; the transcript may be behind.", !data.ok);
    });
    source.addEventListener("live", (event) => {
      const data = JSON.parse(event.data);
      notice("live-notice", data.ok ? "" : "Not live: the event broker does not answer; the transcript is checked every few seconds.", !data.ok);
    });
    source.addEventListener("gone", () => { source.close(); notice("conversation-notice", "This conversation has been deleted.", true); disableActions(); });
    source.addEventListener("logout", () => showLogin("Your session has ended. Please log in again."));
  }

  function turnLabel(t) {
    const parts = [];
    if (t.kind === "user") {
      parts.push("Person");
      if (t.language) {
        const conf = t.language_confidence != null ? ` ${Math.round(t.language_confidence * 100)}%` : "";
        parts.push(`language ${t.language}${conf}`);
      }
      if (t.intent) parts.push(`intent ${t.intent}`);
      if (t.channel) parts.push(t.channel);
    } else if (t.kind === "counsellor") {
      parts.push(`Counsellor ${t.counsellor}`);
    } else if (t.kind === "bot") {
      parts.push("Assistant");
      if (t.topic) parts.push(`topic ${t.topic}`);
    }
    const at = timeOf(t.at);
    if (at) parts.push(at);
    return parts.join(" · ");
  }

  function appendTurns(turns) {
    const list = $("transcript");
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    for (const t of turns) {
      if (state.seen.has(t.seq)) continue;
      state.seen.add(t.seq);
      const item = el("li", `turn ${t.kind}`);
      item.dataset.seq = String(t.seq);
      if (t.kind === "system") {
        const text = t.event === "pause" ? "Paused: waiting for a counsellor" : "Handed back to the assistant";
        item.textContent = `${text} · ${timeOf(t.at)}`;
      } else {
        item.appendChild(el("div", "who", turnLabel(t)));
        const text = el("p", "text", t.text || "");
        text.dir = "auto";
        item.appendChild(text);
        if (t.buttons && t.buttons.length) {
          const buttons = el("div", "buttons", `Buttons: ${t.buttons.join(" | ")}`);
          buttons.dir = "auto";
          item.appendChild(buttons);
        }
      }
      list.appendChild(item);
    }
    if (nearBottom || turns.length) list.scrollTop = list.scrollHeight;
  }

  function meta(label, value) {
    const wrap = el("div");
    wrap.appendChild(el("dt", "", label));
    wrap.appendChild(el("dd", "", value));
    return wrap;
  }

  function renderConversation() {
    const h = state.current;
    if (!h) return;
    const box = $("conversation-meta");
    box.replaceChildren(
      meta("Status", h.status === "claimed" ? `claimed by ${h.claimed_by}` : h.status),
      meta("Priority", h.priority),
      meta("Language", h.language),
      meta("Channel", h.channel),
      meta("Reason", REASONS[h.reason] || h.reason),
      meta("Waiting since", new Date(Date.parse(h.created_at)).toLocaleString()),
    );
    if (h.outcome) box.appendChild(meta("Outcome", h.outcome));
    const me = state.me;
    const mine = h.claimed_by === me.username;
    const admin = me.role === "admin";
    const claimed = h.status === "claimed";
    $("claim-button").hidden = h.status !== "waiting";
    $("claim-button").disabled = false;
    $("handback-button").disabled = !(claimed && (mine || admin));
    // a counsellor closes only what they claimed; an admin may also close a waiting one
    $("close-button").disabled = !((claimed && (mine || admin)) || (h.status === "waiting" && admin));
    $("close-outcome").disabled = $("close-button").disabled;
    $("reply-form").hidden = !(claimed && (mine || admin));
    if (h.status === "returned") notice("conversation-notice", `Handed back to the assistant by ${h.closed_by}.`);
    if (h.status === "closed") notice("conversation-notice", `Closed by ${h.closed_by} (${h.outcome}).`);
    if (h.status === "cancelled") notice("conversation-notice", "The person no longer wants a counsellor.");
  }

  function disableActions() {
    for (const id of ["claim-button", "handback-button", "close-button", "close-outcome"]) $(id).disabled = true;
    $("reply-form").hidden = true;
  }

  async function claimHandoff(id, openAfter) {
    notice("queue-notice", "");
    const r = await api("POST", `/handoffs/${encodeURIComponent(id)}/claim`);
    const target = state.current && state.current.id === id ? "conversation-notice" : "queue-notice";
    if (!r.ok) {
      if (r.status !== 401) notice(target, detailMessage(r.data, "Could not claim."), true);
      return;
    }
    if (openAfter && !(state.current && state.current.id === id)) {
      await openHandoff(id);
    } else if (state.current && state.current.id === id) {
      state.current = r.data.handoff;
      renderConversation();
    }
    if (!r.data.user_notified) {
      notice("conversation-notice", "Claimed, but the person could not be told that a counsellor joined.", true);
    } else {
      notice("conversation-notice", "");
    }
    $("reply-text").focus();
  }

  async function onReply(event) {
    event.preventDefault();
    const box = $("reply-text");
    const text = box.value.trim();
    if (!text || !state.current) return;
    $("reply-send").disabled = true;
    const r = await api("POST", `/handoffs/${encodeURIComponent(state.current.id)}/reply`, { text });
    $("reply-send").disabled = false;
    if (!r.ok) {
      if (r.status !== 401) notice("conversation-notice", detailMessage(r.data, "The reply was not sent."), true);
      return;
    }
    box.value = "";
    updateCount();
    // identifiers are taken out before a reply is stored and sent: say which
    const removed = (r.data && r.data.removed) || [];
    if (removed.length) {
      const parts = removed.map((x) => (x.original ? `${x.original} → ${x.placeholder}` : x.placeholder));
      notice("conversation-notice", `Removed before sending, the person got placeholders instead: ${parts.join("; ")}`);
    } else {
      notice("conversation-notice", "");
    }
    box.focus();
  }

  async function onHandBack() {
    if (!state.current) return;
    const r = await api("POST", `/handoffs/${encodeURIComponent(state.current.id)}/handback`);
    if (!r.ok) {
      if (r.status !== 401) notice("conversation-notice", detailMessage(r.data, "Could not hand back."), true);
      return;
    }
    state.current = r.data.handoff;
    renderConversation();
  }

  async function onClose() {
    if (!state.current) return;
    const outcome = $("close-outcome").value;
    const r = await api("POST", `/handoffs/${encodeURIComponent(state.current.id)}/close`, { outcome });
    if (!r.ok) {
      if (r.status !== 401) notice("conversation-notice", detailMessage(r.data, "Could not close."), true);
      return;
    }
    state.current = r.data.handoff;
    renderConversation();
  }

  // ---- standard texts -----------------------------------------------------------------------

  async function loadStandardTexts(lang) {
    const box = $("standard-texts");
    box.replaceChildren();
    const r = await api("GET", `/texts?lang=${encodeURIComponent(lang)}`);
    if (!r.ok) return;
    for (const item of r.data.texts) {
      const label = item.language === lang ? item.label : `${item.label} (${item.language})`;
      const button = el("button", "secondary", label);
      button.type = "button";
      button.title = item.text;
      button.addEventListener("click", () => insertText(item.text));
      box.appendChild(button);
    }
  }

  function insertText(text) {
    const box = $("reply-text");
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? box.value.length;
    const before = box.value.slice(0, start);
    const joiner = before && !before.endsWith(" ") && !before.endsWith("\n") ? " " : "";
    box.value = (before + joiner + text + box.value.slice(end)).slice(0, REPLY_MAX);
    const caret = Math.min(before.length + joiner.length + text.length, box.value.length);
    box.setSelectionRange(caret, caret);
    box.focus();
    updateCount();
  }

  function updateCount() {
    $("reply-count").textContent = `${$("reply-text").value.length} / ${REPLY_MAX}`;
  }

  // ---- audit log (admins) -------------------------------------------------------------------

  function showAudit() {
    $("app-view").hidden = true;
    $("audit-view").hidden = false;
    $("audit-button").hidden = true;
    $("queue-button").hidden = false;
    checkChain().then(() => loadAudit(false));
  }

  function showQueue() {
    $("audit-view").hidden = true;
    $("app-view").hidden = false;
    $("queue-button").hidden = true;
    $("audit-button").hidden = !(state.me && state.me.role === "admin");
  }

  async function checkChain() {
    const badge = $("audit-chain");
    badge.className = "chain";
    badge.textContent = "Checking the chain…";
    $("audit-chain-detail").textContent = "";
    const r = await api("GET", "/audit/chain");
    if (!r.ok) {
      badge.textContent = "Chain not checked";
      if (r.status !== 401) $("audit-chain-detail").textContent = detailMessage(r.data, "The check failed.");
      return;
    }
    const c = r.data;
    state.auditBroken = c.ok ? null : c.broken_id;
    badge.classList.add(c.ok && c.append_only ? "ok" : "broken");
    if (!c.ok) {
      badge.textContent = c.broken_id != null ? `Chain BROKEN at entry ${c.broken_id}` : "Chain BROKEN";
    } else if (!c.append_only) {
      badge.textContent = "Chain intact, but NOT protected (triggers missing)";
    } else {
      badge.textContent = `Chain intact · ${c.rows} entries`;
    }
    $("audit-chain-detail").textContent = c.ok ? `Head ${c.head || "-"} (note it elsewhere to compare later)` : (c.problem || "");
  }

  function fillSelect(id, values) {
    const select = $(id);
    const chosen = select.value;
    const options = [el("option", "", "all")];
    options[0].value = "";
    for (const value of values) {
      const option = el("option", "", value);
      option.value = value;
      options.push(option);
    }
    select.replaceChildren(...options);
    select.value = values.includes(chosen) ? chosen : "";
  }

  function auditQuery(before) {
    const params = new URLSearchParams();
    for (const [name, id] of [["actor", "audit-actor"], ["action", "audit-action"], ["since", "audit-since"], ["until", "audit-until"]]) {
      const value = $(id).value;
      if (value) params.set(name, value);
    }
    if (before) params.set("before_id", String(before));
    params.set("limit", "100");
    return params.toString();
  }

  async function loadAudit(more) {
    notice("audit-notice", "");
    const r = await api("GET", `/audit?${auditQuery(more ? state.auditLast : null)}`);
    if (!r.ok) {
      if (r.status !== 401) notice("audit-notice", detailMessage(r.data, "Could not load the audit log."), true);
      return;
    }
    fillSelect("audit-actor", r.data.actors);
    fillSelect("audit-action", r.data.actions);
    const body = $("audit-body");
    if (!more) body.replaceChildren();
    for (const e of r.data.entries) {
      const row = el("tr", `action-${e.action}`);
      row.dataset.id = String(e.id);
      if (e.id === state.auditBroken) {
        row.classList.add("chain-broken");
        row.title = "The chain breaks here: this entry was changed, or the one before it removed";
      }
      row.appendChild(el("td", "mono", e.id));
      row.appendChild(el("td", "when", new Date(Date.parse(e.at)).toLocaleString()));
      row.appendChild(el("td", "", e.actor));
      row.appendChild(el("td", "", e.action));
      const handoff = el("td", "mono", e.handoff_id ? e.handoff_id.slice(0, 8) : "");
      if (e.handoff_id) handoff.title = e.handoff_id;
      row.appendChild(handoff);
      const ref = el("td", "mono", e.conversation_ref ? e.conversation_ref.slice(0, 10) : "");
      if (e.conversation_ref) ref.title = e.conversation_ref;
      row.appendChild(ref);
      row.appendChild(el("td", "", e.detail || ""));
      body.appendChild(row);
    }
    if (r.data.entries.length) state.auditLast = r.data.entries[r.data.entries.length - 1].id;
    $("audit-more").hidden = !r.data.more;
    $("audit-empty").hidden = body.children.length > 0;
    $("audit-table").hidden = body.children.length === 0;
  }

  // ---- start --------------------------------------------------------------------------------

  async function start() {
    $("login-form").addEventListener("submit", onLogin);
    $("logout-button").addEventListener("click", onLogout);
    $("notify-button").addEventListener("click", async () => {
      ensureAudio();
      if ("Notification" in window) await Notification.requestPermission();
      updateNotifyButton();
    });
    $("conversation-leave").addEventListener("click", leaveConversation);
    $("audit-button").addEventListener("click", showAudit);
    $("queue-button").addEventListener("click", showQueue);
    $("audit-chain-check").addEventListener("click", async () => { await checkChain(); loadAudit(false); });
    $("audit-filter").addEventListener("submit", (event) => { event.preventDefault(); loadAudit(false); });
    $("audit-clear").addEventListener("click", () => {
      for (const id of ["audit-actor", "audit-action", "audit-since", "audit-until"]) $(id).value = "";
      loadAudit(false);
    });
    $("audit-more").addEventListener("click", () => loadAudit(true));
    $("claim-button").addEventListener("click", () => state.current && claimHandoff(state.current.id, false));
    $("handback-button").addEventListener("click", onHandBack);
    $("close-button").addEventListener("click", onClose);
    $("reply-form").addEventListener("submit", onReply);
    $("reply-text").addEventListener("input", updateCount);
    $("reply-text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) onReply(event);
    });
    document.addEventListener("click", ensureAudio);
    setInterval(tickWaiting, 1000);
    const r = await api("GET", "/me");
    if (r.ok) {
      state.me = r.data;
      showApp();
    } else {
      showLogin("");
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
