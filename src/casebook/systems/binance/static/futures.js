// The futures page (/binance/futures): contracts' mark, index and funding countdown for everyone;
// positions, orders and the forms for a signed-in user. Our own code, no library.
const $ = (id) => document.getElementById(id);
const API = "/api/binance/futures";
const REFRESH_MS = 3000;
const SCALE = 8n; // USDT minor units: 8 decimals
let nextFunding = 0;
let symbols = {};

function decimal(value, places) {
  // An integer (minor units, ticks) as a decimal string with `places` decimals, exactly.
  let n = BigInt(value);
  const sign = n < 0n ? "-" : "";
  if (n < 0n) n = -n;
  const text = n.toString().padStart(places + 1, "0");
  return `${sign}${text.slice(0, -places)}.${text.slice(-places)}`;
}
const usdt = (minor) => decimal(minor, Number(SCALE)).replace(/(\.\d\d\d*?)0+$/, "$1");
const price = (ticks) => decimal(ticks, 2);

function toUnits(text, places) {
  // "60000.5" -> 6000050 for places = 2; rejects anything but digits and one point.
  if (!/^\d+(\.\d+)?$/.test(text)) throw new Error(`${text} is not a number`);
  const [whole, fraction = ""] = text.split(".");
  if (fraction.length > places) throw new Error(`at most ${places} decimals`);
  return Number(BigInt(whole + fraction.padEnd(places, "0")));
}

async function call(path, options = {}) {
  const response = await fetch(API + path, { credentials: "same-origin", ...options });
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || body.title || `HTTP ${response.status}`);
  return body;
}

function post(path, body) {
  return call(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
    body: JSON.stringify(body),
  });
}

function row(body, cells) {
  const tr = body.insertRow();
  for (const text of cells) tr.insertCell().textContent = text;
  return tr;
}

function countdown() {
  const left = Math.max(0, Math.floor((nextFunding - Date.now()) / 1000));
  const hms = [Math.floor(left / 3600), Math.floor(left / 60) % 60, left % 60]
    .map((n) => String(n).padStart(2, "0")).join(":");
  for (const cell of document.querySelectorAll("[data-countdown]")) cell.textContent = hms;
}

async function refreshMarket() {
  const index = await call("/premium-index");
  const body = $("ft-market").tBodies[0];
  body.replaceChildren();
  for (const item of index.items) {
    symbols[item.symbol] = item;
    nextFunding = item.next_funding_time;
    const tr = row(body, [item.symbol, price(item.mark_price), price(item.index_price),
      `${(Number(item.funding_rate) * 100).toFixed(4)} %`, ""]);
    tr.cells[4].dataset.countdown = "yes";
  }
  countdown();
}

async function refreshAccount() {
  const account = await call("/account");
  $("ft-wallet").textContent = usdt(account.wallet_balance);
  $("ft-available").textContent = usdt(account.available);
  $("ft-margin-balance").textContent = usdt(account.margin_balance);
  $("ft-upnl").textContent = usdt(account.unrealised_pnl);
  const body = $("ft-positions").tBodies[0];
  body.replaceChildren();
  for (const p of account.positions.filter((p) => p.qty !== 0)) {
    const tr = row(body, [p.symbol, decimal(p.qty, 3), p.entry_price, price(p.mark),
      usdt(p.unrealised_pnl), usdt(p.margin), p.liquidation_price || "–", `${p.leverage}x`, p.mode]);
    tr.cells[4].className = p.unrealised_pnl >= 0 ? "ft-up" : "ft-down";
  }
  const orders = await call("/orders?open=true&limit=50");
  const list = $("ft-orders").tBodies[0];
  list.replaceChildren();
  for (const o of orders.items) {
    const tr = row(list, [o.symbol, o.side, price(o.price), decimal(o.open_qty, 3), ""]);
    const button = document.createElement("button");
    button.textContent = "Cancel";
    button.addEventListener("click", () => act(() => call(`/orders/${o.id}`, { method: "DELETE" })));
    tr.cells[4].append(button);
  }
}

async function act(action) {
  try {
    await action();
    $("ft-message").textContent = "Done.";
  } catch (error) {
    $("ft-message").textContent = error.message;
  }
  await refresh();
}

async function refresh() {
  try {
    await refreshMarket();
    if ($("ft-app").dataset.signedIn === "yes") await refreshAccount();
  } catch (error) {
    const message = $("ft-message");
    if (message) message.textContent = error.message;
  }
}

function form(id, handler) {
  const element = $(id);
  if (!element) return;
  element.addEventListener("submit", (event) => {
    event.preventDefault();
    act(() => handler(new FormData(element)));
  });
}

form("ft-order", (data) => {
  const body = { symbol: data.get("symbol"), side: data.get("side"), type: data.get("type"),
    qty: toUnits(data.get("qty"), 0) };
  if (body.type === "limit") body.price = toUnits(data.get("price"), 2);
  return post("/orders", body);
});
form("ft-leverage", async (data) => {
  const symbol = $("ft-symbol").value;
  await post("/leverage", { symbol, leverage: Number(data.get("leverage")) });
  return post("/margin-type", { symbol, margin_type: data.get("margin_type") });
});
form("ft-transfer", (data) => post("/transfer", {
  amount: toUnits(data.get("amount"), Number(SCALE)), direction: data.get("direction") }));

refresh();
setInterval(refresh, REFRESH_MS);
setInterval(countdown, 1000);
