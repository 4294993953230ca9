// app.js: the wasmchannel chat page. Plain ES module, no framework: one
// state object, DOM updated in place. Packets go through codec.js (the
// server's own codec.wasm); HTTP goes to the Better Auth–compatible routes
// and the history API (spec/http-api.md).

import { loadCodec, Kind, DEFAULT_MAX_PAYLOAD } from "./codec.js";

/** A message payload must be under 1000 bytes (protocol.md § Room semantics). */
const MAX_TEXT_BYTES = 999;
/** Room names (http-api.md § WebSocket). */
const ROOM_RE = /^[A-Za-z0-9_.-]{1,64}$/;
/** Reaction kinds shown on every message (protocol.md § Packet). */
const REACTIONS = [
  { kind: 1, key: "like", label: "Like", icon: "thumb" },
  { kind: 2, key: "dislike", label: "Dislike", icon: "thumb-down" },
  { kind: 3, key: "heart", label: "Heart", icon: "heart" },
  { kind: 4, key: "star", label: "Star", icon: "star" },
];
/** Reaction icons as SVG paths (24×24), so no emoji font is needed. */
const ICONS = {
  thumb: "M7 10v10H4V10zm2 10h8.2a2 2 0 0 0 2-1.6l1.3-6.5a2 2 0 0 0-2-2.4H14l.8-4a1.7 1.7 0 0 0-3.2-1L9 10z",
  heart: "M12 20.5l-1.3-1.2C5.9 15 3 12.3 3 9a4.5 4.5 0 0 1 8-2.8l1 1.1 1-1.1A4.5 4.5 0 0 1 21 9c0 3.3-2.9 6-7.7 10.3z",
  star: "M12 3.2l2.7 5.6 6.1.9-4.4 4.3 1 6.1-5.4-2.9-5.4 2.9 1-6.1-4.4-4.3 6.1-.9z",
};
const SVG_NS = "http://www.w3.org/2000/svg";

function icon(name) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", ICONS[name === "thumb-down" ? "thumb" : name]);
  if (name === "thumb-down") path.setAttribute("transform", "rotate(180 12 12)");
  svg.append(path);
  return svg;
}
const TYPING_SEND_EVERY_MS = 2500; // at most one Typing packet per this
const TYPING_SHOW_MS = 5000; // a typing notice lasts this long unless renewed
const RESEND_AFTER_MS = 3000; // an unacknowledged message is sent again after this
const MAX_SENDS = 5; // then it is marked failed until the user retries
const OUTBOX_TICK_MS = 250; // one resend per tick stays under 5 packets/s
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
const STABLE_CONNECTION_MS = 5000; // a connection this old resets the backoff
const NOTICE_MS = 8000; // how long a server notice stays shown
const DEFAULT_PAGE = 50;

const utf8 = new TextEncoder();
const utf8Lenient = new TextDecoder();
const $ = (id) => document.getElementById(id);

const ui = {
  loading: $("loading"),
  error: $("error"),
  auth: $("auth"),
  authForm: $("auth-form"),
  name: $("name"),
  email: $("email"),
  password: $("password"),
  signUp: $("sign-up"),
  signIn: $("sign-in"),
  signOut: $("sign-out"),
  sessionsOpen: $("sessions-open"),
  sessions: $("sessions"),
  sessionList: $("session-list"),
  revokeOthers: $("revoke-others"),
  sessionsClose: $("sessions-close"),
  barUser: $("bar-user"),
  meName: $("me-name"),
  barRoom: $("bar-room"),
  roomName: $("room-name"),
  online: $("online-count"),
  connDot: $("conn-dot"),
  rooms: $("rooms"),
  roomForm: $("room-form"),
  roomInput: $("room-input"),
  recent: $("recent-rooms"),
  chat: $("chat"),
  log: $("log"),
  messages: $("messages"),
  loadOlder: $("load-older"),
  historyStart: $("history-start"),
  typing: $("typing"),
  composer: $("composer"),
  input: $("message-input"),
  counter: $("counter"),
};

const state = {
  codec: null,
  user: null, // {id, name, email}
  room: null,
  pageSize: pageSizeFromURL(),
  ws: null,
  gen: 0, // bumped per connection attempt and per room; stale socket callbacks compare it
  roomGen: 0, // bumped per room joined or left; stale history replies compare it
  connected: false,
  everConnected: false, // in the current room
  attempt: 0, // reconnect attempts since the last stable connection
  reconnectTimer: 0,
  messages: new Map(), // message id → record, see addRecord
  outbox: new Map(), // message id → {id, text, createdAt, sends, lastSent, failed}
  names: loadNames(), // user id → display name, from the server or typing packets
  verifiedNames: new Set(), // user ids whose name came from the server
  typing: new Map(), // user id → expiry time (ms)
  typingTimer: 0,
  lastTypingSent: 0,
  hasOlder: false,
  loadingOlder: false,
  reactionSeen: new Map(), // message id → time of the last live Reaction
  errors: new Map(), // key → {text, timer}
};

// ---------------------------------------------------------------- errors

/** Shows text under key until clearError(key) or, given ms, until it expires. */
function showError(key, text, ms = 0) {
  const old = state.errors.get(key);
  if (old) clearTimeout(old.timer);
  state.errors.delete(key); // re-insert so the newest shows last
  const timer = ms > 0 ? setTimeout(() => clearError(key), ms) : 0;
  state.errors.set(key, { text, timer });
  renderErrors();
}

function clearError(key) {
  const old = state.errors.get(key);
  if (!old) return;
  clearTimeout(old.timer);
  state.errors.delete(key);
  renderErrors();
}

function renderErrors() {
  ui.error.replaceChildren(
    ...[...state.errors.entries()].map(([key, e]) => {
      const line = document.createElement("span");
      line.className = "error-line";
      line.dataset.key = key;
      line.textContent = e.text;
      return line;
    }),
  );
  ui.error.hidden = state.errors.size === 0;
}

// ---------------------------------------------------------------- HTTP

class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls a JSON route with the session cookie; throws APIError on a non-2xx. */
async function api(method, url, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(url, init);
  let data = null;
  const text = await resp.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const message = (data && data.message) || `${method} ${url}: HTTP ${resp.status}`;
    throw new APIError(resp.status, data && data.code, message);
  }
  return data;
}

// ---------------------------------------------------------------- auth

async function signIn(event) {
  event.preventDefault();
  const email = ui.email.value.trim();
  const password = ui.password.value;
  if (!email || !password) {
    showError("auth", "Enter your email and password.");
    return;
  }
  await authCall(() => api("POST", "/api/auth/sign-in/email", { email, password }));
}

async function signUp() {
  const name = ui.name.value.trim();
  const email = ui.email.value.trim();
  const password = ui.password.value;
  if (!name) {
    showError("auth", "Enter a name to create an account.");
    return;
  }
  if (!email) {
    showError("auth", "Enter an email address.");
    return;
  }
  if (password.length < 8) {
    showError("auth", "The password needs at least 8 characters.");
    return;
  }
  await authCall(() => api("POST", "/api/auth/sign-up/email", { name, email, password }));
}

async function authCall(call) {
  setBusy(true);
  try {
    const data = await call();
    clearError("auth");
    ui.password.value = "";
    signedIn(data.user);
  } catch (err) {
    showError("auth", err instanceof APIError ? err.message : `Could not reach the server: ${err.message}`);
  } finally {
    setBusy(false);
  }
}

function setBusy(busy) {
  ui.signIn.disabled = busy;
  ui.signUp.disabled = busy;
}

async function signOut() {
  leaveRoom();
  try {
    await api("POST", "/api/auth/sign-out");
  } catch (err) {
    showError("auth", `Sign-out failed: ${err.message}`, NOTICE_MS);
  }
  signedOut();
}

// ---------------------------------------------------------------- sessions

/** A short name for a browser from its User-Agent. */
function describeAgent(ua) {
  if (!ua) return "Unknown device";
  const browser = /Edg\//.test(ua) ? "Edge" : /Chrome\//.test(ua) ? "Chrome" : /Firefox\//.test(ua) ? "Firefox" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows" : /Mac OS X/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

/** Lists the user's sessions (Better Auth's list-sessions), this one marked. */
async function renderSessions() {
  let list, me;
  try {
    [list, me] = await Promise.all([api("GET", "/api/auth/list-sessions"), api("GET", "/api/auth/get-session")]);
  } catch (err) {
    showError("sessions", `Your sessions could not be read: ${err.message}`, NOTICE_MS);
    return;
  }
  const current = me && me.session ? me.session.token : "";
  const items = (list || []).map((s) => {
    const li = document.createElement("li");
    li.dataset.testid = "session";
    const what = document.createElement("span");
    what.textContent = `${describeAgent(s.userAgent)} · since ${new Date(s.createdAt).toLocaleString()}`;
    li.append(what);
    if (s.token === current) {
      li.dataset.current = "true";
      const here = document.createElement("span");
      here.className = "hint";
      here.textContent = " (this device)";
      li.append(here);
    } else {
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "link";
      revoke.dataset.testid = "revoke-session";
      revoke.textContent = "Sign out";
      revoke.addEventListener("click", () => revokeSession(s.token));
      li.append(revoke);
    }
    return li;
  });
  ui.sessionList.replaceChildren(...items);
  ui.revokeOthers.disabled = items.length < 2;
}

async function revokeSession(token) {
  try {
    await api("POST", "/api/auth/revoke-session", { token });
  } catch (err) {
    showError("sessions", `That session could not be ended: ${err.message}`, NOTICE_MS);
  }
  renderSessions();
}

async function revokeOthers() {
  try {
    await api("POST", "/api/auth/revoke-other-sessions", {});
  } catch (err) {
    showError("sessions", `The other sessions could not be ended: ${err.message}`, NOTICE_MS);
  }
  renderSessions();
}

function toggleSessions(open) {
  ui.sessions.hidden = !open;
  if (open) renderSessions();
}

function signedIn(user) {
  state.user = { id: user.id, name: user.name || user.email || user.id, email: user.email };
  state.errors.forEach((_, key) => key !== "fatal" && clearError(key));
  ui.meName.textContent = state.user.name;
  ui.meName.title = state.user.email || "";
  ui.auth.hidden = true;
  ui.barUser.hidden = false;
  ui.rooms.hidden = false;
  renderRecentRooms();
  const room = roomFromHash() || recentRooms()[0] || "";
  ui.roomInput.value = room;
  if (room) joinRoom(room);
  else ui.roomInput.focus();
}

function signedOut(message) {
  leaveRoom();
  state.user = null;
  ui.sessions.hidden = true;
  ui.barUser.hidden = true;
  ui.rooms.hidden = true;
  ui.chat.hidden = true;
  ui.barRoom.hidden = true;
  document.body.classList.remove("in-room");
  ui.auth.hidden = false;
  if (message) showError("auth", message);
  ui.email.focus();
}

// ---------------------------------------------------------------- rooms

function roomFromHash() {
  const m = /^#room=(.*)$/.exec(location.hash);
  if (!m) return "";
  const room = decodeURIComponent(m[1]);
  return ROOM_RE.test(room) ? room : "";
}

function recentRooms() {
  try {
    const list = JSON.parse(localStorage.getItem("wc.rooms") || "[]");
    return Array.isArray(list) ? list.filter((r) => typeof r === "string" && ROOM_RE.test(r)) : [];
  } catch {
    return [];
  }
}

function rememberRoom(room) {
  const list = [room, ...recentRooms().filter((r) => r !== room)].slice(0, 8);
  localStorage.setItem("wc.rooms", JSON.stringify(list));
  renderRecentRooms();
}

function renderRecentRooms() {
  ui.recent.replaceChildren(
    ...recentRooms().map((room) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.textContent = room;
      if (room === state.room) b.setAttribute("aria-current", "true");
      b.addEventListener("click", () => joinRoom(room));
      li.append(b);
      return li;
    }),
  );
}

function onRoomSubmit(event) {
  event.preventDefault();
  joinRoom(ui.roomInput.value.trim());
}

function joinRoom(room) {
  if (!ROOM_RE.test(room)) {
    showError("room", "A room name is 1 to 64 letters, digits, “_”, “.” or “-”.");
    return;
  }
  clearError("room");
  if (room === state.room && state.ws) return;
  leaveRoom();
  state.room = room;
  ui.roomInput.value = room;
  if (roomFromHash() !== room) history.replaceState(null, "", `#room=${room}`);
  rememberRoom(room);
  document.title = `${room} · wasmchannel`;
  ui.roomName.textContent = `#${room}`;
  ui.barRoom.hidden = false;
  ui.chat.hidden = false;
  document.body.classList.add("in-room");
  ui.online.textContent = "0";
  restoreOutbox();
  connect();
  loadHistory("initial");
  ui.input.focus();
}

/** Closes the room's socket and forgets its messages (the outbox stays stored). */
function leaveRoom() {
  state.gen++;
  state.roomGen++;
  clearTimeout(state.reconnectTimer);
  if (state.ws) {
    state.ws.close(1000, "leaving");
    state.ws = null;
  }
  state.connected = false;
  state.everConnected = false;
  state.attempt = 0;
  state.room = null;
  state.messages.clear();
  state.outbox.clear();
  state.reactionSeen.clear();
  state.typing.clear();
  state.hasOlder = false;
  ui.messages.replaceChildren();
  ui.loadOlder.hidden = true;
  ui.historyStart.hidden = true;
  renderTyping();
  setConnState("offline");
  clearError("connection");
}

// ---------------------------------------------------------------- socket

function connect() {
  clearTimeout(state.reconnectTimer);
  const gen = ++state.gen;
  const room = state.room;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/ws/${encodeURIComponent(room)}`);
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  setConnState("connecting");
  let openedAt = 0;
  ws.addEventListener("open", () => {
    if (gen !== state.gen) return;
    openedAt = Date.now();
    state.connected = true;
    setConnState("online");
    clearError("connection");
    const resync = state.everConnected;
    state.everConnected = true;
    // A new connection gives every unacknowledged message a fresh start,
    // failed ones included; the server dedupes by message_id.
    for (const o of state.outbox.values()) {
      o.sends = 0;
      o.lastSent = 0;
      o.failed = false;
      const rec = state.messages.get(o.id);
      if (rec && rec.failed) {
        rec.failed = false;
        renderStatus(rec);
      }
    }
    outboxTick();
    if (resync) loadHistory("resync");
  });
  ws.addEventListener("message", (ev) => {
    if (gen !== state.gen) return;
    receive(new Uint8Array(ev.data));
  });
  ws.addEventListener("close", (ev) => {
    if (gen !== state.gen) return;
    state.connected = false;
    state.ws = null;
    state.typing.clear();
    renderTyping();
    setConnState("offline");
    if (openedAt && Date.now() - openedAt >= STABLE_CONNECTION_MS) state.attempt = 0;
    const why = ev.code === 1001 ? "The server is restarting." : "Connection lost.";
    // 1008: the session may have been ended (signed out or revoked
    // elsewhere); ask before reconnecting.
    scheduleReconnect(why, openedAt === 0 || ev.code === 1008, ev.code === 1008);
  });
}

/** Waits with exponential backoff and jitter, then connects again. */
async function scheduleReconnect(why, neverOpened, sessionClosed = false) {
  const gen = state.gen;
  if (neverOpened && (state.attempt > 0 || sessionClosed)) {
    // A refused upgrade looks like any other failure; ask whether the
    // session is still valid before trying again.
    try {
      const s = await api("GET", "/api/auth/get-session");
      if (gen !== state.gen) return;
      if (s === null) {
        signedOut("Your session has ended. Please sign in again.");
        return;
      }
    } catch {
      // server unreachable: keep retrying
    }
  }
  if (gen !== state.gen) return;
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempt);
  const delay = Math.round(base * (0.5 + Math.random() / 2));
  state.attempt++;
  const pending = state.outbox.size;
  const waiting = pending ? ` ${pending} unsent message${pending === 1 ? "" : "s"} will be sent then.` : "";
  showError("connection", `${why} Reconnecting in ${Math.max(1, Math.round(delay / 1000))} s…${waiting}`);
  state.reconnectTimer = setTimeout(() => {
    if (gen !== state.gen) return;
    showError("connection", `${why} Reconnecting…${waiting}`);
    connect();
  }, delay);
}

/** Reconnects now rather than at the end of the backoff (network back, tab shown). */
function reconnectSoon() {
  if (!state.room || state.connected || !state.user) return;
  if (state.ws && state.ws.readyState === WebSocket.CONNECTING) return;
  state.attempt = 0;
  connect();
}

function setConnState(s) {
  ui.connDot.className = `dot is-${s}`;
  ui.connDot.title = s;
  document.body.dataset.conn = s;
}

function sendPacket(p) {
  if (!state.connected || !state.ws) return false;
  state.ws.send(state.codec.encode(p));
  return true;
}

function receive(bytes) {
  let p;
  try {
    p = state.codec.decode(bytes, DEFAULT_MAX_PAYLOAD);
  } catch (err) {
    showError("packet", `Ignored a malformed packet from the server (${err.class || err.message}).`, NOTICE_MS);
    return;
  }
  switch (p.kind) {
    case Kind.Message:
      onMessagePacket(p);
      break;
    case Kind.OnlineUsers: {
      const n = Number.parseInt(utf8Lenient.decode(p.payload), 10);
      if (Number.isFinite(n) && n >= 0) ui.online.textContent = String(n);
      break;
    }
    case Kind.Delete:
      if (p.messageId != null) markDeleted(p.messageId);
      break;
    case Kind.Reaction:
      if (p.messageId != null && p.userId != null && p.reactionKind != null) {
        state.reactionSeen.set(p.messageId, Date.now());
        toggleReaction(p.messageId, p.userId, p.reactionKind);
      }
      break;
    case Kind.Typing:
      if (p.userId != null) onTyping(p.userId, p.payload);
      break;
    default:
      break; // Joined carries nothing this page shows
  }
}

function onMessagePacket(p) {
  const text = utf8Lenient.decode(p.payload);
  if (p.messageId == null && p.userId == null) {
    // A notice from the server: a rate limit, a refused packet.
    showError("notice", text, NOTICE_MS);
    return;
  }
  if (p.messageId == null) return; // not addressable; nothing to show it against
  if (p.userId != null) {
    state.typing.delete(p.userId);
    renderTyping();
  }
  acknowledge(p.messageId);
  const rec = state.messages.get(p.messageId);
  if (rec) {
    if (rec.pending) {
      rec.pending = false;
      rec.failed = false;
      renderStatus(rec);
    }
    return;
  }
  const near = nearBottom();
  const r = addRecord({ id: p.messageId, userId: p.userId, text, createdAt: new Date() });
  insertRecord(r, "bottom");
  if (near || r.userId === state.user.id) scrollToBottom();
}

// ---------------------------------------------------------------- typing

function onInput() {
  clearError("input");
  updateCounter();
  autosize();
  const now = Date.now();
  if (!ui.input.value.trim() || now - state.lastTypingSent < TYPING_SEND_EVERY_MS) return;
  const payload = JSON.stringify({ isTyping: true, timestamp: now, name: state.user.name });
  if (sendPacket({ kind: Kind.Typing, payload })) state.lastTypingSent = now;
}

function onTyping(userId, payload) {
  if (userId === state.user.id) return;
  let j;
  try {
    j = JSON.parse(utf8Lenient.decode(payload));
  } catch {
    return;
  }
  if (!j || typeof j !== "object") return;
  if (typeof j.name === "string" && j.name.trim() && !state.verifiedNames.has(userId)) {
    learnName(userId, j.name.trim().slice(0, 64));
  }
  if (j.isTyping === false) state.typing.delete(userId);
  else state.typing.set(userId, Date.now() + TYPING_SHOW_MS);
  renderTyping();
}

function renderTyping() {
  clearTimeout(state.typingTimer);
  const now = Date.now();
  let next = Infinity;
  const who = [];
  for (const [id, until] of state.typing) {
    if (until <= now) {
      state.typing.delete(id);
      continue;
    }
    who.push(displayName(id));
    next = Math.min(next, until);
  }
  let text = "";
  if (who.length === 1) text = `${who[0]} is typing…`;
  else if (who.length === 2) text = `${who[0]} and ${who[1]} are typing…`;
  else if (who.length > 2) text = `${who[0]}, ${who[1]} and ${who.length - 2} more are typing…`;
  ui.typing.textContent = text;
  if (next !== Infinity) state.typingTimer = setTimeout(renderTyping, next - now + 10);
}

// ---------------------------------------------------------------- names

function loadNames() {
  try {
    const obj = JSON.parse(localStorage.getItem("wc.names") || "{}");
    return new Map(Object.entries(obj).filter(([, v]) => typeof v === "string"));
  } catch {
    return new Map();
  }
}

function learnName(userId, name) {
  if (state.names.get(userId) === name) return;
  state.names.set(userId, name);
  const entries = [...state.names.entries()].slice(-500);
  localStorage.setItem("wc.names", JSON.stringify(Object.fromEntries(entries)));
  for (const rec of state.messages.values()) {
    if (rec.userId === userId) rec.el.querySelector(".author").textContent = name;
  }
}

// fetchName asks the server for a user's name once per page load; a name
// from the server replaces one learned from a typing packet, which anyone
// could have typed.
const nameFetches = new Set();
function fetchName(userId) {
  if (!userId || nameFetches.has(userId)) return;
  nameFetches.add(userId);
  api("GET", `/api/users/${encodeURIComponent(userId)}`)
    .then((u) => {
      if (u && typeof u.name === "string" && u.name.trim()) {
        state.verifiedNames.add(userId);
        learnName(userId, u.name.trim().slice(0, 64));
      }
    })
    .catch(() => nameFetches.delete(userId));
}

function displayName(userId) {
  if (state.user && userId === state.user.id) return state.user.name;
  fetchName(userId);
  const name = state.names.get(userId);
  if (name) return name;
  if (!userId) return "unknown";
  return userId.length > 10 ? `user ${userId.slice(0, 8)}…` : `user ${userId}`;
}

// ---------------------------------------------------------------- messages

/**
 * addRecord makes the record and element of one message. reactions maps a
 * reaction kind to the set of user ids that hold it.
 */
function addRecord({ id, userId, text, createdAt, pending = false, deleted = false, reactions = [] }) {
  const rec = {
    id,
    userId,
    text,
    createdAt,
    pending,
    failed: false,
    deleted,
    reactions: new Map(),
    el: null,
  };
  for (const r of reactions) {
    if (r && Array.isArray(r.users)) rec.reactions.set(r.kind, new Set(r.users.map(String)));
  }
  rec.el = renderMessage(rec);
  state.messages.set(id, rec);
  return rec;
}

function renderMessage(rec) {
  const mine = state.user && rec.userId === state.user.id;
  const li = document.createElement("li");
  li.className = "msg";
  li.classList.toggle("mine", mine);
  li.dataset.testid = "message";
  li.dataset.id = rec.id;
  li.dataset.user = rec.userId || "";

  const meta = document.createElement("div");
  meta.className = "meta";
  const author = document.createElement("span");
  author.className = "author";
  author.textContent = displayName(rec.userId);
  const time = document.createElement("time");
  time.dateTime = rec.createdAt.toISOString();
  time.textContent = rec.createdAt.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  time.title = rec.createdAt.toLocaleString();
  const status = document.createElement("span");
  status.className = "status";
  meta.append(author, time, status);

  const body = document.createElement("p");
  body.className = "text";
  body.textContent = rec.text;

  const actions = document.createElement("div");
  actions.className = "actions";
  for (const r of REACTIONS) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "react";
    b.dataset.testid = `react-${r.key}`;
    b.dataset.kind = String(r.kind);
    b.title = r.label;
    b.setAttribute("aria-label", r.label);
    const count = document.createElement("span");
    count.className = "count";
    count.dataset.testid = `reaction-count-${r.key}`;
    b.append(icon(r.icon), count);
    b.addEventListener("click", () => react(rec, r.kind));
    actions.append(b);
  }
  if (mine) {
    const del = document.createElement("button");
    del.type = "button";
    del.className = "delete link";
    del.dataset.testid = "delete";
    del.textContent = "Delete";
    del.addEventListener("click", () => deleteMessage(rec, del));
    actions.append(del);
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry link";
    retry.dataset.testid = "retry";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => retryMessage(rec));
    actions.append(retry);
  }
  li.append(meta, body, actions);
  renderReactions(rec, li);
  renderStatus(rec, li);
  return li;
}

function renderReactions(rec, li = rec.el) {
  for (const r of REACTIONS) {
    const users = rec.reactions.get(r.kind);
    const n = users ? users.size : 0;
    const b = li.querySelector(`[data-testid="react-${r.key}"]`);
    const count = b.querySelector(".count");
    count.textContent = String(n);
    b.dataset.count = String(n);
    b.setAttribute("aria-pressed", String(Boolean(state.user && users && users.has(state.user.id))));
    b.title = n ? `${r.label}: ${[...users].map(displayName).join(", ")}` : r.label;
  }
}

function renderStatus(rec, li = rec.el) {
  const s = rec.deleted ? "deleted" : rec.failed ? "failed" : rec.pending ? "pending" : "sent";
  li.dataset.state = s;
  const status = li.querySelector(".status");
  status.textContent = { pending: "sending…", failed: "not sent", deleted: "", sent: "" }[s];
  if (rec.deleted) {
    li.querySelector(".text").textContent = "This message was deleted.";
  }
  for (const b of li.querySelectorAll(".react")) b.disabled = rec.pending || rec.deleted;
}

/** Places a record's element: "top" before everything, "bottom" after the
 * sent messages but before the pending ones, "end" last of all. */
function insertRecord(rec, where, after = null) {
  if (after) {
    after.el.after(rec.el);
  } else if (where === "top") {
    ui.messages.prepend(rec.el);
  } else if (where === "bottom") {
    const firstPending = ui.messages.querySelector('[data-state="pending"], [data-state="failed"]');
    if (firstPending) firstPending.before(rec.el);
    else ui.messages.append(rec.el);
  } else {
    ui.messages.append(rec.el);
  }
}

function markDeleted(id) {
  acknowledge(id);
  const rec = state.messages.get(id);
  if (!rec || rec.deleted) return;
  rec.deleted = true;
  rec.pending = false;
  rec.reactions.clear();
  renderReactions(rec);
  renderStatus(rec);
}

function toggleReaction(id, userId, kind) {
  const rec = state.messages.get(id);
  if (!rec || rec.deleted) return; // outside the loaded window; history has it
  let users = rec.reactions.get(kind);
  if (!users) rec.reactions.set(kind, (users = new Set()));
  if (users.has(userId)) users.delete(userId);
  else users.add(userId);
  if (users.size === 0) rec.reactions.delete(kind);
  renderReactions(rec);
}

function react(rec, kind) {
  if (rec.pending || rec.deleted) return;
  if (!sendPacket({ kind: Kind.Reaction, messageId: rec.id, reactionKind: kind })) {
    showError("offline", "Not connected: the reaction was not sent.", NOTICE_MS);
  }
}

async function deleteMessage(rec, button) {
  if (button.dataset.confirm !== "1") {
    // Two taps, so that a stray tap on a phone deletes nothing.
    button.dataset.confirm = "1";
    button.textContent = "Delete?";
    setTimeout(() => {
      button.dataset.confirm = "";
      button.textContent = "Delete";
    }, 4000);
    return;
  }
  button.disabled = true;
  try {
    await api("DELETE", `/api/messages/${encodeURIComponent(rec.id)}?room=${encodeURIComponent(state.room)}`);
    markDeleted(rec.id);
  } catch (err) {
    showError("api", `Could not delete the message: ${err.message}`, NOTICE_MS);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- sending

function newMessageId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function onSend(event) {
  event.preventDefault();
  const text = ui.input.value.trim();
  if (!text) return;
  const size = utf8.encode(text).length;
  if (size > MAX_TEXT_BYTES) {
    showError("input", `The message is too long: ${size} bytes, and the limit is ${MAX_TEXT_BYTES}. Shorten it and send again.`);
    return;
  }
  clearError("input");
  const o = { id: newMessageId(), text, createdAt: Date.now(), sends: 0, lastSent: 0, failed: false };
  state.outbox.set(o.id, o);
  saveOutbox();
  const rec = addRecord({ id: o.id, userId: state.user.id, text, createdAt: new Date(o.createdAt), pending: true });
  insertRecord(rec, "end");
  scrollToBottom();
  ui.input.value = "";
  updateCounter();
  autosize();
  transmit(o);
  // Receivers end our typing notice when the message arrives, so the next
  // keystroke must be free to start a new one.
  state.lastTypingSent = 0;
  if (!state.connected) {
    showError("offline", "Not connected: the message will be sent when the connection is back.", NOTICE_MS);
  }
}

function transmit(o) {
  if (sendPacket({ kind: Kind.Message, messageId: o.id, payload: o.text })) {
    o.sends++;
    o.lastSent = Date.now();
  }
}

/** Resends one due message per tick, and gives up on one sent too often. */
function outboxTick() {
  if (!state.connected) return;
  const now = Date.now();
  for (const o of state.outbox.values()) {
    if (o.failed || (o.lastSent && now - o.lastSent < RESEND_AFTER_MS)) continue;
    if (o.sends >= MAX_SENDS) {
      o.failed = true;
      const rec = state.messages.get(o.id);
      if (rec) {
        rec.failed = true;
        renderStatus(rec);
      }
      showError("send", "A message could not be sent. Use Retry on it to try again.", NOTICE_MS);
      continue;
    }
    transmit(o);
    return;
  }
}

function retryMessage(rec) {
  const o = state.outbox.get(rec.id);
  if (!o) return;
  o.failed = false;
  o.sends = 0;
  o.lastSent = 0;
  rec.failed = false;
  renderStatus(rec);
  outboxTick();
}

/** Drops a message from the outbox once the server has it. */
function acknowledge(id) {
  if (state.outbox.delete(id)) saveOutbox();
}

function outboxKey() {
  return `wc.outbox.${state.user.id}.${state.room}`;
}

/** The outbox is kept in localStorage so a reload still delivers it. */
function saveOutbox() {
  if (!state.user || !state.room) return;
  const list = [...state.outbox.values()].map(({ id, text, createdAt }) => ({ id, text, createdAt }));
  if (list.length) localStorage.setItem(outboxKey(), JSON.stringify(list));
  else localStorage.removeItem(outboxKey());
}

function restoreOutbox() {
  let list = [];
  try {
    list = JSON.parse(localStorage.getItem(outboxKey()) || "[]");
  } catch {
    list = [];
  }
  for (const m of Array.isArray(list) ? list : []) {
    if (!m || typeof m.id !== "string" || typeof m.text !== "string") continue;
    const o = { id: m.id, text: m.text, createdAt: Number(m.createdAt) || Date.now(), sends: 0, lastSent: 0, failed: false };
    state.outbox.set(o.id, o);
    const rec = addRecord({ id: o.id, userId: state.user.id, text: o.text, createdAt: new Date(o.createdAt), pending: true });
    insertRecord(rec, "end");
  }
}

// ---------------------------------------------------------------- history

function pageSizeFromURL() {
  const n = Number.parseInt(new URLSearchParams(location.search).get("pageSize") || "", 10);
  return n >= 1 && n <= 100 ? n : DEFAULT_PAGE;
}

/**
 * loadHistory fetches one page and merges it. "initial" is the newest page
 * on joining, "older" the page before the oldest shown, "resync" the newest
 * page again after a reconnect, to pick up what was missed meanwhile.
 */
async function loadHistory(mode) {
  const roomGen = state.roomGen;
  const room = state.room;
  const params = new URLSearchParams({ room, limit: String(state.pageSize) });
  if (mode === "older") {
    if (state.loadingOlder) return;
    const first = ui.messages.querySelector('[data-state="sent"], [data-state="deleted"]');
    const rec = first && state.messages.get(first.dataset.id);
    if (!rec) return;
    params.set("cursor", rec.id);
    state.loadingOlder = true;
    ui.loadOlder.disabled = true;
  }
  const startedAt = Date.now();
  let page;
  try {
    const data = await api("GET", `/api/messages?${params}`);
    page = Array.isArray(data && data.messages) ? data.messages : [];
  } catch (err) {
    if (roomGen === state.roomGen) showError("history", `Could not load history: ${err.message}`, NOTICE_MS);
    return;
  } finally {
    if (mode === "older") {
      state.loadingOlder = false;
      ui.loadOlder.disabled = false;
    }
  }
  if (roomGen !== state.roomGen) return;
  clearError("history");
  if (mode !== "resync") {
    state.hasOlder = page.length >= state.pageSize;
    ui.loadOlder.hidden = !state.hasOlder;
    ui.historyStart.hidden = state.hasOlder;
  }
  const fromBottom = ui.log.scrollHeight - ui.log.scrollTop;
  merge(page.slice().reverse(), mode === "resync" ? "bottom" : "top", startedAt);
  if (mode === "older") ui.log.scrollTop = ui.log.scrollHeight - fromBottom;
  else if (mode === "initial") scrollToBottom();
  // Until the log can scroll there is no scrolling up to ask for more.
  if (mode !== "resync" && state.hasOlder && ui.log.scrollHeight <= ui.log.clientHeight + 40) {
    setTimeout(() => roomGen === state.roomGen && loadHistory("older"), 0);
  }
}

/** Converts one history item (http-api.md § Messages) to record fields. */
function fromHistory(m) {
  let createdAt = new Date(m.createdAt);
  if (Number.isNaN(createdAt.getTime())) createdAt = new Date();
  return {
    id: String(m.refrenceId ?? m.id),
    userId: m.sentBy == null ? null : String(m.sentBy),
    text: typeof m.message === "string" ? m.message : "",
    createdAt,
    deleted: Boolean(m.deletedAt),
    reactions: Array.isArray(m.reactions) ? m.reactions : [],
  };
}

/**
 * merge inserts the messages of a page (oldest first) that are not shown
 * yet, each after the page's previous message, and refreshes the ones that
 * are: their reactions, unless a live Reaction for that message arrived
 * after the request went out (the page may predate it).
 */
function merge(items, where, startedAt) {
  let prev = null;
  for (const m of items) {
    const f = fromHistory(m);
    const rec = state.messages.get(f.id);
    if (rec) {
      acknowledge(f.id);
      if (rec.pending) {
        rec.pending = false;
        rec.failed = false;
      }
      if (f.deleted) rec.deleted = true;
      if ((state.reactionSeen.get(f.id) || 0) < startedAt) {
        rec.reactions = addRecordReactions(f.reactions);
        renderReactions(rec);
      }
      renderStatus(rec);
      if (rec.el.dataset.state !== "pending") prev = rec;
      continue;
    }
    const r = addRecord(f);
    if (prev) insertRecord(r, where, prev);
    else if (where === "top") {
      // Older than anything shown from this page: before the first shown.
      const next = items.map((x) => state.messages.get(String(x.refrenceId ?? x.id))).find((x) => x && x !== r && x.el.isConnected);
      if (next) next.el.before(r.el);
      else insertRecord(r, "top");
    } else insertRecord(r, where);
    prev = r;
  }
}

function addRecordReactions(list) {
  const map = new Map();
  for (const r of list) if (r && Array.isArray(r.users) && r.users.length) map.set(r.kind, new Set(r.users.map(String)));
  return map;
}

// ---------------------------------------------------------------- layout

function nearBottom() {
  return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 80;
}

function scrollToBottom() {
  ui.log.scrollTop = ui.log.scrollHeight;
}

function onScroll() {
  if (ui.log.scrollTop < 40 && state.hasOlder && !state.loadingOlder) loadHistory("older");
}

function autosize() {
  ui.input.style.height = "auto";
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, 160)}px`;
}

function updateCounter() {
  const size = utf8.encode(ui.input.value.trim()).length;
  ui.counter.hidden = size < MAX_TEXT_BYTES * 0.8;
  ui.counter.textContent = `${size}/${MAX_TEXT_BYTES}`;
  ui.counter.classList.toggle("over", size > MAX_TEXT_BYTES);
}

function onKeyDown(event) {
  // Enter sends, Shift+Enter makes a new line.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  }
}

// ---------------------------------------------------------------- start

async function start() {
  ui.authForm.addEventListener("submit", signIn);
  ui.signUp.addEventListener("click", signUp);
  ui.signOut.addEventListener("click", signOut);
  ui.sessionsOpen.addEventListener("click", () => toggleSessions(ui.sessions.hidden));
  ui.sessionsClose.addEventListener("click", () => toggleSessions(false));
  ui.revokeOthers.addEventListener("click", revokeOthers);
  ui.roomForm.addEventListener("submit", onRoomSubmit);
  ui.composer.addEventListener("submit", onSend);
  ui.input.addEventListener("input", onInput);
  ui.input.addEventListener("keydown", onKeyDown);
  ui.log.addEventListener("scroll", onScroll, { passive: true });
  ui.loadOlder.addEventListener("click", () => loadHistory("older"));
  window.addEventListener("online", reconnectSoon);
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && reconnectSoon());
  window.addEventListener("hashchange", () => {
    const room = roomFromHash();
    if (state.user && room && room !== state.room) joinRoom(room);
  });
  setInterval(outboxTick, OUTBOX_TICK_MS);

  let session;
  try {
    [state.codec, session] = await Promise.all([loadCodec("/codec.wasm"), api("GET", "/api/auth/get-session")]);
  } catch (err) {
    ui.loading.hidden = true;
    showError("fatal", `The page could not start: ${err.message}. Reload to try again.`);
    return;
  }
  ui.loading.hidden = true;
  document.body.dataset.ready = "true";
  if (session && session.user) signedIn(session.user);
  else signedOut();
}

start();
