// The Stock Exchange page: REST for the first picture and for the trader's own data, the
// market-data WebSocket for live depth diffs, trades, the quote and 1-minute klines. No library:
// the depth ladder and tape are tables, the candle chart is drawn on a <canvas> here.

const API = "/api/stock-exchange";
const LEVELS = 10;
const TAPE = 30;
const BARS = 60;

const $ = (id) => document.getElementById(id);
const state = {
  symbol: null,
  bids: new Map(), // price ticks -> shares
  asks: new Map(),
  seq: 0,
  tape: [],
  candles: new Map(), // open_time -> bar
  socket: null,
};
const signedIn = $("sx-app").dataset.signedIn === "yes";

function money(ticks) {
  // One tick is one cent on this exchange.
  return (ticks / 100).toFixed(2);
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

async function getJSON(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    throw new Error((body && (body.detail || body.title)) || `HTTP ${response.status}`);
  }
  return body;
}

// Depth ladder ------------------------------------------------------------------------------

function renderDepth() {
  const body = $("sx-depth").tBodies[0];
  body.replaceChildren();
  const asks = [...state.asks].sort((a, b) => a[0] - b[0]).slice(0, LEVELS).reverse();
  const bids = [...state.bids].sort((a, b) => b[0] - a[0]).slice(0, LEVELS);
  const biggest = Math.max(1, ...asks.map((l) => l[1]), ...bids.map((l) => l[1]));
  for (const [side, levels] of [["ask", asks], ["bid", bids]]) {
    for (const [price, qty] of levels) {
      const row = body.insertRow();
      row.className = `sx-${side}`;
      cell(row, side === "ask" ? "Sell" : "Buy");
      cell(row, money(price));
      const td = cell(row, String(qty));
      const bar = document.createElement("span");
      bar.className = "sx-bar";
      bar.style.width = `${Math.round((100 * qty) / biggest)}%`;
      td.append(bar);
    }
  }
}

function applyLevels(map, levels) {
  for (const [price, qty] of levels) {
    if (qty === 0) map.delete(price);
    else map.set(price, qty);
  }
}

// Trade tape --------------------------------------------------------------------------------

function renderTape() {
  const body = $("sx-tape").tBodies[0];
  body.replaceChildren();
  for (const trade of state.tape.slice(0, TAPE)) {
    const row = body.insertRow();
    row.className = trade.taker_side === "buy" ? "sx-bid" : "sx-ask";
    cell(row, new Date(trade.ts / 1e6).toLocaleTimeString());
    cell(row, money(trade.price));
    cell(row, String(trade.qty));
  }
  if (state.tape.length) $("sx-last").textContent = `$${money(state.tape[0].price)}`;
}

// Candle chart ------------------------------------------------------------------------------

function renderChart() {
  const canvas = $("sx-chart");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600;
  const height = canvas.clientHeight || 260;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  const bars = [...state.candles.values()].sort((a, b) => a.open_time - b.open_time).slice(-BARS);
  ctx.fillStyle = "#666";
  ctx.font = "12px system-ui, sans-serif";
  if (!bars.length) {
    ctx.fillText("No trades yet", 10, 20);
    return;
  }
  const pad = { left: 8, right: 60, top: 10, bottom: 20 };
  const high = Math.max(...bars.map((b) => b.high));
  const low = Math.min(...bars.map((b) => b.low));
  const span = Math.max(1, high - low);
  const y = (price) => pad.top + ((high - price) / span) * (height - pad.top - pad.bottom);
  const step = (width - pad.left - pad.right) / BARS;
  const body = Math.max(1, step * 0.6);
  bars.forEach((bar, i) => {
    const x = pad.left + i * step + step / 2;
    const up = bar.close >= bar.open;
    ctx.strokeStyle = ctx.fillStyle = up ? "#0a7d32" : "#b3261e";
    ctx.beginPath();
    ctx.moveTo(x, y(bar.high));
    ctx.lineTo(x, y(bar.low));
    ctx.stroke();
    const top = y(Math.max(bar.open, bar.close));
    ctx.fillRect(x - body / 2, top, body, Math.max(1, y(Math.min(bar.open, bar.close)) - top));
  });
  ctx.fillStyle = "#333";
  ctx.fillText(money(high), width - pad.right + 6, y(high) + 4);
  ctx.fillText(money(low), width - pad.right + 6, y(low) + 4);
}

// Market data: REST snapshot, then the WebSocket ----------------------------------------------

async function loadMarket(symbol) {
  const [depth, trades, candles] = await Promise.all([
    getJSON(`${API}/instruments/${symbol}/depth?levels=${LEVELS}`),
    getJSON(`${API}/instruments/${symbol}/trades?limit=${TAPE}`),
    getJSON(`${API}/instruments/${symbol}/candles?interval=1m&limit=${BARS}`),
  ]);
  state.bids = new Map(depth.bids.map((l) => [l.price, l.qty]));
  state.asks = new Map(depth.asks.map((l) => [l.price, l.qty]));
  state.seq = depth.seq;
  state.tape = trades.trades;
  state.candles = new Map(candles.candles.map((c) => [c.open_time, c]));
  renderDepth();
  renderTape();
  renderChart();
}

function onFrame(frame) {
  if (!frame.stream || !frame.stream.startsWith(`${state.symbol}@`)) return;
  if (frame.type === "snapshot") {
    state.bids = new Map(frame.bids);
    state.asks = new Map(frame.asks);
    state.seq = frame.seq;
    renderDepth();
  } else if (frame.type === "update") {
    applyLevels(state.bids, frame.bids);
    applyLevels(state.asks, frame.asks);
    state.seq = frame.seq;
    renderDepth();
  } else if (frame.type === "trade") {
    state.tape = [...frame.trades].reverse().concat(state.tape).slice(0, TAPE);
    renderTape();
    if (signedIn) refreshAccount();
  } else if (frame.type === "kline") {
    state.candles.set(frame.kline.open_time, frame.kline);
    renderChart();
  }
}

function subscribe(symbol) {
  const streams = ["depth", "trade", "quote", "kline_1m"].map((s) => `${symbol}@${s}`);
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify({ op: "subscribe", streams }));
    return;
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/stock-exchange/market`);
  state.socket = socket;
  socket.onopen = () => {
    $("sx-live").textContent = "live";
    socket.send(JSON.stringify({ op: "subscribe", streams: ["depth", "trade", "quote", "kline_1m"].map((s) => `${state.symbol}@${s}`) }));
  };
  socket.onmessage = (message) => onFrame(JSON.parse(message.data));
  socket.onclose = () => {
    $("sx-live").textContent = "reconnecting…";
    state.socket = null;
    setTimeout(() => subscribe(state.symbol), 2000);
  };
}

async function choose(symbol, company) {
  if (state.symbol && state.socket && state.socket.readyState === WebSocket.OPEN) {
    const old = ["depth", "trade", "quote", "kline_1m"].map((s) => `${state.symbol}@${s}`);
    state.socket.send(JSON.stringify({ op: "unsubscribe", streams: old }));
  }
  state.symbol = symbol;
  $("sx-company").textContent = company;
  await loadMarket(symbol);
  subscribe(symbol);
  if (signedIn) refreshAccount();
}

// The trader's own data ---------------------------------------------------------------------

async function refreshAccount() {
  try {
    const [balance, open] = await Promise.all([
      getJSON(`${API}/account/balance`),
      getJSON(`${API}/orders?open=true`),
    ]);
    const rows = $("sx-balances").tBodies[0];
    rows.replaceChildren();
    for (const b of [...balance.cash, ...balance.holdings]) {
      const row = rows.insertRow();
      const cash = b.asset === "USD";
      const show = (v) => (cash ? `$${money(v)}` : String(v));
      cell(row, b.asset);
      cell(row, show(b.total));
      cell(row, show(b.locked));
      cell(row, show(b.available));
    }
    const orders = $("sx-open").tBodies[0];
    orders.replaceChildren();
    for (const o of open) {
      const row = orders.insertRow();
      cell(row, `${o.symbol} ${o.id.slice(-6)}`);
      cell(row, o.side, o.side === "buy" ? "sx-bid" : "sx-ask");
      cell(row, o.price ?? "market");
      cell(row, String(o.open_quantity));
      const button = document.createElement("button");
      button.textContent = "Cancel";
      button.onclick = async () => {
        await getJSON(`${API}/orders/${o.id}`, { method: "DELETE" }).catch((e) => ($("sx-order-result").textContent = e.message));
        refreshAccount();
      };
      row.insertCell().append(button);
    }
  } catch (error) {
    $("sx-order-result").textContent = error.message;
  }
}

async function showKyc() {
  const me = await getJSON(`${API}/me`);
  $("sx-kyc").textContent =
    me.kyc_status === "verified"
      ? "Identity verified: you may trade."
      : `KYC ${me.kyc_status ?? "not submitted"}: trading opens once compliance verifies you (POST ${API}/kyc).`;
}

function wireOrderForm() {
  const form = $("sx-order");
  form.onsubmit = async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = {
      symbol: state.symbol,
      side: data.get("side"),
      type: data.get("type"),
      quantity: Number(data.get("quantity")),
      time_in_force: data.get("time_in_force"),
    };
    if (body.type === "limit") body.price = data.get("price");
    try {
      const order = await getJSON(`${API}/orders`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
        body: JSON.stringify(body),
      });
      $("sx-order-result").textContent =
        `Order ${order.id.slice(-6)}: ${order.status}, ${order.filled_quantity} of ${order.quantity} filled` +
        (order.average_price ? ` at $${order.average_price}` : "");
    } catch (error) {
      $("sx-order-result").textContent = error.message;
    }
    refreshAccount();
  };
}

async function main() {
  const listings = await getJSON(`${API}/instruments`);
  const select = $("sx-symbol");
  for (const listing of listings) select.add(new Option(listing.symbol, listing.symbol));
  const company = (symbol) => listings.find((l) => l.symbol === symbol)?.company_name ?? "";
  select.onchange = () => choose(select.value, company(select.value));
  if (signedIn) {
    wireOrderForm();
    showKyc().catch((e) => ($("sx-kyc").textContent = e.message));
  }
  if (listings.length) await choose(listings[0].symbol, listings[0].company_name);
  else $("sx-live").textContent = "nothing listed yet";
  // A resync now and then also covers a stream that missed a message while reconnecting.
  setInterval(() => state.symbol && loadMarket(state.symbol), 15000);
}

main();
