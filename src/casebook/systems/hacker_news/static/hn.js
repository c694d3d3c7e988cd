// Live item page: follows the story on /ws/hacker-news?item=<id> and applies what happens to it
// (new comments, scores, edits, kills, deletions) without a reload. Ours alone; no third-party
// code. Text from the server is only ever set through textContent, never parsed as HTML.

const config = JSON.parse(document.getElementById("hn-live").textContent);
const statusLine = document.getElementById("hn-live-status");
const comments = document.getElementById("hn-comments");
const article = document.querySelector(".hn-item");
const rootDepth = Number(article.dataset.rootDepth);
const here = location.pathname + location.search;

function element(tag, attributes = {}, text = null) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

function paragraphs(text) {
  return (text || "")
    .replace(/\r\n/g, "\n")
    .split("\n\n")
    .map((block) => block.trim())
    .filter((block) => block)
    .map((block) => element("p", {}, block));
}

function upvoteForm(id) {
  const form = element("form", { class: "hn-arrow", method: "post", action: `${config.home}vote` });
  for (const [name, value] of [["id", id], ["how", "up"], ["goto", here]]) {
    form.append(element("input", { type: "hidden", name, value: String(value) }));
  }
  form.append(
    element("button", { type: "submit", title: "upvote", "aria-label": `Upvote item ${id}` }, "▲"),
  );
  const arrows = element("span", { class: "hn-arrows" });
  arrows.append(form);
  return arrows;
}

function commentElement(item, depth) {
  const node = element("div", {
    class: "hn-comment hn-new",
    id: String(item.id),
    "data-testid": "comment",
    "data-id": String(item.id),
    "data-parent": String(item.parent),
    "data-depth": String(depth),
    style: `--depth: ${depth}`,
  });
  const head = element("div", { class: "hn-comhead" });
  if (config.me && config.me !== item.by) head.append(upvoteForm(item.id), " ");
  else head.append(element("span", { class: "hn-arrow-space", "aria-hidden": "true" }), " ");
  head.append(
    element("a", { class: "hn-user", href: `${config.home}user?id=${encodeURIComponent(item.by)}` }, item.by),
    " ",
    element("a", { href: `${config.home}item?id=${item.id}` }, "just now"),
  );
  const text = element("div", { class: "hn-commtext", "data-testid": "comment-text" });
  text.append(...paragraphs(item.text));
  node.append(head, text);
  if (config.me) {
    node.append(element("a", { class: "hn-reply", href: `${config.home}reply?id=${item.id}` }, "reply"));
  }
  return node;
}

function placeComment(item, absoluteDepth) {
  if (document.getElementById(String(item.id))) return; // already on the page
  const depth = rootDepth < 0 ? absoluteDepth : absoluteDepth - rootDepth;
  const node = commentElement(item, depth);
  if (item.parent === config.item) {
    // A new comment has the lowest rank among its siblings (one point, newest): it goes last.
    comments.append(node);
    return;
  }
  const parent = comments.querySelector(`[data-id="${item.parent}"]`);
  if (!parent) return; // not part of this page's subtree
  const parentDepth = Number(parent.dataset.depth);
  let last = parent;
  while (last.nextElementSibling && Number(last.nextElementSibling.dataset.depth) > parentDepth) {
    last = last.nextElementSibling;
  }
  last.after(node);
}

function replaceText(id, replacement) {
  const node = document.getElementById(String(id));
  if (!node) return;
  const text = node.querySelector(".hn-commtext");
  if (text) text.replaceChildren(element("p", {}, replacement));
  node.querySelector(".hn-reply")?.remove();
  node.querySelector(".hn-arrows")?.remove();
  const title = node.querySelector('[data-testid="story-title"]');
  if (title) title.replaceWith(replacement);
}

function applyEvent(event) {
  if (event.type === "comment") {
    placeComment(event.item, event.depth);
  } else if (event.type === "score") {
    for (const score of document.querySelectorAll(`[data-score-for="${event.id}"]`)) {
      score.textContent = `${event.score} point${event.score === 1 ? "" : "s"}`;
    }
  } else if (event.type === "dead") {
    replaceText(event.id, "[flagged]");
  } else if (event.type === "deleted") {
    replaceText(event.id, "[deleted]");
    document.getElementById(String(event.id))?.querySelector(".hn-user")?.remove();
  } else if (event.type === "edit") {
    const node = document.getElementById(String(event.item.id));
    if (!node) return;
    const text = node.querySelector(".hn-commtext");
    if (text && event.item.type === "comment") text.replaceChildren(...paragraphs(event.item.text));
    const title = node.querySelector('[data-testid="story-title"]');
    if (title && event.item.title) title.textContent = event.item.title;
  }
}

let retryDelay = 500;
let reconnected = false;

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${config.ws}?item=${config.item}`);
  let pinger = null;
  socket.addEventListener("message", (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "ready") {
      retryDelay = 500;
      statusLine.textContent = reconnected
        ? "Live again (reload to see anything that happened while offline)."
        : "Live: new comments appear here as they are posted.";
      pinger = setInterval(() => socket.send('{"type":"ping"}'), 30_000);
    } else {
      applyEvent(event);
    }
  });
  socket.addEventListener("close", (closed) => {
    clearInterval(pinger);
    if (closed.code === 4404 || closed.code === 4400) {
      statusLine.textContent = "No live updates for this item.";
      return;
    }
    reconnected = true;
    statusLine.textContent = "Live updates interrupted; reconnecting…";
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 15_000);
  });
}

connect();
