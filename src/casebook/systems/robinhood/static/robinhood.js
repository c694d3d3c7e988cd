// The Robinhood page: everything comes from /api/robinhood with the session cookie. No library:
// tables and lists are built with the DOM, the price and portfolio charts are drawn on <canvas>.

const API = "/api/robinhood";
const BARS = { "1m": 120, "5m": 100, "1h": 100, "1d": 100 };

const $ = (id) => document.getElementById(id);
const signedIn = $("rh-app").dataset.signedIn === "yes";
const state = { symbol: $("rh-symbol").value, interval: "5m", watching: new Set(), approved: false };

class ApiError extends Error {
  constructor(status, body) {
    const first = body && Array.isArray(body.errors) && body.errors[0];
    const message =
      (body && body.detail) ||
      (first && `${first.loc[first.loc.length - 1]}: ${first.msg}`) ||
      (body && body.title) ||
      `HTTP ${status}`;
    super(message);
    this.status = status;
    this.type = (body && body.type) || "";
  }
}

async function api(path, options = {}) {
  const response = await fetch(`${API}${path}`, { credentials: "same-origin", ...options });
  const text = response.status === 204 ? "" : await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function send(path, method, body) {
  const headers = { "Content-Type": "application/json" };
  // Money-moving POSTs are idempotent per submission: a retried request cannot pay twice.
  if (method === "POST") headers["Idempotency-Key"] = crypto.randomUUID();
  return api(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

const usd = (text) => (text == null ? "—" : `$${Number(text).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`);
const trimShares = (text) => String(Number(text));

function cell(row, content, cls) {
  const td = row.insertCell();
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  if (cls) td.className = cls;
  return td;
}

function button(label, onclick, cls = "rh-link") {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = label;
  b.onclick = onclick;
  return b;
}

function symbolLink(symbol) {
  return button(symbol, () => choose(symbol));
}

// Line chart on a canvas -------------------------------------------------------------------

function drawLine(canvas, points, emptyText) {
  // points: [{x: number, y: number}] in time order; the line is green when the last point is at
  // or above the first (the house colours of a gain), red otherwise.
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600;
  const height = canvas.clientHeight || 220;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = "#666";
  if (points.length === 0) {
    ctx.fillText(emptyText, 10, 20);
    return;
  }
  const pad = { left: 6, right: 64, top: 10, bottom: 10 };
  const ys = points.map((p) => p.y);
  const high = Math.max(...ys);
  const low = Math.min(...ys);
  // A flat series is drawn across the middle, not along the top edge.
  const span = high - low || Math.max(0.02, high * 0.02);
  const top = high === low ? high + span / 2 : high;
  const x0 = points[0].x;
  const xs = points[points.length - 1].x - x0 || 1;
  const px = (p) => (points.length === 1 ? pad.left : pad.left + ((p.x - x0) / xs) * (width - pad.left - pad.right));
  const py = (y) => pad.top + ((top - y) / span) * (height - pad.top - pad.bottom);
  const up = points[points.length - 1].y >= points[0].y;
  ctx.strokeStyle = up ? "#0a7d32" : "#b3261e";
  ctx.lineWidth = 2;
  ctx.beginPath();
  points.forEach((p, i) => (i === 0 ? ctx.moveTo(px(p), py(p.y)) : ctx.lineTo(px(p), py(p.y))));
  if (points.length === 1) ctx.lineTo(width - pad.right, py(points[0].y));
  ctx.stroke();
  ctx.fillStyle = "#333";
  ctx.fillText(high.toFixed(2), width - pad.right + 6, py(high) + 4);
  if (high !== low) ctx.fillText(low.toFixed(2), width - pad.right + 6, py(low) + 4);
}

// The stock view (public) --------------------------------------------------------------------

async function loadStock() {
  const symbol = state.symbol;
  const [stock, candles] = await Promise.all([
    api(`/stocks/${encodeURIComponent(symbol)}`),
    api(`/stocks/${encodeURIComponent(symbol)}/chart?interval=${state.interval}&limit=${BARS[state.interval]}`),
  ]);
  if (symbol !== state.symbol) return; // the user picked another stock meanwhile
  $("rh-last").textContent = usd(stock.last_price);
  $("rh-name").textContent = stock.name;
  $("rh-bid").textContent = usd(stock.bid);
  $("rh-ask").textContent = usd(stock.ask);
  // Candle starts are nanoseconds; the chart only needs their order and spacing.
  drawLine(
    $("rh-chart"),
    candles.map((c) => ({ x: c.start / 1e6, y: Number(c.close) })),
    "No trades in this range yet",
  );
  const news = $("rh-news");
  news.replaceChildren();
  for (const item of stock.news) {
    const li = document.createElement("li");
    const head = document.createElement("strong");
    head.textContent = item.headline;
    const meta = document.createElement("div");
    meta.className = "rh-muted";
    meta.textContent = `${item.source} · ${new Date(item.published_at).toLocaleString()}`;
    const body = document.createElement("div");
    body.textContent = item.body;
    li.append(head, meta, body);
    news.append(li);
  }
  if (!stock.news.length) {
    const li = document.createElement("li");
    li.className = "rh-muted";
    li.textContent = "No news.";
    news.append(li);
  }
}

function showStockError(error) {
  $("rh-last").textContent = "—";
  $("rh-name").textContent = error.message;
}

function choose(symbol) {
  state.symbol = symbol;
  $("rh-symbol").value = symbol;
  if (signedIn) {
    $("rh-trade-symbol").textContent = symbol;
    $("rh-follow").textContent = state.watching.has(symbol) ? "Remove from watchlist" : "Add to watchlist";
  }
  loadStock().catch(showStockError);
  live.follow();
}

// The customer's account -------------------------------------------------------------------

async function loadOnboarding() {
  const status = $("rh-onboarding-status");
  const form = $("rh-apply");
  try {
    const record = await api("/onboarding");
    state.approved = record.status === "approved";
    status.textContent = state.approved
      ? `Approved: ${record.legal_name}, SSN ending ${record.tax_id_last4}. You can trade.`
      : `Application not approved: ${record.reason}. Correct it and apply again.`;
    form.hidden = state.approved;
  } catch (error) {
    if (error.type.endsWith("robinhood/onboarding-required")) {
      state.approved = false;
      status.textContent = "Open your brokerage account to deposit and trade.";
      form.hidden = false;
    } else {
      status.textContent = error.message;
    }
  }
}

async function loadAccount() {
  const [account, points] = await Promise.all([api("/account"), api("/account/portfolio?limit=500")]);
  $("rh-total").textContent = usd(account.total);
  $("rh-cash").textContent = usd(account.cash);
  $("rh-reserved").textContent = usd(account.reserved);
  $("rh-equity").textContent = usd(account.equity);
  drawLine(
    $("rh-portfolio-chart"),
    points.map((p) => ({ x: Date.parse(p.at), y: Number(p.total) })),
    "Your value over time appears after your first deposit",
  );
  const rows = $("rh-holdings").tBodies[0];
  rows.replaceChildren();
  for (const p of account.positions) {
    const row = rows.insertRow();
    cell(row, symbolLink(p.symbol));
    cell(row, trimShares(p.shares));
    cell(row, usd(p.price));
    cell(row, usd(p.value));
  }
  if (!account.positions.length) {
    cell(rows.insertRow(), "No stocks yet.", "rh-muted").colSpan = 4;
  }
}

async function loadWatchlist() {
  const list = await api("/watchlist");
  state.watching = new Set(list.symbols.map((q) => q.symbol));
  const rows = $("rh-watchlist").tBodies[0];
  rows.replaceChildren();
  for (const q of list.symbols) {
    const row = rows.insertRow();
    row.dataset.symbol = q.symbol;
    cell(row, symbolLink(q.symbol));
    cell(row, usd(q.last_price), "rh-q-last");
    cell(row, usd(q.bid), "rh-q-bid");
    cell(row, usd(q.ask), "rh-q-ask");
    cell(row, button("Remove", () => unfollow(q.symbol)));
  }
  live.follow();
  if (!list.symbols.length) {
    cell(rows.insertRow(), "Add stocks from the stock view.", "rh-muted").colSpan = 5;
  }
  $("rh-follow").textContent = state.watching.has(state.symbol) ? "Remove from watchlist" : "Add to watchlist";
}

async function unfollow(symbol) {
  await send(`/watchlist/${encodeURIComponent(symbol)}`, "DELETE").catch((e) => alert(e.message));
  await loadWatchlist();
}

function describe(order) {
  const what = order.dollars != null && order.side === "buy" ? usd(order.dollars) : `${trimShares(order.shares)} sh`;
  const price = order.type === "limit" ? ` limit ${usd(order.limit_price)}` : "";
  return `${order.side === "buy" ? "Buy" : "Sell"} ${what} ${order.symbol}${price}`;
}

async function loadOrders() {
  const page = await api("/orders?limit=20");
  const rows = $("rh-orders").tBodies[0];
  rows.replaceChildren();
  for (const o of page.orders) {
    const row = rows.insertRow();
    cell(row, describe(o), o.side === "buy" ? "rh-up" : "rh-down");
    cell(row, o.average_price ? `${trimShares(o.filled_shares)} @ ${usd(o.average_price)}` : trimShares(o.filled_shares));
    cell(row, usd(o.amount));
    const status = cell(row, o.reason ? `${o.status}: ${o.reason}` : o.status);
    // Only a resting limit order can be cancelled (a market order is final when answered); the
    // button sits under the status so the table fits a phone's width.
    if (o.type === "limit" && (o.status === "open" || o.status === "partially_filled")) {
      status.append(document.createElement("br"), button("Cancel", () => cancel(o.id)));
    }
  }
  if (!page.orders.length) cell(rows.insertRow(), "No orders yet.", "rh-muted").colSpan = 4;
}

async function cancel(orderId) {
  try {
    await send(`/orders/${orderId}`, "DELETE");
  } catch (error) {
    $("rh-order-result").textContent = error.message;
  }
  refreshCustomer();
}

function refreshCustomer() {
  const report = (error) => ($("rh-transfer-result").textContent = error.message);
  loadAccount().catch(report);
  loadWatchlist().catch(report);
  loadOrders().catch(report);
}

// Forms ----------------------------------------------------------------------------------------

function wireApply() {
  const form = $("rh-apply");
  form.onsubmit = async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    data.country = data.country.toUpperCase();
    try {
      await send("/onboarding", "POST", data);
    } catch (error) {
      $("rh-onboarding-status").textContent = error.message;
      return;
    }
    await loadOnboarding();
  };
}

function wireTransfer() {
  const form = $("rh-transfer");
  form.onsubmit = async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    try {
      const account = await send("/transfers", "POST", data);
      $("rh-transfer-result").textContent = `Done: cash is now ${usd(account.cash)}.`;
      form.reset();
    } catch (error) {
      $("rh-transfer-result").textContent = error.message;
    }
    refreshCustomer();
  };
}

function wireOrder() {
  const form = $("rh-order");
  const sync = () => {
    const unit = form.elements.unit.value;
    // The broker takes dollar amounts for market buys only, and limit orders in whole shares.
    if (unit === "dollars") {
      form.elements.side.value = "buy";
      form.elements.type.value = "market";
    }
    form.elements.side.querySelector('[value="sell"]').disabled = unit === "dollars";
    form.elements.type.querySelector('[value="limit"]').disabled = unit === "dollars";
    const limit = form.elements.type.value === "limit";
    $("rh-limit-row").hidden = !limit;
    $("rh-tif-row").hidden = !limit;
    form.elements.limit_price.required = limit;
    $("rh-amount-label").textContent = unit === "dollars" ? "Dollars" : "Shares";
    $("rh-order-hint").textContent = limit
      ? "A limit order is for whole shares and waits at the exchange for your price or better."
      : unit === "dollars"
        ? "Buys as many shares (to 6 places) as the dollars pay for at the quote, never more."
        : "Fills now at the quote; fractional shares to 6 places.";
    form.elements.amount.pattern = unit === "dollars" ? "[0-9]+(\\.[0-9]{1,2})?" : limit ? "[0-9]+" : "[0-9]+(\\.[0-9]{1,6})?";
  };
  form.onchange = sync;
  sync();
  form.onsubmit = async (event) => {
    event.preventDefault();
    const f = form.elements;
    const body = { symbol: state.symbol, side: f.side.value, type: f.type.value };
    body[f.unit.value] = f.amount.value;
    if (body.type === "limit") {
      body.limit_price = f.limit_price.value;
      body.time_in_force = f.time_in_force.value;
    }
    const result = $("rh-order-result");
    result.textContent = "Placing…";
    try {
      const order = await send("/orders", "POST", body);
      const fill = Number(order.filled_shares) > 0 ? `, ${trimShares(order.filled_shares)} shares at ${usd(order.average_price)} (${usd(order.amount)})` : "";
      result.textContent = `${describe(order)}: ${order.status}${fill}${order.reason ? ` — ${order.reason}` : ""}.`;
    } catch (error) {
      result.textContent = error.message;
    }
    refreshCustomer();
    loadStock().catch(showStockError);
  };
}

function wireStockView() {
  $("rh-symbol").onchange = (event) => choose(event.target.value);
  for (const b of document.querySelectorAll("[data-interval]")) {
    b.onclick = () => {
      state.interval = b.dataset.interval;
      for (const other of document.querySelectorAll("[data-interval]")) {
        other.setAttribute("aria-pressed", String(other === b));
      }
      loadStock().catch(showStockError);
    };
  }
  if (signedIn) {
    $("rh-follow").onclick = async () => {
      const method = state.watching.has(state.symbol) ? "DELETE" : "PUT";
      await send(`/watchlist/${encodeURIComponent(state.symbol)}`, method).catch((e) => alert(e.message));
      await loadWatchlist();
    };
  }
}

// Live quotes: the exchange's public market-data WebSocket (engines/matching/md_live.py), one
// socket for the stock in view and the watchlist; quote frames update the prices in place and
// trade frames redraw the chart. Reconnects after 2 s and resubscribes (no polling).

const live = {
  socket: null,
  redraw: null,
  streams: new Set(),
  wanted() {
    const symbols = new Set([state.symbol, ...state.watching]);
    const streams = new Set();
    for (const symbol of symbols) if (symbol) streams.add(`${symbol}@quote`);
    if (state.symbol) streams.add(`${state.symbol}@trade`);
    return streams;
  },
  follow() {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return this.connect();
    const wanted = this.wanted();
    const gone = [...this.streams].filter((s) => !wanted.has(s));
    const added = [...wanted].filter((s) => !this.streams.has(s));
    if (gone.length) this.socket.send(JSON.stringify({ op: "unsubscribe", streams: gone }));
    if (added.length) this.socket.send(JSON.stringify({ op: "subscribe", streams: added }));
    this.streams = wanted;
  },
  connect() {
    if (this.socket) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/stock-exchange/market`);
    this.socket = socket;
    socket.onopen = () => {
      $("rh-live").textContent = "live";
      this.streams = new Set();
      this.follow();
    };
    socket.onmessage = (message) => this.onFrame(JSON.parse(message.data));
    socket.onclose = () => {
      $("rh-live").textContent = "reconnecting…";
      this.socket = null;
      setTimeout(() => {
        loadStock().catch(showStockError);
        this.connect();
      }, 2000);
    };
  },
  onFrame(frame) {
    if (!frame.stream) return;
    const symbol = frame.stream.split("@")[0];
    if (frame.type === "quote") {
      const prices = { last: frame.last_price_text, bid: frame.bid_price_text, ask: frame.ask_price_text };
      if (symbol === state.symbol) {
        if (prices.last != null) $("rh-last").textContent = usd(prices.last);
        $("rh-bid").textContent = usd(prices.bid);
        $("rh-ask").textContent = usd(prices.ask);
      }
      const row = [...$("rh-watchlist").tBodies[0].rows].find((r) => r.dataset.symbol === symbol);
      if (row) {
        if (prices.last != null) row.querySelector(".rh-q-last").textContent = usd(prices.last);
        row.querySelector(".rh-q-bid").textContent = usd(prices.bid);
        row.querySelector(".rh-q-ask").textContent = usd(prices.ask);
      }
    } else if (frame.type === "trade" && symbol === state.symbol && !this.redraw) {
      // A burst of trades redraws the chart (and the account, whose orders may have filled) once.
      this.redraw = setTimeout(() => {
        this.redraw = null;
        loadStock().catch(showStockError);
        if (signedIn) refreshCustomer();
      }, 500);
    }
  },
};

function main() {
  wireStockView();
  if (signedIn) {
    wireApply();
    wireTransfer();
    wireOrder();
    loadOnboarding();
    refreshCustomer();
  }
  choose(state.symbol);
  live.connect();
}

main();
