// kbridge console: plain JavaScript, no build step. Every view reads /v1/console/* with the
// API key kept in this tab's sessionStorage; nothing here holds data or secrets.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { config: null, write: true, tail: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function pretty(value) {
  return el("pre", {}, typeof value === "string" ? value : JSON.stringify(value, null, 2));
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = sessionStorage.getItem("kbridge-key");
  if (key) h["X-Api-Key"] = key;
  return h;
}

async function failure(response) {
  let message = response.status + " " + response.statusText;
  try {
    const body = await response.json();
    const err = body.error || body;
    if (err.message) message = response.status + " " + (err.code || "") + ": " + err.message;
  } catch (e) { /* not JSON */ }
  const error = new Error(message);
  error.status = response.status;
  return error;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.body !== undefined ? { "Content-Type": "application/json" } : {});
  const response = await fetch(path, opts);
  if (!response.ok) throw await failure(response);
  return response.json();
}

function showError(error) {
  const box = $("error");
  if (!error) { box.hidden = true; box.textContent = ""; return; }
  box.hidden = false;
  box.textContent = error.message || String(error);
}

function table(columns, rows) {
  const head = el("tr", {}, ...columns.map((c) => el("th", {}, c[0])));
  const body = rows.map((row) => el("tr", {}, ...columns.map((c) => {
    const value = c[1](row);
    return el("td", {}, value instanceof Node ? value : (value ?? ""));
  })));
  if (!rows.length) body.push(el("tr", {}, el("td", { colspan: columns.length, class: "muted" }, "none")));
  return el("table", { class: "grid" }, el("thead", {}, head), el("tbody", {}, ...body));
}

function statusBadge(status, kind, name) {
  // GET /v1/status (kbridge status -o json): targets carry their sink group and dead
  // letters, sources a state, buses the router group.
  if (!status) return el("span", { class: "muted" }, "from config");
  const entry = (status[kind + "es"] || status[kind + "s"] || []).find((s) => s.name === name);
  if (!entry) return el("span", { class: "muted" }, "no status");
  const group = entry.sink || entry.router;
  let text, good;
  if (group) {
    text = group.state + ", " + group.members + " member(s), lag " + group.lag;
    good = group.members > 0 && /stable/i.test(group.state);
    if (entry.dead_letters !== undefined) {
      text += ", " + entry.dead_letters + " dead letter(s)";
      good = good && entry.dead_letters === 0;
    }
  } else {
    text = entry.state || JSON.stringify(entry);
    good = /ok|up|running|stable|ready/i.test(text);
  }
  const badge = el("span", { class: "badge status " + (good ? "ok" : "bad"), title: JSON.stringify(entry) }, text);
  if (entry.last_error) return el("span", {}, badge, el("div", { class: "muted" }, "last error: " + entry.last_error));
  return badge;
}

// ---- overview -------------------------------------------------------------------------
async function loadOverview() {
  const config = await api("/v1/console/config");
  state.config = config;
  let status = null;
  try {
    status = await api("/v1/status");
    $("status-note").textContent = "Live status from GET /v1/status: " + (status.healthy
      ? "healthy" : "problems: " + (status.problems || []).join("; "));
  } catch (e) {
    // a gateway without the status API answers 404/405, or 400 from /v1/{section}
    const absent = e.status === 400 || e.status === 404 || e.status === 405;
    $("status-note").textContent = absent
      ? "Live status is not available on this gateway (no GET /v1/status): showing the configuration."
      : "Live status unavailable (" + e.message + "): showing the configuration.";
  }
  $("buses").replaceChildren(table([
    ["name", (b) => b.name], ["partitions", (b) => b.partitions],
    ["router", (b) => statusBadge(status, "bus", b.name)], ["description", (b) => b.description],
  ], config.buses));
  $("rules").replaceChildren(table([
    ["name", (r) => r.name], ["bus", (r) => r.bus], ["enabled", (r) => String(r.enabled ?? r.state ?? "")],
    ["pattern", (r) => pretty(r.pattern ?? r.event_pattern ?? "")],
    ["targets and transforms", (r) => pretty(r.targets)],
  ], config.rules));
  $("targets").replaceChildren(table([
    ["name", (t) => t.name], ["kind", (t) => t.kind || t.type], ["status", (t) => statusBadge(status, "target", t.name)],
    ["settings (secrets masked)", (t) => pretty(t)],
  ], config.targets));
  $("sources").replaceChildren(table([
    ["name", (s) => s.name], ["kind", (s) => s.kind || s.type], ["status", (s) => statusBadge(status, "source", s.name)],
    ["settings (secrets masked)", (s) => pretty(s)],
  ], config.sources));
  $("connections").replaceChildren(table([
    ["name", (c) => c.name], ["settings (secrets masked)", (c) => pretty(c)],
  ], config.connections));
  fillSelect($("sandbox-bus"), config.buses.map((b) => b.name), true);
  fillSelect($("tail-bus"), config.buses.map((b) => b.name), false);
  fillSelect($("dlq-target"), config.targets.map((t) => t.name), false);
}

function fillSelect(select, names, keepFirst) {
  const first = keepFirst ? [select.options[0]] : [];
  select.replaceChildren(...first, ...names.map((n) => el("option", { value: n }, n)));
}

// ---- sandbox --------------------------------------------------------------------------
async function runSandbox() {
  const out = $("sandbox-result");
  out.replaceChildren(el("p", { class: "muted" }, "routing..."));
  let event;
  try { event = JSON.parse($("sandbox-event").value); } catch (e) {
    out.replaceChildren(el("p", { class: "error" }, "The event is not valid JSON: " + e.message));
    return;
  }
  const body = { event: event };
  if ($("sandbox-bus").value) body.bus = $("sandbox-bus").value;
  try {
    const result = await api("/v1/console/sandbox", { method: "POST", body: JSON.stringify(body) });
    const rules = result.matched_rules.length
      ? result.matched_rules.map((r) => el("span", { class: "badge ok rule-match" }, r))
      : [el("span", { class: "muted" }, "no rule matches")];
    const parts = [el("h3", {}, "Bus " + result.bus + ": matched rules "), el("p", { id: "sandbox-matched" }, ...rules)];
    for (const t of result.targets) {
      parts.push(el("div", { class: "card sandbox-target" },
        el("h3", {}, "rule " + t.rule + " \u2192 target " + t.target + " (" + t.kind + ")"),
        t.error ? el("p", { class: "error" }, "would be dead-lettered: " + t.error) : null,
        el("p", { class: "muted" }, "transformed payload (" + t.content_type + ")"), pretty(t.payload),
        el("p", { class: "muted" }, "what the sink sends"), pretty(t.sent)));
    }
    for (const d of result.dead_letters) parts.push(el("div", { class: "card" }, el("p", { class: "error" }, "dead letter"), pretty(d)));
    out.replaceChildren(...parts);
  } catch (e) {
    out.replaceChildren(el("p", { class: "error" }, e.message));
  }
}

// ---- live tail ------------------------------------------------------------------------
async function startTail() {
  stopTail();
  const bus = $("tail-bus").value;
  if (!bus) return;
  const params = new URLSearchParams();
  if ($("tail-pattern").value.trim()) params.set("pattern", $("tail-pattern").value.trim());
  const controller = new AbortController();
  state.tail = controller;
  $("tail-start").disabled = true; $("tail-stop").disabled = false;
  $("tail-state").textContent = "connecting...";
  try {
    const response = await fetch("/v1/console/tail/" + encodeURIComponent(bus) + "?" + params,
      { headers: headers(), signal: controller.signal });
    if (!response.ok) throw await failure(response);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        handleSse(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
    $("tail-state").textContent = "ended";
  } catch (e) {
    if (e.name !== "AbortError") { $("tail-state").textContent = "error"; showError(e); }
  } finally {
    if (state.tail === controller) { state.tail = null; $("tail-start").disabled = false; $("tail-stop").disabled = true; }
  }
}

function handleSse(block) {
  let name = "message", data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (!data) return;
  const payload = JSON.parse(data);
  if (name === "ready") $("tail-state").textContent = "tailing " + payload.topic + " (" + payload.partitions + " partitions)";
  if (name === "end") $("tail-state").textContent = "ended: " + payload.reason;
  if (name !== "event") return;
  const ev = payload.event || {};
  const row = el("tr", { class: "tail-event" },
    el("td", {}, new Date(payload.timestamp).toISOString()),
    el("td", {}, payload.partition + "/" + payload.offset),
    el("td", { class: "tail-id" }, ev.id ?? ""), el("td", {}, ev.source ?? ""), el("td", {}, ev.type ?? ""),
    el("td", {}, pretty(ev)));
  const body = $("tail-events").tBodies[0];
  body.prepend(row);
  while (body.rows.length > 200) body.deleteRow(body.rows.length - 1);
}

function stopTail() {
  if (state.tail) { state.tail.abort(); state.tail = null; $("tail-state").textContent = "stopped"; }
  $("tail-start").disabled = false; $("tail-stop").disabled = true;
}

// ---- trace ----------------------------------------------------------------------------
async function runTrace() {
  const id = $("trace-id").value.trim();
  const out = $("trace-result");
  if (!id) return;
  out.replaceChildren(el("p", { class: "muted" }, "looking up..."));
  try {
    const since = encodeURIComponent($("trace-since").value.trim() || "24h");
    const result = await api("/v1/console/trace/" + encodeURIComponent(id) + "?since=" + since);
    out.replaceChildren(
      el("p", {}, "Outcome: ", el("span", { id: "trace-outcome", class: "badge" }, result.outcome)),
      table([
        ["time", (r) => r.time], ["stage", (r) => r.stage], ["by", (r) => r.by],
        ["details", (r) => { const d = Object.assign({}, r); for (const k of ["v", "time", "stage", "by", "at"]) delete d[k]; return pretty(d); }],
      ], result.timeline));
  } catch (e) {
    out.replaceChildren(el("p", { class: "error" }, e.status === 404 && /not-found|no trace/.test(e.message)
      ? e.message : "Trace lookup failed: " + e.message));
  }
}

// ---- dead letters ---------------------------------------------------------------------
async function loadDeadLetters() {
  const target = $("dlq-target").value;
  const out = $("dlq-list");
  if (!target) return;
  $("dlq-state").textContent = "reading...";
  try {
    const result = await api("/v1/console/deadletters/" + encodeURIComponent(target));
    $("dlq-state").textContent = result.items.length + " dead letter(s) on " + result.topic;
    out.replaceChildren(...result.items.map((d) => {
      const button = el("button", { type: "button", class: "write dlq-redrive-one" }, "Redrive");
      button.disabled = !state.write;
      button.addEventListener("click", () => redrive(target, d.partition, d.offset));
      return el("div", { class: "card dlq-item" },
        el("h3", {}, "event " + d.event_id + " \u00b7 partition " + d.partition + " offset " + d.offset + " \u00b7 " + d.failed_at + " "),
        el("p", {}, el("span", { class: "badge bad" }, d.code || "error"), " ", el("span", { class: "dlq-message" }, d.message),
          " ", el("span", { class: "muted" }, "rule " + d.rule + ", attempts " + d.attempts + ", " + d.condition), " ", button),
        el("details", {}, el("summary", {}, "headers and value"),
          table([["header", (h) => h[0]], ["value", (h) => h[1]]], Object.entries(d.headers)), pretty(d.value)));
    }));
  } catch (e) {
    $("dlq-state").textContent = "";
    out.replaceChildren(el("p", { class: "error" }, e.message));
  }
}

async function redrive(target, partition, offset) {
  const path = partition === undefined
    ? "/v1/console/deadletters/" + encodeURIComponent(target) + "/redrive"
    : "/v1/console/deadletters/" + encodeURIComponent(target) + "/" + partition + "/" + offset + "/redrive";
  try {
    const result = await api(path, { method: "POST", body: "{}" });
    $("dlq-state").textContent = "redriven: " + result.redriven;
    $("dlq-state").classList.add("dlq-done");
  } catch (e) {
    $("dlq-state").textContent = "redrive failed: " + e.message;
  }
}

// ---- navigation and key ---------------------------------------------------------------
function showView() {
  const view = (location.hash || "#overview").slice(1);
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== "view-" + view;
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.view === view);
}

let attempt = 0;

async function start() {
  const mine = ++attempt;  // a slower earlier attempt (no key yet) must not overwrite this one
  showError(null);
  delete document.body.dataset.loaded;
  try {
    const me = await api("/v1/console/whoami");
    if (mine !== attempt) return;
    state.write = me.write;
    $("who").textContent = me.auth ? "key " + me.key + (me.write ? " (admin)" : " (read-only)") : "auth off";
    for (const b of document.querySelectorAll("button.write")) b.disabled = !me.write;
    await loadOverview();
    if (mine !== attempt) return;
    showError(null);
    document.body.dataset.loaded = "yes";
  } catch (e) {
    if (mine !== attempt) return;
    showError(e.status === 401 ? new Error("Enter an API key with the read or admin scope.") : e);
  }
}

$("key-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("kbridge-key", $("api-key").value);
  $("api-key").value = "";
  start();
});
$("sandbox-run").addEventListener("click", runSandbox);
$("tail-start").addEventListener("click", startTail);
$("tail-stop").addEventListener("click", stopTail);
$("trace-run").addEventListener("click", runTrace);
$("dlq-load").addEventListener("click", loadDeadLetters);
$("dlq-redrive-all").addEventListener("click", () => redrive($("dlq-target").value));
window.addEventListener("hashchange", showView);
$("sandbox-event").value = JSON.stringify({
  specversion: "1.0", id: "sandbox-1", source: "orders", type: "order.created",
  data: { order_id: 42, amount: 120 },
}, null, 2);
showView();
start();
