// The chat page of a Casebook messaging system. Our own vanilla JavaScript, no dependencies.
//
// It speaks the engine's public surface only: the HTTP API under config.api and the WebSocket
// config.ws (protocol: casebook/engines/messaging/gateway.py), both authenticated by the
// session cookie. Every text from the server is put in the page with textContent, never as HTML.
// Every word the page shows comes from the strings table the server put in #chat-strings (in the
// system's language for this request): t(key, values) fills its {name} fields.

const config = JSON.parse(document.getElementById("chat-config").textContent);
const { lang: LANG, strings: STRINGS } = JSON.parse(document.getElementById("chat-strings").textContent);
const ME = config.me.id;
const CONTENT_KINDS = new Set(["text", "media", "sticker", "location", "contact", "encrypted"]);
const EMOJI = ["😀", "😂", "😊", "😍", "🤔", "😎", "😢", "😡", "👍", "👎", "👏", "🙏",
  "🎉", "❤️", "🔥", "✅", "👋", "🙂", "😉", "😅", "🤝", "💬", "📷", "☕"];
const PAGE_SIZE = 50;
const TYPING_EVERY_MS = 2000;
const MAX_RECONNECT_MS = 15000;
const MAX_ATTACHMENTS = 10;
const DEVICE_KEY = `casebook:${config.system}:device:${ME}`;

const $ = (id) => document.getElementById(id);

// The string `key` with its {name} fields filled from `values` (the server checks that every
// language has every key and the same fields as English).
function t(key, values = {}) {
  return STRINGS[key].replace(/\{([a-z_]+)\}/g, (field, name) => (name in values ? String(values[name]) : field));
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// HTTP --------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.retryAfter = retryAfter;
  }
}

async function api(method, path, { json, form } = {}) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (form) init.body = form;
  else if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(config.api + path, init);
  } catch (error) {
    throw new ApiError(0, { detail: t("error_unreachable") });
  }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body, response.headers.get("Retry-After"));
  return body;
}

// What went wrong, and what the user can do about it.
function explain(error) {
  if (!(error instanceof ApiError)) return t("error_unexpected", { error: error.message });
  const detail = error.problem.detail || error.problem.title || "";
  switch (error.status) {
    case 0: return t("error_offline");
    case 401: return t("error_session_ended");
    case 403: return t("error_forbidden", { detail });
    case 404: return t("error_not_found", { detail });
    case 409: return t("error_conflict", { detail });
    case 413: return t("error_too_large", { detail });
    case 415: return t("error_unsupported", { detail });
    case 422: return t("error_invalid", { detail });
    case 429: return error.retryAfter
      ? t("error_rate_limited", { detail, seconds: error.retryAfter })
      : t("error_rate_limited_unknown", { detail });
    default:
      return error.status >= 500 ? t("error_server") : t("error_other", { detail });
  }
}

function showError(error) {
  const text = typeof error === "string" ? error : explain(error);
  $("chat-error-text").textContent = text;
  const box = $("chat-error");
  box.hidden = false;
  const old = box.querySelector("a");
  if (old) old.remove();
  if (error instanceof ApiError && error.status === 401) {
    box.insertBefore(el("a", { href: `/login?next=${encodeURIComponent(config.home)}`, text: ` ${t("log_in")}` }),
      $("chat-error-close"));
  }
}

// State -------------------------------------------------------------------------------------

const state = {
  deviceId: null,
  conversations: new Map(), // id -> conversation (see addConversation)
  names: new Map(), // user id -> display name
  nameRequests: new Map(), // user id -> Promise
  presence: new Map(), // user id -> {online, last_seen}
  conversationRequests: new Map(), // id -> Promise
  openId: null,
  thread: null,
  socket: null,
  ready: false,
  heartbeat: null,
  reconnectDelay: 500,
  refs: new Map(), // ref -> {resolve, reject}
  nextRef: 1,
  ackDue: new Map(), // conversation id -> seq
  ackTimer: null,
  typing: new Map(), // conversation id -> Map(user id -> expires at ms)
  lastTypingSent: 0,
  draft: [], // attachments uploaded for the next message: {id, name, kind, preview}
  deviceRetried: false,
};

function conversationName(conversation) {
  if (conversation.kind !== "direct") return conversation.title || t("untitled_group");
  if (!conversation.peerId) return t("direct_chat");
  return nameOf(conversation.peerId);
}

function nameOf(userId) {
  if (userId === ME) return t("you");
  const known = state.names.get(userId);
  if (known) return known;
  if (!state.nameRequests.has(userId)) {
    const request = api("GET", `/users/${userId}`)
      .then((profile) => {
        state.names.set(userId, profile.display_name);
        renderNames();
      })
      .catch(() => state.names.set(userId, t("unknown_user", { id: userId })));
    state.nameRequests.set(userId, request);
  }
  return t("unknown_user", { id: userId });
}

function renderNames() {
  renderList();
  if (state.thread) {
    renderThreadHead();
    for (const node of document.querySelectorAll(".message-sender[data-user-id]")) {
      node.textContent = nameOf(node.dataset.userId);
    }
  }
}

function preview(message) {
  if (!message) return t("preview_none");
  if (message.deleted || message.kind === "delete") return t("preview_deleted");
  const text = previewText(message);
  return message.sender_id === ME ? t("preview_mine", { text }) : text;
}

function previewText(message) {
  if (message.kind === "edit") return t("preview_edited", { text: message.body });
  if (message.kind === "media") return `📎 ${message.body || t("attachment")}`;
  if (message.kind === "encrypted") return `🔒 ${t("preview_encrypted")}`;
  if (message.kind === "sticker") return t("sticker");
  if (message.kind === "location") return `📍 ${t("location")}`;
  if (message.kind === "contact") return `👤 ${t("contact")}`;
  return message.body || "";
}

function addConversation(view) {
  const existing = state.conversations.get(view.id);
  const conversation = existing || {
    id: view.id, last: null, peerId: null, marks: null, lastActivity: view.created_at,
  };
  Object.assign(conversation, {
    kind: view.kind,
    title: view.title,
    lastSeq: Math.max(view.last_seq, conversation.lastSeq || 0),
    memberCount: view.member_count,
    readSeq: Math.max(view.me ? view.me.read_seq : 0, conversation.readSeq || 0),
    unread: view.me ? view.me.unread : 0,
    role: view.me ? view.me.role : "member",
  });
  if (conversation.kind === "direct" && !conversation.peerId && view.created_by !== ME) {
    conversation.peerId = view.created_by;
  }
  state.conversations.set(view.id, conversation);
  return conversation;
}

// Fills what the list shows of a conversation: the peer of a direct chat, the last message.
async function loadSummary(conversation) {
  const tasks = [api("GET", `/conversations/${conversation.id}/messages?limit=1`)];
  if (conversation.kind === "direct" && !conversation.peerId) {
    tasks.push(api("GET", `/conversations/${conversation.id}/members?limit=2`));
  }
  const [page, members] = await Promise.all(tasks);
  const last = page.items[0];
  if (last && (!conversation.last || last.seq > conversation.last.seq)) {
    conversation.last = last;
    conversation.lastActivity = last.created_at;
  }
  if (members) {
    const peer = members.items.find((m) => m.user_id !== ME);
    if (peer) conversation.peerId = peer.user_id;
  }
}

// The conversation `id`, fetched once when an event names one the page does not know yet.
function ensureConversation(id) {
  if (state.conversations.has(id)) return Promise.resolve(state.conversations.get(id));
  if (!state.conversationRequests.has(id)) {
    const request = api("GET", `/conversations/${id}`)
      .then(async (view) => {
        const conversation = addConversation(view);
        await loadSummary(conversation);
        renderList();
        queryPresence();
        return conversation;
      })
      .finally(() => state.conversationRequests.delete(id));
    state.conversationRequests.set(id, request);
  }
  return state.conversationRequests.get(id);
}

async function loadConversations() {
  const page = await api("GET", "/conversations?limit=100");
  for (const view of page.items) addConversation(view);
  // At most four requests in flight: the list fills in without queueing the browser's sockets.
  const queue = [...state.conversations.values()];
  const worker = async () => {
    while (queue.length) await loadSummary(queue.shift()).catch(() => {});
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  renderList();
}

// Conversation list -------------------------------------------------------------------------

function presenceText(userId) {
  const seen = state.presence.get(userId);
  if (!seen) return "";
  if (seen.online) return t("online");
  if (!seen.last_seen) return t("presence_offline");
  return t("last_seen", { when: formatWhen(seen.last_seen) });
}

function formatWhen(iso) {
  const when = new Date(iso);
  const now = new Date();
  const time = when.toLocaleTimeString(LANG, { hour: "2-digit", minute: "2-digit" });
  return when.toDateString() === now.toDateString() ? time : `${when.toLocaleDateString(LANG)} ${time}`;
}

function typingNames(conversationId) {
  const typing = state.typing.get(conversationId);
  if (!typing) return [];
  const now = Date.now();
  return [...typing].filter(([, until]) => until > now).map(([user]) => nameOf(user));
}

function renderList() {
  const list = $("conversation-list");
  // The list is redrawn on every event: keep keyboard focus on the same conversation.
  const focused = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.conversationId : undefined;
  const items = [...state.conversations.values()].sort((a, b) =>
    String(b.lastActivity).localeCompare(String(a.lastActivity)));
  list.replaceChildren(...items.map((c) => {
    const name = conversationName(c);
    const online = c.peerId && state.presence.get(c.peerId)?.online;
    const typing = typingNames(c.id);
    const unread = c.unread > 0
      ? el("span", { class: "unread", "data-testid": "unread", "aria-label": t("unread_count", { count: c.unread }), text: String(c.unread) })
      : null;
    const button = el("button", {
      type: "button",
      class: "conversation",
      "data-conversation-id": c.id,
      "aria-current": c.id === state.openId ? "true" : null,
      onclick: () => openThread(c.id),
    },
    el("span", { class: "conversation-top" },
      el("span", { class: "conversation-name", text: name }),
      online ? el("span", { class: "presence-dot", title: t("online"), "aria-label": t("online") }) : null,
      unread),
    el("span", { class: "conversation-last", "data-testid": "last-message",
      text: typing.length ? t("typing_list", { names: typing.join(", ") }) : preview(c.last) }));
    return el("li", {}, button);
  }));
  $("conversation-empty").hidden = items.length > 0;
  if (focused) {
    const again = list.querySelector(`button[data-conversation-id="${focused}"]`);
    if (again) again.focus();
  }
}

// Thread ------------------------------------------------------------------------------------

function receiptFor(conversation, message) {
  const sent = { state: "sent", label: t("receipt_sent") };
  if (!conversation.marks) return sent;
  const others = [...conversation.marks].filter(([user]) => user !== ME).map(([, m]) => m);
  if (!others.length) return sent;
  const read = others.filter((m) => m.read >= message.seq).length;
  const delivered = others.filter((m) => m.delivered >= message.seq).length;
  if (conversation.kind === "direct") {
    if (read) return { state: "read", label: t("receipt_read") };
    if (delivered) return { state: "delivered", label: t("receipt_delivered") };
    return sent;
  }
  const total = others.length;
  if (read === total) return { state: "read", label: t("receipt_read_by", { count: read, total }) };
  if (read) return { state: "read-some", label: t("receipt_read_by", { count: read, total }) };
  if (delivered) return { state: "delivered", label: t("receipt_delivered_to", { count: delivered, total }) };
  return sent;
}

function renderThreadHead() {
  const thread = state.thread;
  const conversation = thread && state.conversations.get(thread.id);
  if (!conversation) return;
  $("thread-title").textContent = conversationName(conversation);
  const typing = typingNames(conversation.id);
  let status;
  const names = typing.join(", ");
  if (typing.length) status = t(typing.length > 1 ? "typing_many" : "typing_one", { names });
  else if (conversation.kind === "direct") status = presenceText(conversation.peerId);
  else status = t("member_count", { count: conversation.memberCount });
  $("thread-status").textContent = status;
  $("typing").textContent = typing.length ? t("typing_list", { names }) : "";
}

function attachmentsOf(message) {
  return (message.data && Array.isArray(message.data.attachments)) ? message.data.attachments : [];
}

function renderMessage(message, { pending = false } = {}) {
  const conversation = state.conversations.get(message.conversation_id);
  const mine = message.sender_id === ME;
  const node = el("li", {
    class: `message ${mine ? "mine" : "theirs"}${pending ? " pending" : ""}`,
    "data-testid": "message",
    "data-seq": pending ? null : message.seq,
    "data-client-id": message.client_id,
  });
  if (!mine && conversation && conversation.kind !== "direct") {
    node.append(el("p", { class: "message-sender", "data-user-id": message.sender_id, text: nameOf(message.sender_id) }));
  }
  if (message.deleted) {
    node.append(el("p", { class: "message-body deleted", text: t("message_deleted") }));
  } else if (message.kind === "encrypted") {
    node.append(el("p", { class: "message-body muted", text: t("message_encrypted") }));
  } else {
    if (message.body) node.append(el("p", { class: "message-body", "data-testid": "message-body", text: message.body }));
    const ids = attachmentsOf(message);
    if (ids.length) {
      const list = el("ul", { class: "message-attachments", "aria-label": t("attachments") });
      for (const id of ids) {
        const item = el("li", { class: "attachment", text: t("attachment_loading") });
        list.append(item);
        if (!pending) showAttachment(id, item);
      }
      node.append(list);
    }
    if (message.kind === "location" && message.data) {
      node.append(el("p", { class: "message-body", text: `📍 ${message.data.name || ""} ${message.data.latitude}, ${message.data.longitude}` }));
    }
    if (message.kind === "contact" && message.data) {
      node.append(el("p", { class: "message-body", text: `👤 ${message.data.name} ${message.data.phone || ""}` }));
    }
    if (message.kind === "sticker" && message.data) {
      node.append(el("p", { class: "message-body", text: `${t("sticker")} ${message.data.pack}/${message.data.sticker}` }));
    }
  }
  const meta = el("p", { class: "message-meta" },
    message.created_at ? el("time", { datetime: message.created_at, text: formatWhen(message.created_at) }) : null,
    message.edited_at && !message.deleted ? el("span", { class: "edited", text: ` · ${t("edited")}` }) : null);
  if (mine) {
    const receipt = pending
      ? { state: "sending", label: t("receipt_sending") }
      : receiptFor(conversation, message);
    meta.append(" · ", el("span", {
      class: `receipt receipt-${receipt.state}`, "data-testid": "receipt", "data-state": receipt.state, text: receipt.label,
    }));
  }
  node.append(meta);
  return node;
}

function refreshReceipts() {
  const thread = state.thread;
  if (!thread) return;
  const conversation = state.conversations.get(thread.id);
  for (const node of $("message-list").querySelectorAll("li.message.mine[data-seq]")) {
    const message = thread.messages.get(Number(node.dataset.seq));
    const span = node.querySelector(".receipt");
    if (!message || !span) continue;
    const receipt = receiptFor(conversation, message);
    span.textContent = receipt.label;
    span.dataset.state = receipt.state;
    span.className = `receipt receipt-${receipt.state}`;
  }
}

function nearBottom(box) {
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

// Puts a log entry into the open thread, in seq order; edits and deletes change their target.
function placeInThread(message) {
  const thread = state.thread;
  if (!thread || thread.id !== message.conversation_id) return;
  const list = $("message-list");
  if (message.kind === "edit" || message.kind === "delete") {
    const target = thread.messages.get(message.target_seq);
    if (!target) return;
    if (message.kind === "edit") Object.assign(target, { body: message.body, edited_at: message.created_at });
    else Object.assign(target, { body: null, data: null, deleted: true });
    const old = list.querySelector(`li[data-seq="${message.target_seq}"]`);
    if (old) old.replaceWith(renderMessage(target));
    return;
  }
  if (thread.messages.has(message.seq)) return;
  thread.messages.set(message.seq, message);
  const box = $("messages");
  const stick = nearBottom(box) || message.sender_id === ME;
  const pending = list.querySelector(`li.pending[data-client-id="${CSS.escape(message.client_id)}"]`);
  if (pending && message.sender_id === ME) pending.remove();
  const node = renderMessage(message);
  const after = [...list.querySelectorAll("li[data-seq]")].find((li) => Number(li.dataset.seq) > message.seq);
  if (after) list.insertBefore(node, after);
  else {
    const firstPending = list.querySelector("li.pending");
    if (firstPending) list.insertBefore(node, firstPending);
    else list.append(node);
  }
  $("thread-empty").hidden = true;
  if (stick) box.scrollTop = box.scrollHeight;
}

async function openThread(id) {
  const conversation = state.conversations.get(id);
  if (!conversation) return;
  state.openId = id;
  const thread = { id, messages: new Map(), oldest: null };
  state.thread = thread;
  $("message-list").replaceChildren();
  $("thread-empty").hidden = true;
  $("load-older").hidden = true;
  $("composer").hidden = conversation.role === "subscriber";
  renderThreadHead();
  renderList();
  try {
    const [members, page] = await Promise.all([
      api("GET", `/conversations/${id}/members?limit=200`),
      api("GET", `/conversations/${id}/messages?limit=${PAGE_SIZE}`),
    ]);
    if (state.thread !== thread) return; // another conversation was opened meanwhile
    conversation.marks = new Map(members.items.map((m) =>
      [m.user_id, { delivered: m.delivered_seq, read: m.read_seq }]));
    if (conversation.kind === "direct" && !conversation.peerId) {
      const peer = members.items.find((m) => m.user_id !== ME);
      if (peer) conversation.peerId = peer.user_id;
    }
    for (const message of [...page.items].reverse()) placeInThread(message);
    thread.oldest = page.items.length ? page.items[page.items.length - 1].seq : null;
    $("load-older").hidden = page.next_before === null;
    $("thread-empty").hidden = thread.messages.size > 0;
    renderThreadHead();
    refreshReceipts();
    $("messages").scrollTop = $("messages").scrollHeight;
    markRead(conversation);
    queryPresence();
  } catch (error) {
    showError(error);
  }
  if (!$("composer").hidden) $("composer-text").focus();
}

async function loadOlder() {
  const thread = state.thread;
  if (!thread || thread.oldest === null) return;
  const box = $("messages");
  const fromBottom = box.scrollHeight - box.scrollTop;
  try {
    const page = await api("GET", `/conversations/${thread.id}/messages?limit=${PAGE_SIZE}&before=${thread.oldest}`);
    if (state.thread !== thread) return;
    for (const message of page.items) placeInThread(message);
    if (page.items.length) thread.oldest = page.items[page.items.length - 1].seq;
    $("load-older").hidden = page.next_before === null;
    box.scrollTop = box.scrollHeight - fromBottom; // keep the messages on screen where they were
  } catch (error) {
    showError(error);
  }
}

// Tells the server the user has read the open thread, while it is on screen.
function markRead(conversation) {
  if (!conversation || state.openId !== conversation.id || document.visibilityState !== "visible") return;
  const seq = conversation.lastSeq;
  conversation.unread = 0;
  renderList();
  if (seq <= conversation.readSeq) return;
  conversation.readSeq = seq;
  if (state.ready) sendFrame({ type: "read", conversation_id: conversation.id, seq });
  else api("POST", `/conversations/${conversation.id}/read`, { json: { read_seq: seq } }).catch(showError);
}

// Attachments -------------------------------------------------------------------------------

const attachmentInfo = new Map(); // id -> Promise of the attachment's description

function describeAttachment(id) {
  if (!attachmentInfo.has(id)) attachmentInfo.set(id, api("GET", `/attachments/${id}`));
  return attachmentInfo.get(id);
}

function formatSize(bytes) {
  const number = (value) => value.toLocaleString(LANG, { maximumFractionDigits: 1 });
  if (bytes < 1024) return t("size_bytes", { size: bytes });
  if (bytes < 1024 * 1024) return t("size_kb", { size: number(bytes / 1024) });
  return t("size_mb", { size: number(bytes / 1024 / 1024) });
}

async function showAttachment(id, item, attempt = 0) {
  let info;
  try {
    info = await describeAttachment(id);
  } catch (error) {
    attachmentInfo.delete(id);
    item.textContent = error instanceof ApiError && error.status === 404
      ? t("attachment_gone")
      : t("attachment_failed");
    return;
  }
  if (info.kind === "image" && info.status === "processing" && attempt < 30) {
    // The engine makes the thumbnail in a background job; look again shortly.
    attachmentInfo.delete(id);
    item.textContent = t("image_preparing");
    setTimeout(() => showAttachment(id, item, attempt + 1), Math.min(250 * (attempt + 1), 2000));
    return;
  }
  const thumbnail = info.variants && info.variants.thumbnail;
  const box = $("messages");
  const stick = nearBottom(box); // the attachment grows the message: keep the newest in view
  if (info.kind === "image" && thumbnail) {
    item.replaceChildren(el("a", { href: info.variants.compressed ? info.variants.compressed.url : info.url, target: "_blank", rel: "noopener" },
      el("img", { src: thumbnail.url, alt: info.filename || t("image"), width: thumbnail.width, height: thumbnail.height, loading: "lazy", "data-testid": "thumbnail" })));
  } else {
    item.replaceChildren(el("a", { href: info.url, download: info.filename || true, text: t("file_label", { name: info.filename || t("file"), size: formatSize(info.size) }) }));
  }
  if (stick) box.scrollTop = box.scrollHeight;
}

function kindOfFile(file) {
  if (/^image\/(jpeg|png|gif|webp)$/.test(file.type)) return "image";
  if (file.type.startsWith("video/")) return "video";
  if (file.type.startsWith("audio/")) return "voice";
  return "file";
}

async function uploadFiles(files) {
  for (const file of files) {
    if (state.draft.length >= MAX_ATTACHMENTS) {
      showError(t("too_many_attachments", { max: MAX_ATTACHMENTS }));
      return;
    }
    const kind = kindOfFile(file);
    const entry = { id: null, name: file.name, kind, preview: kind === "image" ? URL.createObjectURL(file) : null };
    state.draft.push(entry);
    renderDraft();
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      const info = await api("POST", `/attachments?kind=${kind}`, { form });
      entry.id = info.id;
    } catch (error) {
      removeDraft(entry);
      showError(error);
    }
    renderDraft();
  }
}

function removeDraft(entry) {
  state.draft = state.draft.filter((e) => e !== entry);
  if (entry.preview) URL.revokeObjectURL(entry.preview);
  renderDraft();
}

function renderDraft() {
  $("draft-attachments").replaceChildren(...state.draft.map((entry) => el("li", { class: "draft" },
    entry.preview ? el("img", { src: entry.preview, alt: "", class: "draft-thumb" }) : null,
    el("span", { text: entry.id ? entry.name : t("uploading", { name: entry.name }) }),
    el("button", { type: "button", class: "link-button", "aria-label": t("remove_named", { name: entry.name }), text: "✕", onclick: () => removeDraft(entry) }))));
}

// Sending -----------------------------------------------------------------------------------

function newClientId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

async function sendMessage() {
  const conversation = state.conversations.get(state.openId);
  if (!conversation) return;
  const textarea = $("composer-text");
  const text = textarea.value.trim();
  if (state.draft.some((e) => !e.id)) {
    showError(t("still_uploading"));
    return;
  }
  const attachments = state.draft.map((e) => e.id);
  if (!text && !attachments.length) return;
  const request = attachments.length
    ? { kind: "media", body: text || null, data: { attachments } }
    : { kind: "text", body: text };
  const clientId = newClientId();
  const pending = { ...request, conversation_id: conversation.id, client_id: clientId, sender_id: ME, created_at: null };
  $("message-list").append(renderMessage(pending, { pending: true }));
  $("thread-empty").hidden = true;
  $("messages").scrollTop = $("messages").scrollHeight;
  textarea.value = "";
  const draft = state.draft;
  state.draft = [];
  renderDraft();
  try {
    if (state.ready) {
      // The socket does not send our own entry back: the answer carries it.
      const sent = await ask({ type: "send", conversation_id: conversation.id, client_id: clientId, ...request });
      if (sent.message) onEntry(sent.message);
    } else {
      const sent = await api("POST", `/conversations/${conversation.id}/messages`, { json: { client_id: clientId, ...request } });
      onEntry(sent);
    }
    for (const entry of draft) if (entry.preview) URL.revokeObjectURL(entry.preview);
  } catch (error) {
    const node = $("message-list").querySelector(`li.pending[data-client-id="${CSS.escape(clientId)}"]`);
    if (node) node.remove();
    if (!textarea.value) textarea.value = text; // give the text back so nothing typed is lost
    state.draft = draft.concat(state.draft);
    renderDraft();
    showError(error);
  }
}

// WebSocket ---------------------------------------------------------------------------------

function setConnection(text, stateName) {
  const node = $("chat-connection");
  node.textContent = text;
  node.dataset.state = stateName;
}

function sendFrame(frame) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

// A frame that the server answers (send): resolves with the reply, rejects with an ApiError.
function ask(frame) {
  const ref = String(state.nextRef++);
  return new Promise((resolve, reject) => {
    state.refs.set(ref, { resolve, reject });
    if (!sendFrame({ ...frame, ref })) {
      state.refs.delete(ref);
      reject(new ApiError(0, { detail: t("not_connected") }));
    }
  });
}

function queueAck(conversationId, seq) {
  if ((state.ackDue.get(conversationId) || 0) >= seq) return;
  state.ackDue.set(conversationId, seq);
  if (state.ackTimer) return;
  // One ack per conversation for a burst of entries.
  state.ackTimer = setTimeout(() => {
    state.ackTimer = null;
    for (const [conversationId_, due] of state.ackDue) {
      sendFrame({ type: "ack", conversation_id: conversationId_, seq: due });
    }
    state.ackDue.clear();
  }, 50);
}

function queryPresence() {
  const peers = new Set();
  for (const c of state.conversations.values()) if (c.peerId) peers.add(c.peerId);
  const open = state.conversations.get(state.openId);
  if (open && open.marks && open.kind !== "direct") {
    for (const user of open.marks.keys()) if (user !== ME) peers.add(user);
  }
  const ids = [...peers].slice(0, 200);
  if (ids.length && state.ready) sendFrame({ type: "presence", user_ids: ids });
}

function connect() {
  setConnection(t("connecting"), "connecting");
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + location.host + config.ws);
  state.socket = socket;
  socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "hello", device_id: state.deviceId })));
  socket.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    onFrame(frame);
  });
  socket.addEventListener("close", (event) => onClose(socket, event));
}

async function onClose(socket, event) {
  if (state.socket !== socket) return;
  state.ready = false;
  clearInterval(state.heartbeat);
  for (const { reject } of state.refs.values()) reject(new ApiError(0, { detail: t("connection_dropped") }));
  state.refs.clear();
  if (event.code === 4401) {
    setConnection(t("signed_out"), "offline");
    showError(new ApiError(401, { detail: t("session_ended") }));
    return;
  }
  if (event.code === 4403 && !state.deviceRetried) {
    // This browser's device was revoked (or belongs to someone else): register a new one.
    state.deviceRetried = true;
    localStorage.removeItem(DEVICE_KEY);
    try {
      await ensureDevice();
    } catch (error) {
      showError(error);
      return;
    }
    connect();
    return;
  }
  if (event.code === 4403) {
    setConnection(t("refused"), "offline");
    showError(t("error_refused", { reason: event.reason }));
    return;
  }
  setConnection(t("reconnecting"), "offline");
  const delay = state.reconnectDelay;
  state.reconnectDelay = Math.min(state.reconnectDelay * 2, MAX_RECONNECT_MS);
  setTimeout(connect, delay);
}

function onFrame(frame) {
  const waiting = frame.ref && state.refs.get(frame.ref);
  if (waiting) {
    state.refs.delete(frame.ref);
    if (frame.type === "error") waiting.reject(new ApiError(frame.problem.status, frame.problem, frame.problem.retry_after));
    else waiting.resolve(frame);
    return;
  }
  switch (frame.type) {
    case "ready":
      state.ready = true;
      state.reconnectDelay = 500;
      state.deviceRetried = false;
      setConnection(t("connected"), "online");
      clearInterval(state.heartbeat);
      state.heartbeat = setInterval(() => sendFrame({ type: "ping" }), frame.heartbeat_interval * 1000);
      queryPresence();
      break;
    case "resumed":
      markRead(state.conversations.get(state.openId));
      break;
    case "message":
      onEntry(frame.message);
      break;
    case "receipts":
      onReceipts(frame);
      break;
    case "typing":
      onTyping(frame);
      break;
    case "presence":
      state.presence.set(frame.user_id, { online: frame.online, last_seen: frame.last_seen });
      renderList();
      renderThreadHead();
      break;
    case "presence_list":
      for (const user of frame.users) state.presence.set(user.user_id, { online: user.online, last_seen: user.last_seen });
      renderList();
      renderThreadHead();
      break;
    case "joined":
      ensureConversation(frame.conversation_id).catch(showError);
      break;
    case "left":
      onLeft(frame.conversation_id);
      break;
    case "conversation": {
      const conversation = state.conversations.get(frame.conversation_id);
      if (conversation && frame.title !== undefined) conversation.title = frame.title;
      renderList();
      renderThreadHead();
      break;
    }
    case "members":
      if (state.openId === frame.conversation_id) refreshMembers(frame.conversation_id);
      break;
    case "error":
      showError(new ApiError(frame.problem.status, frame.problem));
      break;
    default:
      break;
  }
}

async function onEntry(message) {
  const id = message.conversation_id;
  let conversation = state.conversations.get(id);
  if (!conversation) {
    try {
      conversation = await ensureConversation(id);
    } catch (error) {
      return;
    }
  }
  if (message.seq > conversation.lastSeq) {
    conversation.lastSeq = message.seq;
    const onScreen = state.openId === id && document.visibilityState === "visible";
    if (CONTENT_KINDS.has(message.kind) && message.sender_id !== ME && !onScreen) conversation.unread += 1;
  }
  if (!conversation.last || message.seq >= conversation.last.seq) {
    conversation.last = message;
    conversation.lastActivity = message.created_at;
  }
  const typing = state.typing.get(id);
  if (typing) typing.delete(message.sender_id);
  placeInThread(message);
  queueAck(id, message.seq);
  if (state.openId === id && message.sender_id !== ME) markRead(conversation);
  renderList();
  renderThreadHead();
}

function onReceipts(frame) {
  // Marks only grow: a frame may repeat or trail one already seen, so keep the highest.
  let list = false;
  let thread = false;
  for (const mark of frame.receipts) {
    const conversation = state.conversations.get(mark.conversation_id);
    if (!conversation) continue;
    if (mark.user_id === ME) {
      conversation.readSeq = Math.max(conversation.readSeq, mark.read_seq);
      if (conversation.readSeq >= conversation.lastSeq) conversation.unread = 0;
      list = true;
    }
    if (conversation.marks) {
      const marks = conversation.marks.get(mark.user_id) || { delivered: 0, read: 0 };
      marks.delivered = Math.max(marks.delivered, mark.delivered_seq);
      marks.read = Math.max(marks.read, mark.read_seq);
      conversation.marks.set(mark.user_id, marks);
      if (state.openId === conversation.id) thread = true;
    }
  }
  if (list) renderList();
  if (thread) refreshReceipts();
}

function onTyping(frame) {
  let typing = state.typing.get(frame.conversation_id);
  if (!typing) state.typing.set(frame.conversation_id, (typing = new Map()));
  typing.set(frame.user_id, frame.expires_at);
  renderList();
  renderThreadHead();
  setTimeout(() => {
    renderList();
    renderThreadHead();
  }, Math.max(0, frame.expires_at - Date.now()) + 50);
}

function onLeft(conversationId) {
  state.conversations.delete(conversationId);
  if (state.openId === conversationId) {
    state.openId = null;
    state.thread = null;
    $("message-list").replaceChildren();
    $("composer").hidden = true;
    $("thread-title").textContent = t("choose_conversation");
    $("thread-status").textContent = t("left_conversation");
  }
  renderList();
}

async function refreshMembers(conversationId) {
  try {
    const members = await api("GET", `/conversations/${conversationId}/members?limit=200`);
    const conversation = state.conversations.get(conversationId);
    if (!conversation) return;
    conversation.marks = new Map(members.items.map((m) => [m.user_id, { delivered: m.delivered_seq, read: m.read_seq }]));
    conversation.memberCount = members.items.length;
    refreshReceipts();
    renderThreadHead();
  } catch (error) {
    showError(error);
  }
}

// Devices -----------------------------------------------------------------------------------

async function ensureDevice() {
  const stored = localStorage.getItem(DEVICE_KEY);
  if (stored && /^[0-9]{1,19}$/.test(stored)) {
    state.deviceId = stored;
    return;
  }
  const device = await api("POST", "/devices", { json: { name: t("device_name", { platform: navigator.platform || "?" }).slice(0, 64) } });
  localStorage.setItem(DEVICE_KEY, device.id);
  state.deviceId = device.id;
}

// Starting chats ----------------------------------------------------------------------------

// Wires a search box to a result list; `pick(profile)` is called when a person is chosen.
function userPicker(input, results, message, pick) {
  let timer = null;
  let generation = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const query = input.value.trim();
      const mine = ++generation;
      if (!query) {
        results.replaceChildren();
        message.textContent = "";
        return;
      }
      try {
        const found = (await api("GET", `/users/search?q=${encodeURIComponent(query)}&limit=20`))
          .filter((p) => p.user_id !== ME);
        if (mine !== generation) return;
        results.replaceChildren(...found.map((profile) => el("li", {},
          el("button", { type: "button", class: "user-result", onclick: () => pick(profile) },
            el("span", { text: profile.display_name }),
            profile.handle ? el("span", { class: "muted", text: ` @${profile.handle}` }) : null))));
        message.textContent = found.length
          ? t("found_count", { count: found.length })
          : t("no_one_matches", { query });
      } catch (error) {
        message.textContent = explain(error);
      }
    }, 250);
  });
}

async function startDirect(profile) {
  try {
    const view = await api("POST", "/conversations", { json: { kind: "direct", user_id: profile.user_id } });
    state.names.set(profile.user_id, profile.display_name);
    const conversation = addConversation(view);
    conversation.peerId = profile.user_id;
    $("new-chat-dialog").close();
    renderList();
    queryPresence();
    await openThread(conversation.id);
  } catch (error) {
    $("new-chat-message").textContent = explain(error);
  }
}

const groupPicked = new Map(); // user id -> profile

function renderPicked() {
  $("new-group-picked").replaceChildren(...[...groupPicked.values()].map((profile) => el("li", {},
    el("span", { text: profile.display_name }),
    el("button", { type: "button", class: "link-button", "aria-label": t("remove_named", { name: profile.display_name }), text: " ✕",
      onclick: () => { groupPicked.delete(profile.user_id); renderPicked(); } }))));
}

async function createGroup(event) {
  event.preventDefault();
  const title = $("new-group-title").value.trim();
  if (!title) {
    $("new-group-message").textContent = t("group_name_first");
    $("new-group-title").focus();
    return;
  }
  try {
    const view = await api("POST", "/conversations", { json: { kind: "group", title, members: [...groupPicked.keys()] } });
    for (const profile of groupPicked.values()) state.names.set(profile.user_id, profile.display_name);
    const conversation = addConversation(view);
    $("new-group-dialog").close();
    groupPicked.clear();
    renderPicked();
    $("new-group-form").reset();
    renderList();
    await openThread(conversation.id);
  } catch (error) {
    $("new-group-message").textContent = explain(error);
  }
}

// Wiring ------------------------------------------------------------------------------------

function wire() {
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    sendMessage();
  });
  $("composer-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendMessage();
    }
  });
  $("composer-text").addEventListener("input", () => {
    const now = Date.now();
    if (state.openId && state.ready && now - state.lastTypingSent > TYPING_EVERY_MS && $("composer-text").value) {
      state.lastTypingSent = now;
      // Best effort: a typing frame can beat the server to a conversation made a moment ago;
      // the indicator is ephemeral, so a refusal is nothing the user needs to hear about.
      ask({ type: "typing", conversation_id: state.openId }).catch(() => {});
    }
  });
  $("composer-file").addEventListener("change", (event) => {
    const files = [...event.target.files];
    event.target.value = "";
    uploadFiles(files);
  });
  const panel = $("emoji-panel");
  const toggle = $("emoji-toggle");
  panel.replaceChildren(...EMOJI.map((emoji) => el("button", {
    type: "button", class: "emoji", text: emoji, "aria-label": t("insert_named", { emoji }),
    onclick: () => {
      const textarea = $("composer-text");
      const at = textarea.selectionStart ?? textarea.value.length;
      textarea.setRangeText(emoji, at, textarea.selectionEnd ?? at, "end");
      textarea.focus();
    },
  })));
  toggle.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) panel.querySelector("button").focus();
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      panel.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      toggle.focus();
    }
  });
  $("load-older").addEventListener("click", loadOlder);
  $("chat-error-close").addEventListener("click", () => { $("chat-error").hidden = true; });
  $("new-chat-button").addEventListener("click", () => {
    $("new-chat-message").textContent = "";
    $("new-chat-dialog").showModal();
    $("new-chat-search").focus();
  });
  $("new-group-button").addEventListener("click", () => {
    $("new-group-message").textContent = "";
    $("new-group-dialog").showModal();
    $("new-group-title").focus();
  });
  $("new-group-cancel").addEventListener("click", () => $("new-group-dialog").close());
  $("new-group-form").addEventListener("submit", createGroup);
  userPicker($("new-chat-search"), $("new-chat-results"), $("new-chat-message"), startDirect);
  userPicker($("new-group-search"), $("new-group-results"), $("new-group-message"), (profile) => {
    groupPicked.set(profile.user_id, profile);
    renderPicked();
  });
  document.addEventListener("visibilitychange", () => markRead(state.conversations.get(state.openId)));
}

async function start() {
  wire();
  try {
    await ensureDevice();
    await loadConversations();
  } catch (error) {
    showError(error);
    setConnection(t("offline"), "offline");
    return;
  }
  connect();
}

start();
