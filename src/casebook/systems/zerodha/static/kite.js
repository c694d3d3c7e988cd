// The Zerodha page: the watchlist and chart from the exchange's public market data (REST for the
// first picture, the exchange's WebSocket for quotes and 1-minute klines), and for a signed-in
// client the order window, orders, positions, holdings and funds from /api/zerodha. No library:
// the candle chart is drawn on a <canvas> here. All amounts arrive in paise.

const API = "/api/zerodha";
const MARKET = "/api/stock-exchange/instruments";
const BARS = 60;

const $ = (id) => document.getElementById(id);
const signedIn = $("zk-app").dataset.signedIn === "yes";
const state = { symbol: null, prices: new Map(), candles: new Map(), socket: null };

const rupees = (paise) => (paise / 100).toFixed(2);

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

async function getJSON(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error((body && (body.detail || body.title)) || `HTTP ${response.status}`);
  return body;
}

// Watchlist ----------------------------------------------------------------------------------

function renderWatchlist() {
  const body = $("zk-watchlist").tBodies[0];
  body.replaceChildren();
  for (const [symbol, paise] of state.prices) {
    const row = body.insertRow();
    row.dataset.symbol = symbol;
    if (symbol === state.symbol) row.className = "zk-selected";
    cell(row, symbol);
    cell(row, rupees(paise));
    row.addEventListener("click", () => select(symbol));
  }
}

// Chart --------------------------------------------------------------------------------------

function drawChart() {
  const canvas = $("zk-chart");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const bars = [...state.candles.values()].sort((a, b) => a.open_time - b.open_time).slice(-BARS);
  if (!bars.length) {
    ctx.fillStyle = "#777";
    ctx.fillText("No trades yet", 10, 20);
    return;
  }
  const high = Math.max(...bars.map((b) => b.high));
  const low = Math.min(...bars.map((b) => b.low));
  const span = Math.max(1, high - low);
  const width = canvas.width / BARS;
  const y = (price) => canvas.height - 10 - ((price - low) / span) * (canvas.height - 20);
  bars.forEach((bar, i) => {
    const x = i * width + width / 2;
    ctx.strokeStyle = ctx.fillStyle = bar.close >= bar.open ? "#0a7d32" : "#b3261e";
    ctx.beginPath();
    ctx.moveTo(x, y(bar.high));
    ctx.lineTo(x, y(bar.low));
    ctx.stroke();
    const top = y(Math.max(bar.open, bar.close));
    ctx.fillRect(x - width * 0.35, top, width * 0.7, Math.max(1, y(Math.min(bar.open, bar.close)) - top));
  });
  ctx.fillStyle = "#333";
  ctx.fillText(`₹${rupees(high)}`, 4, 12);
  ctx.fillText(`₹${rupees(low)}`, 4, canvas.height - 2);
}

async function select(symbol) {
  state.symbol = symbol;
  $("zk-symbol").textContent = symbol;
  renderWatchlist();
  const candles = await getJSON(`${MARKET}/${symbol}/candles?interval=1m&limit=${BARS}`);
  state.candles = new Map(candles.candles.map((c) => [c.open_time, c]));
  drawChart();
  subscribe();
}

// Live market data ----------------------------------------------------------------------------

function subscribe() {
  if (!state.socket || state.socket.readyState !== WebSocket.OPEN) return;
  const streams = [...state.prices.keys()].map((s) => `${s}@quote`);
  if (state.symbol) streams.push(`${state.symbol}@kline_1m`);
  state.socket.send(JSON.stringify({ op: "subscribe", streams, id: Date.now() }));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/stock-exchange/market`);
  state.socket = socket;
  socket.addEventListener("open", () => {
    $("zk-live").textContent = "live";
    subscribe();
  });
  socket.addEventListener("close", () => {
    $("zk-live").textContent = "reconnecting…";
    setTimeout(connect, 2000);
  });
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "quote" && frame.last_price != null) {
      // One tick is one paisa on the exchange's INR listings.
      state.prices.set(frame.stream.split("@")[0], frame.last_price);
      renderWatchlist();
    } else if (frame.type === "kline" && frame.stream === `${state.symbol}@kline_1m`) {
      state.candles.set(frame.kline.open_time, frame.kline);
      drawChart();
    }
  });
}

// The client's side ----------------------------------------------------------------------------

async function refreshAccount() {
  let account;
  try {
    account = await getJSON(`${API}/account`);
  } catch {
    $("zk-account").textContent = "You have no Zerodha account yet.";
    const open = document.createElement("button");
    open.textContent = "Open an account (demo KYC)";
    open.addEventListener("click", async () => {
      const pan = "ABCDE" + String(Math.floor(Math.random() * 10000)).padStart(4, "0") + "Z";
      await getJSON(`${API}/account`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ legal_name: "Kite Demo", pan }),
      });
      refreshAccount();
    });
    $("zk-account").append(" ", open);
    return;
  }
  $("zk-account").textContent = `Client ${account.client_code}`;
  const [funds, portfolio, orders] = await Promise.all([
    getJSON(`${API}/funds`),
    getJSON(`${API}/portfolio`),
    getJSON(`${API}/orders`),
  ]);
  $("zk-funds").textContent =
    `Available ₹${rupees(funds.available)} · blocked ₹${rupees(funds.blocked)} · total ₹${rupees(funds.total)}`;
  const positions = $("zk-positions").tBodies[0];
  positions.replaceChildren();
  for (const p of portfolio.positions) {
    const row = positions.insertRow();
    cell(row, p.symbol);
    cell(row, p.product);
    cell(row, String(p.quantity));
    cell(row, rupees(p.last_price));
    cell(row, rupees(p.pnl), p.pnl >= 0 ? "zk-up" : "zk-down");
  }
  const holdings = $("zk-holdings").tBodies[0];
  holdings.replaceChildren();
  for (const h of portfolio.holdings) {
    const row = holdings.insertRow();
    cell(row, h.symbol);
    cell(row, String(h.quantity));
    cell(row, String(h.t1_quantity));
    cell(row, rupees(h.average_price));
    cell(row, rupees(h.last_price));
    cell(row, rupees(h.pnl), h.pnl >= 0 ? "zk-up" : "zk-down");
  }
  const list = $("zk-orders").tBodies[0];
  list.replaceChildren();
  for (const o of orders) {
    const row = list.insertRow();
    cell(row, `${o.symbol} ${o.product}`);
    cell(row, o.side);
    cell(row, `${o.filled_quantity}/${o.quantity}`);
    cell(row, o.order_type === "MARKET" ? "market" : rupees(o.price));
    cell(row, o.status);
    const action = row.insertCell();
    if (o.status === "OPEN") {
      const cancel = document.createElement("button");
      cancel.textContent = "Cancel";
      cancel.addEventListener("click", async () => {
        await getJSON(`${API}/orders/${o.order_id}`, { method: "DELETE" });
        refreshAccount();
      });
      action.append(cancel);
    }
  }
}

function wireOrderForm() {
  $("zk-order").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = {
      symbol: state.symbol,
      side: form.get("side"),
      product: form.get("product"),
      order_type: form.get("order_type"),
      quantity: Number(form.get("quantity")),
    };
    if (body.order_type === "LIMIT") body.price = Math.round(Number(form.get("price")) * 100);
    try {
      const order = await getJSON(`${API}/orders`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
        body: JSON.stringify(body),
      });
      $("zk-order-result").textContent = `Order ${order.order_id}: ${order.status}`;
    } catch (error) {
      $("zk-order-result").textContent = error.message;
    }
    refreshAccount();
  });
}

async function main() {
  const listings = await getJSON(`${API}/instruments`);
  for (const item of listings) state.prices.set(item.symbol, item.last_price);
  connect();
  if (listings.length) await select(listings[0].symbol);
  if (signedIn) {
    wireOrderForm();
    await refreshAccount();
    setInterval(refreshAccount, 10000);
  }
}

main();
