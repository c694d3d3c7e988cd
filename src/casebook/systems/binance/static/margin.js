// The cross-margin page (/binance/margin): reads the caller's margin account and posts the
// transfer, borrow and repay forms. Our own code, no library.
const $ = (id) => document.getElementById(id);
const REFRESH_MS = 3000;
const GAUGE_MAX = 4; // the gauge spans levels 0..4; above that the needle stays at the end

async function call(path, options = {}) {
  const response = await fetch("/api/binance/margin" + path, { credentials: "same-origin", ...options });
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || body.title || `HTTP ${response.status}`);
  return body;
}

function cell(row, text) {
  row.insertCell().textContent = text;
}

function render(account) {
  const level = account.level;
  $("mg-level").textContent = level === null ? "∞ (no debt)" : level;
  const status = account.status === "none" ? "no margin account yet: transfer in to open one" : account.status;
  $("mg-status").textContent = status;
  $("mg-status").className = account.margin_call ? "mg-call" : "mg-status";
  const position = level === null ? 1 : Math.min(Number(level) / GAUGE_MAX, 1);
  $("mg-needle").style.left = `calc(${(position * 100).toFixed(2)}% - 1px)`;
  $("mg-assets-value").textContent = account.total_asset_value;
  $("mg-debts-value").textContent = account.total_debt_value;
  const body = $("mg-table").tBodies[0];
  body.replaceChildren();
  for (const asset of account.assets) {
    const row = body.insertRow();
    for (const key of ["asset", "free", "locked", "borrowed", "interest", "net"]) cell(row, asset[key]);
    cell(row, account.max_borrowable[asset.asset] || "0");
  }
  const events = $("mg-events");
  events.replaceChildren();
  for (const event of account.events) {
    const item = document.createElement("li");
    item.textContent = `${event.created_at.slice(0, 19)} ${event.kind}` +
      (event.level ? ` (level ${event.level})` : "") + `: ${event.detail}`;
    events.append(item);
  }
}

async function refresh() {
  try {
    render(await call("/account"));
  } catch (error) {
    $("mg-message").textContent = error.message;
  }
}

function submitter(form, path) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = Object.fromEntries(new FormData(form));
    try {
      render(await call(path, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
        body: JSON.stringify(fields),
      }));
      $("mg-message").textContent = "Done.";
      form.reset();
    } catch (error) {
      $("mg-message").textContent = error.message;
    }
  });
}

if ($("mg-app")) {
  submitter($("mg-transfer"), "/transfer");
  submitter($("mg-borrow"), "/borrow");
  submitter($("mg-repay"), "/repay");
  refresh();
  setInterval(refresh, REFRESH_MS);
}
