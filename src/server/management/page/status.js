// The status page: asks for the management key once (kept in sessionStorage for this
// tab), then polls GET /v0/management/status and updates the page in place, so focus
// and the tab order survive every update. No library, nothing from another origin.
"use strict";

const API = "/v0/management";
const KEY_SLOT = "cliproxy-management-key";
const POLL_MS = 2000;
const SVG_NS = "http://www.w3.org/2000/svg";

let key = sessionStorage.getItem(KEY_SLOT) || "";
let data = null;
let fetchedAt = 0;
let timer = null;
let groupBy = "model";
let polling = false;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const init = { method, headers: { "X-Management-Key": key }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(API + path, init);
  let payload = null;
  try {
    payload = await r.json();
  } catch (_) {
    payload = null;
  }
  if (!r.ok) {
    const msg = (payload && (payload.message || payload.error)) || r.statusText;
    throw new HttpError(r.status, msg);
  }
  return payload;
}

// ---- formatting -------------------------------------------------------------------

const fmtInt = new Intl.NumberFormat();

function duration(s) {
  const neg = s < 0;
  s = Math.abs(Math.round(s));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), sec = s % 60;
  let out;
  if (d > 0) out = `${d}d ${h}h`;
  else if (h > 0) out = `${h}h ${m}m`;
  else if (m > 0) out = `${m}m ${sec}s`;
  else out = `${sec}s`;
  return neg ? `expired ${out} ago` : `in ${out}`;
}

function when(iso) {
  if (!iso) return "never";
  const t = new Date(iso);
  const ago = (Date.now() - t.getTime()) / 1000;
  const rel = ago < 60 ? "just now" : ago < 3600 ? `${Math.floor(ago / 60)}m ago`
    : ago < 86400 ? `${Math.floor(ago / 3600)}h ago` : `${Math.floor(ago / 86400)}d ago`;
  return `${t.toLocaleString()} (${rel})`;
}

function elapsed() {
  return (performance.now() - fetchedAt) / 1000;
}

// ---- key form -----------------------------------------------------------------------

function showLogin(message) {
  stopPolling();
  $("app").hidden = true;
  $("signout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("live").textContent = "";
  $("key").focus();
}

function refusal(e) {
  if (e.status === 401) return "The key was refused.";
  if (e.status === 404) return "The management API is off: set remote-management.secret-key or CLIPROXY_MANAGEMENT_PASSWORD.";
  if (e.status === 403) return `Refused: ${e.message}`;
  return `Could not reach the gateway: ${e.message}`;
}

async function signIn(candidate) {
  key = candidate;
  try {
    const d = await api("GET", "/status");
    sessionStorage.setItem(KEY_SLOT, key);
    $("login").hidden = true;
    $("app").hidden = false;
    $("signout").hidden = false;
    $("key").value = "";
    apply(d);
    startPolling();
    $("main").focus();
  } catch (e) {
    sessionStorage.removeItem(KEY_SLOT);
    key = "";
    showLogin(refusal(e));
  }
}

// ---- polling ------------------------------------------------------------------------

function startPolling() {
  stopPolling();
  timer = setInterval(poll, POLL_MS);
}

function stopPolling() {
  if (timer) clearInterval(timer);
  timer = null;
}

async function poll() {
  if (polling) return;
  polling = true;
  try {
    apply(await api("GET", "/status"));
  } catch (e) {
    if (e.status === 401 || e.status === 403 || e.status === 404) {
      sessionStorage.removeItem(KEY_SLOT);
      showLogin(refusal(e));
    } else {
      $("live").textContent = `Not updated: ${e.message}`;
    }
  } finally {
    polling = false;
  }
}

function apply(d) {
  data = d;
  fetchedAt = performance.now();
  $("live").textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
  $("today-requests").textContent = fmtInt.format(d.today.requests);
  $("today-failed").textContent = fmtInt.format(d.today.failed);
  $("today-tokens").textContent = fmtInt.format(d.today.tokens);
  $("usage-off").hidden = d.usage_recording;
  renderAccounts(d.accounts);
  renderSync(d.sync);
  renderCharts();
}

// ---- accounts -----------------------------------------------------------------------

const rows = new Map();

// A busy button is marked aria-disabled rather than disabled: a disabled button would
// drop the keyboard focus.
function button(label, onClick) {
  const b = el("button", { type: "button", text: label });
  b.addEventListener("click", async () => {
    if (b.getAttribute("aria-disabled") === "true") return;
    b.setAttribute("aria-disabled", "true");
    try {
      await onClick(b);
    } finally {
      b.removeAttribute("aria-disabled");
    }
  });
  return b;
}

function notice(text, bad) {
  const n = $("notice");
  n.textContent = text;
  n.classList.toggle("bad", !!bad);
}

async function act(btn, what, fn) {
  try {
    await fn();
    notice(`${what}: done.`);
    await poll();
  } catch (e) {
    notice(`${what}: ${e.message}`, true);
  }
}

function makeRow(a) {
  const r = { name: a.name };
  r.tr = el("tr", { "data-account": a.name });
  r.account = el("td", { class: "account" });
  r.provider = el("td");
  r.plan = el("td");
  r.expiry = el("td", { class: "expiry" });
  r.state = el("td", { class: "state" });
  r.lastUsed = el("td", { class: "last-used" });
  r.requests = el("td", { class: "num requests" });
  r.tokens = el("td", { class: "num tokens" });
  const actions = el("div", { class: "actions" });
  r.refresh = button("Refresh now", (b) =>
    act(b, `Refresh ${r.name}`, () => api("POST", "/auth-files/refresh", { name: r.name })));
  r.clear = button("Clear cooldown", (b) =>
    act(b, `Clear cooldown of ${r.name}`, () => api("POST", "/cooldowns/clear", { name: r.name })));
  r.toggle = button("Disable", (b) => {
    const disable = !r.disabled;
    return act(b, `${disable ? "Disable" : "Enable"} ${r.name}`, () =>
      api("PATCH", "/auth-files/status", { name: r.name, disabled: disable }));
  });
  r.login = button("Log in", (b) => startLogin(b, r));
  actions.append(r.refresh, r.clear, r.toggle, r.login);
  r.tr.append(r.account, r.provider, r.plan, r.expiry, r.state, r.lastUsed, r.requests, r.tokens,
    el("td", {}, actions));
  return r;
}

function updateRow(r, a) {
  r.data = a;
  r.disabled = !!a.disabled;
  r.account.replaceChildren(
    el("span", { text: a.email || a.label || a.name }),
    el("span", { class: "sub", text: a.name }));
  r.provider.textContent = a.provider || "";
  r.plan.textContent = a.plan || "—";
  updateCountdowns(r);
  r.lastUsed.textContent = a.usage && a.usage.last_used ? when(a.usage.last_used) : "never";
  r.requests.textContent = fmtInt.format(a.usage ? a.usage.requests : 0);
  r.tokens.textContent = fmtInt.format(a.usage ? a.usage.tokens : 0);
  const oauth = a.kind === "oauth";
  const hadFocus = [r.refresh, r.clear, r.toggle, r.login].find((b) => b === document.activeElement);
  r.clear.hidden = !(a.cooling && a.cooling.length);
  r.toggle.hidden = !oauth;
  r.toggle.textContent = r.disabled ? "Enable" : "Disable";
  r.login.hidden = !a.login_route;
  r.refresh.hidden = !a.refreshable;
  // A button that goes away (a cleared cooldown) hands the focus to one that stays.
  if (hadFocus && hadFocus.hidden) {
    const next = [r.toggle, r.refresh, r.clear, r.login].find((b) => !b.hidden);
    if (next) next.focus();
  }
}

// Countdowns move every second between polls, from the last answer.
function updateCountdowns(r) {
  const a = r.data;
  const gone = elapsed();
  if (a.expires_in_s === null || a.expires_in_s === undefined) {
    r.expiry.textContent = a.kind === "api-key" ? "API key" : "—";
  } else {
    r.expiry.replaceChildren(
      el("span", { class: "countdown", text: duration(a.expires_in_s - gone) }),
      el("span", { class: "sub", text: new Date(a.expiry).toLocaleString() }));
  }
  const st = a.state.state;
  const parts = [el("span", { class: `badge st-${st}`, text: st.replace("_", " ") })];
  if (st === "needs_login" && a.state.command) {
    parts.push(el("span", { class: "state-msg" }, "Run ", el("code", { text: a.state.command })));
  } else if (st === "refresh_failed") {
    const left = Math.max(0, a.state.retry_in_s - gone);
    parts.push(el("span", { class: "state-msg", text: `${a.state.message}; retried ${duration(left)}` }));
  } else if (st !== "cooling" && a.state.message) {
    parts.push(el("span", { class: "state-msg", text: a.state.message }));
  }
  if (a.cooling && a.cooling.length) {
    const ul = el("ul", { class: "cooldowns" });
    for (const c of a.cooling) {
      const left = Math.max(0, c.remaining_s - gone);
      ul.append(el("li", { class: "cooldown" },
        el("code", { text: c.model }), `: ${c.reason}, `,
        el("span", { class: "countdown", text: `ends ${duration(left)}` }),
        el("span", { class: "sub", text: `until ${new Date(c.until).toLocaleTimeString()}` })));
    }
    parts.push(ul);
  }
  r.state.replaceChildren(...parts);
}

function renderAccounts(list) {
  const body = $("accounts").tBodies[0];
  const seen = new Set();
  list.forEach((a, i) => {
    seen.add(a.name);
    let r = rows.get(a.name);
    if (!r) {
      r = makeRow(a);
      rows.set(a.name, r);
    }
    updateRow(r, a);
    // Moved only when out of place: moving a row would take the focus off its buttons.
    if (body.children[i] !== r.tr) body.insertBefore(r.tr, body.children[i] || null);
  });
  for (const [name, r] of rows) {
    if (!seen.has(name)) {
      r.tr.remove();
      rows.delete(name);
    }
  }
  $("no-accounts").hidden = list.length > 0;
}

async function startLogin(btn, r) {
  try {
    const d = await api("GET", `${r.data.login_route}?is_webui=true`);
    const link = el("a", { href: d.url, target: "_blank", rel: "noopener noreferrer", text: "Open the provider's login page" });
    const n = $("notice");
    n.classList.remove("bad");
    n.replaceChildren(`Login for ${r.name} started: `, link, " (waiting for it to finish)");
    link.focus();
    waitLogin(d.state, r.name);
  } catch (e) {
    notice(`Login for ${r.name}: ${e.message}`, true);
  }
}

async function waitLogin(state, name) {
  for (let i = 0; i < 300; i++) {
    await new Promise((res) => setTimeout(res, 2000));
    let d;
    try {
      d = await api("GET", `/get-auth-status?state=${encodeURIComponent(state)}`);
    } catch (e) {
      notice(`Login for ${name}: ${e.message}`, true);
      return;
    }
    if (d.status === "ok") {
      notice(`Login for ${name}: done.`);
      poll();
      return;
    }
    if (d.status === "error") {
      notice(`Login for ${name}: ${d.error || "failed"}`, true);
      return;
    }
  }
}

// ---- sync ---------------------------------------------------------------------------

function renderSync(s) {
  $("sync-off").hidden = s.enabled;
  $("sync").hidden = !s.enabled;
  const body = $("sync").tBodies[0];
  const summary = $("sync-summary");
  if (!s.enabled) {
    summary.textContent = "";
    body.replaceChildren();
    return;
  }
  const lr = s.last_run;
  summary.textContent = lr
    ? `Last reconcile ${when(lr.finished)}: ${lr.ok ? "ok" : "with problems"}, ${lr.actions} change(s).`
    : "No reconcile has finished yet.";
  body.replaceChildren(...s.locations.map((l) => el("tr", { "data-location": l.id },
    el("td", { text: l.id }),
    el("td", {}, el("code", { text: l.where })),
    el("td", { text: when(l.last_run) }),
    el("td", {}, el("span", { class: `badge st-${l.result.replaceAll(" ", "_")}`, text: l.result })),
    el("td", { class: "num", text: String(l.pending) }),
    el("td", { text: when(l.last_success) }),
    el("td", { text: l.last_error || "—" }))));
}

// ---- charts (inline SVG) ---------------------------------------------------------------

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function chart(target, hours, series, field, unit) {
  const W = 720, H = 220, L = 52, R = 8, T = 10, B = 28;
  const n = hours.length;
  const totals = hours.map((_, i) => series.reduce((s, x) => s + x[field][i], 0));
  const max = niceMax(Math.max(0, ...totals));
  const bw = (W - L - R) / n;
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const total = totals.reduce((a, b) => a + b, 0);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `${unit} per hour over the last 24 hours, ${fmtInt.format(total)} in all` });
  for (const f of [0, 0.5, 1]) {
    const v = max * f;
    root.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    root.append(svg("text", { class: "axis", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmtInt.format(v)));
  }
  hours.forEach((h, i) => {
    let base = 0;
    series.forEach((s, si) => {
      const v = s[field][i];
      if (!v) return;
      const rect = svg("rect", { class: `c${si % 8}`, x: L + i * bw + 1, width: Math.max(1, bw - 2),
        y: y(base + v), height: Math.max(1, y(base) - y(base + v)) });
      rect.append(svg("title", {}, `${new Date(h).getHours()}:00 ${s.name}: ${fmtInt.format(v)} ${unit.toLowerCase()}`));
      root.append(rect);
      base += v;
    });
    if (i % 3 === 0 || i === n - 1) {
      root.append(svg("text", { class: "axis", x: L + i * bw + bw / 2, y: H - 8, "text-anchor": "middle" },
        `${String(new Date(h).getHours()).padStart(2, "0")}h`));
    }
  });
  target.replaceChildren(root);
}

function renderCharts() {
  if (!data) return;
  const h = data.hourly;
  const series = groupBy === "model" ? h.by_model : h.by_account;
  chart($("chart-requests"), h.hours, series, "requests", "Requests");
  chart($("chart-tokens"), h.hours, series, "tokens", "Tokens");
  const legend = $("legend");
  legend.replaceChildren(...series.map((s, i) =>
    el("li", {}, el("span", { class: `sw c${i % 8}`, "aria-hidden": "true" }), s.name)));
  if (!series.length) legend.replaceChildren(el("li", { class: "muted", text: "No requests in the last 24 hours." }));
}

function setGroup(g) {
  groupBy = g;
  $("by-model").setAttribute("aria-pressed", String(g === "model"));
  $("by-account").setAttribute("aria-pressed", String(g === "account"));
  renderCharts();
}

// ---- start --------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const k = $("key").value.trim();
    if (k) signIn(k);
  });
  $("signout").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_SLOT);
    key = "";
    rows.clear();
    $("accounts").tBodies[0].replaceChildren();
    showLogin("Signed out.");
  });
  $("by-model").addEventListener("click", () => setGroup("model"));
  $("by-account").addEventListener("click", () => setGroup("account"));
  setInterval(() => {
    if (data && !$("app").hidden) for (const r of rows.values()) updateCountdowns(r);
  }, 1000);
  if (key) signIn(key);
  else showLogin("");
});
