// Live News Feed: follows /ws/facebook-newsfeed (the feed engine's socket; the session cookie
// authenticates it) and puts each pushed post on top of the feed, or takes a deleted one out,
// without a reload. After a reconnect it asks the feed API for posts published since the page
// loaded, so a dropped connection loses none. Ours alone; no third-party code. Text from the
// server is only ever set through textContent, never parsed as HTML.

const config = JSON.parse(document.getElementById("nf-live").textContent);
const statusLine = document.getElementById("nf-live-status");
const feed = document.getElementById("nf-feed");
const template = document.getElementById("nf-post-template");
const RETRY_MS = [500, 1000, 2000, 5000];

function postCard(post) {
  const card = template.content.firstElementChild.cloneNode(true);
  card.id = `post-${post.id}`;
  card.dataset.id = post.id;
  const author = post.author || {};
  card.querySelector(".nf-author").textContent = author.display_name || author.handle || author.id;
  card.querySelector(".nf-handle").textContent = author.handle ? `@${author.handle}` : "";
  card.querySelector(".nf-audience").textContent = `· ${post.audience}`;
  card.querySelector(".nf-body").textContent = post.body || "";
  card.querySelector(".nf-react").action = `${config.home}posts/${post.id}/react`;
  card.querySelector(".nf-comment-form").action = `${config.home}posts/${post.id}/comments`;
  return card;
}

function addPost(post) {
  if (!post || !/^\d+$/.test(String(post.id))) return;
  if (document.getElementById(`post-${post.id}`)) return; // already shown: no duplicates
  document.getElementById("nf-empty")?.remove();
  feed.prepend(postCard(post));
}

function removePost(postId) {
  document.getElementById(`post-${postId}`)?.remove();
}

async function catchUp() {
  // Posts published while the socket was down: the newest of the chronological feed that are
  // newer than the page and not shown yet, oldest first so the newest ends on top.
  const response = await fetch(`${config.api}/feed?rank=chronological&limit=50`, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!response.ok) return;
  const page = await response.json();
  const since = Date.parse(config.loaded_at);
  for (const post of page.items.slice().reverse()) {
    if (Date.parse(post.created_at) >= since) addPost(post);
  }
}

let everReady = false;

function connect(attempt) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}${config.ws}`);
  socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "hello" })));
  socket.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame.type === "ready") {
      attempt = 0;
      statusLine.textContent = "Live: new posts appear here as they are published.";
      if (everReady) catchUp().catch(() => {});
      everReady = true;
    } else if (frame.type === "post") {
      addPost(frame.post);
    } else if (frame.type === "post_deleted") {
      removePost(frame.post_id);
    }
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 4401 || event.code === 4403) {
      statusLine.textContent = "Live updates are off: log in again to turn them on.";
      return;
    }
    statusLine.textContent = "Reconnecting for live updates…";
    const delay = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)];
    setTimeout(() => connect(attempt + 1), delay);
  });
}

connect(0);
