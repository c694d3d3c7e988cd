// The Binance trading view: the Binance-compatible public REST for the first picture, the
// combined stream (/ws/binance/stream) for live depth diffs, trades and 1m klines, and the venue
// REST (session cookie) for the user's orders and wallet. No library: tables and a <canvas>.
// Prices and amounts stay decimal strings from the server; only the chart turns them into numbers.

const V3 = "/api/binance/api/v3";
const VENUE = "/api/binance/venue";
const LEVELS = 12;
const TAPE = 30;
const BARS = 60;
const SCALE = 100000000n; // every asset has 8 decimals

const $ = (id) => document.getElementById(id);
const state = { symbol: null, pairs: new Map(), bids: new Map(), asks: new Map(), lastId: 0,
  buffered: [], synced: false, tape: [], bars: new Map(), socket: null };
const signedIn = $("bn-app").dataset.signedIn === "yes";

async function getJSON(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    throw new Error((body && (body.msg || body.detail || body.title)) || `HTTP ${response.status}`);
  }
  return body;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

// "123.45" whole units -> BigInt minor units (8 decimals); null when malformed.
function minor(text) {
  const match = /^(\d+)(?:\.(\d{1,8}))?$/.exec(text.trim());
  if (!match) return null;
  return BigInt(match[1]) * SCALE + BigInt((match[2] || "").padEnd(8, "0"));
}

function decimal(units) {
  const whole = units / SCALE;
  return `${whole}.${(units % SCALE).toString().padStart(8, "0")}`;
}

// Order book: Binance's diff-depth procedure ------------------------------------------------

function applyLevels(side, levels) {
  for (const [price, qty] of levels) {
    if (Number(qty) === 0) side.delete(price);
    else side.set(price, qty);
  }
}

function renderDepth() {
  const body = $("bn-depth").tBodies[0];
  body.replaceChildren();
  const asks = [...state.asks].sort((a, b) => Number(a[0]) - Number(b[0])).slice(0, LEVELS);
  const bids = [...state.bids].sort((a, b) => Number(b[0]) - Number(a[0])).slice(0, LEVELS);
  for (const [price, qty] of asks.reverse()) {
    const row = body.insertRow();
    row.className = "bn-ask";
    cell(row, "Sell"); cell(row, price); cell(row, qty);
  }
  for (const [price, qty] of bids) {
    const row = body.insertRow();
    row.className = "bn-bid";
    cell(row, "Buy"); cell(row, price); cell(row, qty);
  }
}

async function loadDepth() {
  state.synced = false;
  const snapshot = await getJSON(`${V3}/depth?symbol=${state.symbol}&limit=100`);
  state.bids = new Map(snapshot.bids);
  state.asks = new Map(snapshot.asks);
  state.lastId = snapshot.lastUpdateId;
  state.synced = true;
  const pending = state.buffered;
  state.buffered = [];
  pending.forEach(onDepth);
  renderDepth();
}

function onDepth(event) {
  if (!state.synced) { state.buffered.push(event); return; }
  if (event.u <= state.lastId) return; // already in the snapshot
  if (event.U !== state.lastId + 1) { loadDepth(); return; } // a gap: resync from REST
  applyLevels(state.bids, event.b);
  applyLevels(state.asks, event.a);
  state.lastId = event.u;
  renderDepth();
}

// Trades and candles ---------------------------------------------------------------------------

function renderTape() {
  const body = $("bn-tape").tBodies[0];
  body.replaceChildren();
  for (const trade of state.tape) {
    const row = body.insertRow();
    row.className = trade.m ? "bn-ask" : "bn-bid";
    cell(row, new Date(trade.T).toLocaleTimeString());
    cell(row, trade.p);
    cell(row, trade.q);
  }
  $("bn-last").textContent = state.tape.length ? state.tape[0].p : "";
}

function onTrade(trade) {
  state.tape.unshift(trade);
  state.tape.length = Math.min(state.tape.length, TAPE);
  renderTape();
}

function drawChart() {
  const canvas = $("bn-chart");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const bars = [...state.bars.values()].sort((a, b) => a.t - b.t).slice(-BARS);
  if (!bars.length) return;
  const high = Math.max(...bars.map((b) => b.h));
  const low = Math.min(...bars.map((b) => b.l));
  const span = high - low || 1;
  const width = canvas.width / BARS;
  const y = (price) => canvas.height - 10 - ((price - low) / span) * (canvas.height - 20);
  bars.forEach((bar, i) => {
    const x = i * width + width / 2;
    ctx.strokeStyle = ctx.fillStyle = bar.c >= bar.o ? "#0a7d32" : "#b3261e";
    ctx.beginPath(); ctx.moveTo(x, y(bar.h)); ctx.lineTo(x, y(bar.l)); ctx.stroke();
    const top = y(Math.max(bar.o, bar.c));
    ctx.fillRect(x - width * 0.35, top, width * 0.7, Math.max(1, y(Math.min(bar.o, bar.c)) - top));
  });
}

function onKline(k) {
  state.bars.set(k.t, { t: k.t, o: Number(k.o), h: Number(k.h), l: Number(k.l), c: Number(k.c) });
  drawChart();
}

async function loadHistory() {
  const trades = await getJSON(`${V3}/trades?symbol=${state.symbol}&limit=${TAPE}`);
  state.tape = trades.reverse().map((t) => ({ p: t.price, q: t.qty, T: t.time, m: t.isBuyerMaker }));
  renderTape();
  const klines = await getJSON(`${V3}/klines?symbol=${state.symbol}&interval=1m&limit=${BARS}`);
  state.bars = new Map(klines.map((k) => [k[0], { t: k[0], o: Number(k[1]), h: Number(k[2]),
    l: Number(k[3]), c: Number(k[4]) }]));
  drawChart();
}

// The combined stream ----------------------------------------------------------------------------

function connect() {
  if (state.socket) state.socket.close();
  const lower = state.symbol.toLowerCase();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const streams = `${lower}@depth/${lower}@trade/${lower}@kline_1m`;
  const socket = new WebSocket(`${scheme}://${location.host}/ws/binance/stream?streams=${streams}`);
  state.socket = socket;
  state.buffered = [];
  socket.onopen = () => { $("bn-live").textContent = "live"; loadDepth(); };
  socket.onclose = () => {
    if (state.socket !== socket) return;
    $("bn-live").textContent = "reconnecting…";
    setTimeout(connect, 2000);
  };
  socket.onmessage = (message) => {
    const frame = JSON.parse(message.data);
    if (!frame.stream) return;
    if (frame.data.e === "depthUpdate") onDepth(frame.data);
    else if (frame.data.e === "trade") onTrade(frame.data);
    else if (frame.data.e === "kline") onKline(frame.data.k);
  };
}

// The user's orders and wallet -------------------------------------------------------------------

async function refreshAccount() {
  if (!signedIn) return;
  const pair = state.pairs.get(state.symbol);
  const orders = await getJSON(`${VENUE}/orders?open=true&symbol=${state.symbol}`);
  const openBody = $("bn-open").tBodies[0];
  openBody.replaceChildren();
  for (const order of orders.items) {
    const row = openBody.insertRow();
    cell(row, order.id.slice(-6));
    cell(row, order.side);
    cell(row, decimal(BigInt(order.price) * BigInt(pair.tick_size)));
    cell(row, decimal(BigInt(order.open_qty) * BigInt(pair.lot_size)));
    const button = document.createElement("button");
    button.textContent = "Cancel";
    button.onclick = async () => {
      await getJSON(`${VENUE}/orders/${order.id}`, { method: "DELETE" });
      refreshAccount();
    };
    row.insertCell().append(button);
  }
  const balances = await getJSON(`${VENUE}/balances`);
  const walletBody = $("bn-wallet").tBodies[0];
  walletBody.replaceChildren();
  for (const balance of balances.items) {
    const row = walletBody.insertRow();
    cell(row, balance.asset);
    cell(row, decimal(BigInt(balance.available)));
    cell(row, decimal(BigInt(balance.locked)));
  }
}

async function placeOrder(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const pair = state.pairs.get(state.symbol);
  const result = $("bn-order-result");
  const qty = minor(form.get("quantity"));
  if (qty === null || qty % BigInt(pair.lot_size) !== 0n) {
    result.textContent = `Amount must be a multiple of ${decimal(BigInt(pair.lot_size))}.`;
    return;
  }
  const body = { symbol: state.symbol, side: form.get("side"), type: form.get("type"),
    qty: Number(qty / BigInt(pair.lot_size)) };
  if (body.type === "limit") {
    const price = minor(form.get("price") || "");
    if (price === null || price % BigInt(pair.tick_size) !== 0n) {
      result.textContent = `Price must be a multiple of ${decimal(BigInt(pair.tick_size))}.`;
      return;
    }
    body.price = Number(price / BigInt(pair.tick_size));
  }
  try {
    const order = await getJSON(`${VENUE}/orders`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify(body),
    });
    result.textContent = `Order ${order.id.slice(-6)}: ${order.status}`;
  } catch (error) {
    result.textContent = error.message;
  }
  refreshAccount();
}

async function showDeposit(event) {
  event.preventDefault();
  const asset = new FormData(event.target).get("asset");
  try {
    const found = await getJSON(`/api/binance/wallet/deposit-address?asset=${asset}`);
    $("bn-deposit-result").innerHTML = "";
    const code = document.createElement("code");
    code.className = "bn-address";
    code.textContent = found.address;
    $("bn-deposit-result").append(`Send ${asset} to `, code,
      ` (credited after ${found.confirmations_required} confirmations).`);
  } catch (error) {
    $("bn-deposit-result").textContent = error.message;
  }
}

async function choose(symbol) {
  state.symbol = symbol;
  state.tape = [];
  await loadHistory();
  connect();
  await refreshAccount();
}

async function start() {
  const listed = await getJSON(`${VENUE}/instruments`);
  const select = $("bn-symbol");
  for (const pair of listed.items) {
    state.pairs.set(pair.symbol, pair);
    select.add(new Option(`${pair.base_asset}/${pair.quote_asset}`, pair.symbol));
  }
  select.onchange = () => choose(select.value);
  if (signedIn) {
    $("bn-order").onsubmit = placeOrder;
    $("bn-deposit").onsubmit = showDeposit;
    setInterval(refreshAccount, 5000);
  }
  if (listed.items.length) await choose(listed.items[0].symbol);
}

start().catch((error) => { $("bn-live").textContent = error.message; });
