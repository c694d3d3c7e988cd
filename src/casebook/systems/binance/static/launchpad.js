// The Launchpad page: countdowns to each sale's next moment, commits through the JSON API
// (session cookie, a fresh Idempotency-Key per submission) and the viewer's own allocation.
// Our own code, no library.
const API = "/api/binance/launchpad/projects";
const $ = (id) => document.getElementById(id);
const signedIn = $("lp-app").dataset.signedIn === "yes";

async function getJSON(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || body.title || `HTTP ${response.status}`);
  return body;
}

function remaining(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), sec = s % 60;
  const hms = [h, m, sec].map((n) => String(n).padStart(2, "0")).join(":");
  return d ? `${d}d ${hms}` : hms;
}

// The next moment of a sale and what happens then.
function nextMoment(card, now) {
  const moments = [
    ["starts", "starts in"], ["ends", "ends in"], ["distributes", "distribution in"],
  ];
  for (const [key, label] of moments) {
    const at = Date.parse(card.dataset[key]);
    if (now < at) return `${label} ${remaining(at - now)}`;
  }
  return card.dataset.phase === "distributed" ? "" : "settling…";
}

function tick() {
  const now = Date.now();
  for (const card of document.querySelectorAll(".lp-card")) {
    card.querySelector(".lp-countdown").textContent = nextMoment(card, now);
  }
}

function term(list, label, value) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.textContent = value;
  list.append(dt, dd);
}

async function showMine(card) {
  const list = card.querySelector(".lp-my");
  try {
    const mine = await getJSON(`${API}/${card.dataset.project}/my`);
    list.replaceChildren();
    term(list, "Committed", `${mine.committed} ${mine.quote_asset}`);
    if (mine.allocation !== null) {
      term(list, "Allocation", `${mine.allocation} ${mine.quote_asset}`);
      term(list, "Paid", `${mine.payment} ${mine.quote_asset}`);
      term(list, "Refund", `${mine.refund} ${mine.quote_asset}`);
      term(list, "Tokens", `${mine.tokens} ${mine.symbol}`);
      term(list, "Distributed", mine.distributed ? "yes" : "at distribution time");
    }
  } catch (error) {
    card.querySelector(".lp-status").textContent = error.message;
  }
}

async function commit(event) {
  event.preventDefault();
  const form = event.target;
  const card = form.closest(".lp-card");
  const status = card.querySelector(".lp-status");
  const amount = new FormData(form).get("amount").trim();
  if (!/^\d{1,12}(\.\d{1,8})?$/.test(amount)) {
    status.textContent = "Enter an amount with at most 8 decimals.";
    return;
  }
  try {
    await getJSON(`${API}/${form.dataset.project}/commit`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify({ amount }),
    });
    status.textContent = `Committed ${amount}.`;
    form.reset();
    const project = await getJSON(`${API}/${form.dataset.project}`);
    card.querySelector(".lp-total").textContent =
      `${project.total_committed} ${project.quote_asset}`;
    card.querySelector(".lp-participants").textContent = project.participants;
  } catch (error) {
    status.textContent = error.message;
  }
  showMine(card);
}

for (const form of document.querySelectorAll("form.lp-commit")) {
  form.addEventListener("submit", commit);
}
if (signedIn) {
  for (const card of document.querySelectorAll(".lp-card")) showMine(card);
}
tick();
setInterval(tick, 1000);
