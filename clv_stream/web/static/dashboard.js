// clv-stream's dashboard: plain JavaScript over the worker's HTTP API (docs/contract.md),
// charts by the vendored Chart.js. No build step. Page options in the address:
// ?tenant=<id>&period=P12M&refresh=<seconds>.
"use strict";

const params = new URLSearchParams(location.search);
const REFRESH_S = Math.max(1, Number(params.get("refresh")) || 5);
const LIVE_POINTS = 60;  // samples in the throughput chart
const TOKEN_KEY = "clv-stream-token";  // this tab's sessionStorage only
const PALETTE = ["#3b6cf6", "#12b76a", "#f79009", "#ef6820", "#7a5af8", "#06aed4",
                 "#ee46bc", "#667085", "#84cc16", "#b42318", "#0e9384"];

const KPIS = [
  ["customers", "Customers", "count"], ["active_customers", "Active in period", "count"],
  ["orders", "Orders", "count"], ["revenue", "Revenue", "money"],
  ["average_order_value", "Avg order value", "money"], ["purchase_frequency", "Orders / customer / yr", "ratio"],
  ["repeat_purchase_rate", "Repeat purchase", "percent"], ["retention_rate", "Retention", "percent"],
  ["churn_rate", "Churn", "percent"], ["average_lifespan_years", "Avg lifespan (yrs)", "ratio"],
  ["traditional_clv", "Traditional CLV", "money"],
];
const TOTALS = [["historic_clv", "Historic CLV (all)"], ["predicted_clv", "Predicted CLV (all)"]];
const SUB_KPIS = [["mrr", "MRR", "money"], ["arr", "ARR", "money"],
                  ["active_subscribers", "Subscribers", "count"], ["arpu", "ARPU", "money"]];
const CUSTOMER_FIELDS = [
  ["total_clv", "Total CLV", "money"], ["historic_clv", "Historic CLV", "money"],
  ["predicted_clv", "Predicted CLV", "money"], ["clv_percentile", "CLV percentile", "count"],
  ["orders", "Orders", "count"], ["net_revenue", "Net revenue", "money"],
  ["average_order_value", "Avg order value", "money"], ["p_alive", "P(alive)", "percent"],
  ["churn_risk_band", "Churn risk", "text"], ["expected_orders", "Expected orders (horizon)", "ratio"],
  ["expected_next_order_at", "Expected next order", "text"], ["first_order_at", "First order", "text"],
  ["last_order_at", "Last order", "text"], ["cohort", "Cohort", "text"],
  ["acquisition_channel", "Acquisition channel", "text"],
];

const state = { tenant: params.get("tenant"), period: params.get("period") || "P12M",
                currency: "USD", live: [], charts: {}, timer: null, rounds: 0 };
const TENANTS_EVERY = 12;  // refreshes between two looks for new tenants

// --- helpers --------------------------------------------------------------------------
const $ = id => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

function fmt(value, kind) {
  if (value === null || value === undefined || value === "") return "–";
  const n = Number(value);
  switch (kind) {
    case "money": return n.toLocaleString(undefined, Math.abs(n) >= 1000  // whole units from 1,000
      ? {style: "currency", currency: state.currency, minimumFractionDigits: 0, maximumFractionDigits: 0}
      : {style: "currency", currency: state.currency});
    case "count": return n.toLocaleString();
    case "percent": return (100 * n).toLocaleString(undefined, {maximumFractionDigits: 1}) + " %";
    case "ratio": return n.toLocaleString(undefined, {maximumFractionDigits: 2});
    default: return String(value);
  }
}

function shortTime(iso) { return iso ? iso.replace("T", " ").replace(/:\d\dZ$/, "Z") : "–"; }

function base(tenant) { return "/tenants/" + encodeURIComponent(tenant); }

function chart(id, config) {
  // one Chart per canvas, its data replaced in place on each refresh
  const existing = state.charts[id];
  if (existing && existing.config.type === config.type) {
    existing.data.labels = config.data.labels;
    existing.data.datasets = config.data.datasets;
    existing.update("none");
    return existing;
  }
  if (existing) existing.destroy();
  config.options = Object.assign({responsive: true, maintainAspectRatio: false, animation: false,
                                  plugins: {legend: {display: config.data.datasets.length > 1}}},
                                 config.options || {});
  return (state.charts[id] = new Chart($(id), config));
}

function show(id, visible) { $(id).hidden = !visible; }

// --- access -------------------------------------------------------------------------------
class Unauthorized extends Error {}

async function api(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, {headers: token ? {"Authorization": "Bearer " + token} : {}});
  if (response.status === 401) throw new Unauthorized(token ? "That token was refused." : "");
  if (!response.ok && response.status !== 404) throw new Error(path + ": HTTP " + response.status);
  return response;
}

function askForToken(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("auth-reason").textContent = reason;
  show("auth", true);
  $("token").focus();
}

$("auth").addEventListener("submit", event => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  show("auth", false);
  refresh();
});

// --- report -------------------------------------------------------------------------------
function renderKpis(report) {
  const cards = KPIS.map(([key, label, kind]) => [key, label, fmt(report.kpis[key], kind)])
    .concat(TOTALS.map(([key, label]) => [key, label, fmt(report.overall[key], "money")]));
  $("kpis").replaceChildren(...cards.map(([key, label, text]) =>
    el("div", {class: "card kpi", "data-kpi": key},
       el("span", {class: "label"}, label), el("div", {class: "value"}, text))));
}

function renderDistribution(report) {
  const dist = report.clv_distribution || {edges: [], counts: []};
  show("distribution-empty", dist.counts.every(c => c === 0));
  let last = dist.counts.length;  // the empty top buckets are left out
  while (last > 1 && dist.counts[last - 1] === 0) last--;
  const labels = dist.edges.slice(0, last).map((edge, i) =>
    i + 1 < dist.edges.length ? fmt(edge, "money") + "–" + fmt(dist.edges[i + 1], "money")
                              : "≥ " + fmt(edge, "money"));
  chart("distribution-chart", {type: "bar", data: {labels, datasets: [{
    label: "customers", data: dist.counts.slice(0, last), backgroundColor: PALETTE[0]}]}});
}

function renderChannels(report) {
  const rows = Object.entries(report.by_channel || {});
  show("channels-empty", rows.length === 0);
  show("channels-hint", rows.length > 0 && rows.every(([, c]) => c.cac === null));
  const body = $("channels").tBodies[0];
  body.replaceChildren(...rows.map(([name, c]) => el("tr", {"data-channel": name},
    el("td", {}, name), el("td", {}, fmt(c.customers, "count")), el("td", {}, fmt(c.spend, "money")),
    el("td", {}, fmt(c.cac, "money")), el("td", {}, fmt(c.average_total_clv, "money")),
    el("td", {}, c.clv_to_cac === null ? "–" : fmt(c.clv_to_cac, "ratio") + "×"),
    el("td", {}, c.payback_months === null ? "–" : fmt(c.payback_months, "ratio") + " mo"))));
  const withCac = rows.some(([, c]) => c.clv_to_cac !== null);
  chart("channels-chart", {type: "bar", data: {labels: rows.map(([n]) => n), datasets: withCac
    ? [{label: "CLV : CAC", data: rows.map(([, c]) => c.clv_to_cac), backgroundColor: PALETTE[1]}]
    : [{label: "average total CLV", data: rows.map(([, c]) => Number(c.average_total_clv)),
        backgroundColor: PALETTE[0]}]}});
}

function renderCohorts(report) {
  const cohorts = Object.entries(report.cohorts || {});
  show("cohorts-empty", cohorts.length === 0);
  const width = Math.max(0, ...cohorts.map(([, c]) => c.retention.length));
  const head = el("tr", {}, el("th", {}, "cohort"), el("th", {}, "customers"),
                  ...Array.from({length: width}, (_, i) => el("th", {}, "M" + i)),
                  el("th", {}, "revenue / cust."), el("th", {}, "avg CLV"));
  const rows = cohorts.map(([month, c]) => {
    const cells = Array.from({length: width}, (_, i) => {
      const rate = c.retention[i];
      if (rate === undefined) return el("td", {class: "cell"});
      const cell = el("td", {class: "cell", title: `${month}, month ${i}: ${fmt(rate, "percent")}`},
                      Math.round(100 * rate) + "%");
      cell.style.background = `rgba(59, 108, 246, ${0.08 + 0.85 * rate})`;
      if (rate > 0.55) cell.style.color = "#fff";
      return cell;
    });
    const revenue = c.revenue_per_customer[c.revenue_per_customer.length - 1];
    return el("tr", {"data-cohort": month}, el("td", {}, month), el("td", {}, fmt(c.customers, "count")),
              ...cells, el("td", {}, fmt(revenue, "money")), el("td", {}, fmt(c.average_total_clv, "money")));
  });
  $("cohorts").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
}

function renderSegments(report, counts) {
  const dims = Object.entries(report.segments || {});
  const container = $("dims");
  const wanted = dims.map(([dim]) => "dim-" + dim);
  for (const card of [...container.children]) {
    if (!wanted.includes(card.id)) { state.charts[card.id + "-chart"]?.destroy(); card.remove(); }
  }
  for (const [dim, labels] of dims) {
    let card = $("dim-" + dim);
    if (!card) {
      card = el("div", {class: "card", id: "dim-" + dim, "data-dimension": dim},
                el("h2", {}, dim.replace(/_/g, " ")),
                el("div", {class: "chart"}, el("canvas", {id: "dim-" + dim + "-chart"})),
                el("table", {class: "moves"}));
      container.append(card);
    }
    const entries = Object.entries(labels).filter(([label]) => label !== "none")
      .sort((a, b) => b[1].customers - a[1].customers);
    chart("dim-" + dim + "-chart", {type: "bar", data: {
      labels: entries.map(([label]) => label.replace(/_/g, " ")),
      datasets: [{label: "customers", data: entries.map(([, f]) => f.customers),
                  backgroundColor: entries.map((_, i) => PALETTE[i % PALETTE.length])}]},
      options: {indexAxis: "y", plugins: {legend: {display: false}, tooltip: {callbacks: {
        afterLabel: ctx => "avg total CLV " + fmt(entries[ctx.dataIndex][1].average_total_clv, "money")}}}}});
    const moves = (counts?.[dim] || []).filter(m => m.from !== null).slice(0, 6);
    card.querySelector("table.moves").replaceChildren(
      el("thead", {}, el("tr", {}, el("th", {}, "moves (since start)"), el("th", {}, "customers"))),
      el("tbody", {}, ...(moves.length ? moves.map(m => el("tr", {},
        el("td", {}, `${m.from} → ${m.to}`.replace(/_/g, " ")), el("td", {}, fmt(m.customers, "count"))))
        : [el("tr", {}, el("td", {class: "empty", colspan: 2}, "no moves between segments yet"))])));
  }
}

function renderSubscriptions(subs) {
  show("subs-empty", !subs);
  show("subs", !!subs);
  if (!subs) return;
  $("subs-kpis").replaceChildren(...SUB_KPIS.map(([key, label, kind]) =>
    el("div", {class: "card kpi", "data-kpi": key},
       el("span", {class: "label"}, label), el("div", {class: "value"}, fmt(subs[key], kind)))));
  const months = subs.months.slice(-24);
  chart("mrr-chart", {type: "bar", data: {labels: months.map(m => m.month), datasets: [
    {type: "line", label: "MRR", data: months.map(m => Number(m.mrr_end)), borderColor: PALETTE[0],
     backgroundColor: PALETTE[0], yAxisID: "y"},
    {label: "new", data: months.map(m => Number(m.new) + Number(m.reactivation)), backgroundColor: PALETTE[1], stack: "m"},
    {label: "expansion", data: months.map(m => Number(m.expansion)), backgroundColor: PALETTE[5], stack: "m"},
    {label: "contraction", data: months.map(m => -Number(m.contraction)), backgroundColor: PALETTE[2], stack: "m"},
    {label: "churned", data: months.map(m => -Number(m.churned)), backgroundColor: PALETTE[9], stack: "m"},
  ]}, options: {scales: {x: {stacked: true}, y: {stacked: true}}}});
}

// --- live figures from /metrics ---------------------------------------------------------
function metricSum(text, name, filter = () => true) {
  let total = null;
  for (const line of text.split("\n")) {
    const m = line.match(/^([a-z_]+)(\{[^}]*\})? (\S+)$/);
    if (m && m[1] === name && filter(m[2] || "")) total = (total ?? 0) + Number(m[3]);
  }
  return total;
}

function renderLive(text) {
  const now = performance.now() / 1000;
  const consumed = metricSum(text, "clv_orders_total") ?? 0;
  const dead = metricSum(text, "clv_orders_total", labels => labels.includes('"invalid"')) ?? 0;
  const sample = {at: now, consumed, dead};
  const prev = state.live[state.live.length - 1];
  state.live.push(sample);
  if (state.live.length > LIVE_POINTS + 1) state.live.shift();
  $("lag").textContent = fmt(metricSum(text, "clv_consumer_lag"), "count");
  const clock = metricSum(text, "clv_stream_event_time_seconds");
  $("eventtime").textContent = clock ? shortTime(new Date(clock * 1000).toISOString().replace(/\.\d+Z$/, "Z")) : "–";
  $("deadshare").textContent = consumed ? fmt(dead / consumed, "percent") : "–";
  if (!prev) return;
  const dt = Math.max(now - prev.at, 1e-3);
  $("throughput").textContent = fmt(Math.round((consumed - prev.consumed) / dt), "count");
  $("deadletters").textContent = fmt((dead - prev.dead) / dt, "ratio");
  const points = state.live.slice(1).map((s, i) => ({
    x: Math.round(s.at - now), y: (s.consumed - state.live[i].consumed) / Math.max(s.at - state.live[i].at, 1e-3)}));
  chart("throughput-chart", {type: "line", data: {labels: points.map(p => p.x + " s"), datasets: [{
    label: "orders / s", data: points.map(p => p.y), borderColor: PALETTE[0], pointRadius: 0,
    fill: true, backgroundColor: "rgba(59,108,246,.12)"}]},
    options: {scales: {y: {beginAtZero: true}}}});
}

function renderFeed(body) {
  const items = (body?.transitions || []).slice(0, 40);
  show("feed-empty", items.length === 0);
  $("feed").replaceChildren(...items.map(t => {
    const who = el("a", {class: "customer", href: "#", "data-customer": t.customer_id}, t.customer_id);
    return el("li", {"data-dimension": t.dimension}, el("time", {}, shortTime(t.at)), who, " ",
              el("span", {class: "tag"}, t.dimension.replace(/_/g, " ")), " ",
              `${t.from ?? "—"} → ${t.to ?? "—"}`.replace(/_/g, " "));
  }));
  return body?.counts;
}

$("feed").addEventListener("click", event => {
  const link = event.target.closest("a.customer");
  if (!link) return;
  event.preventDefault();
  $("customer-id").value = link.dataset.customer;
  lookup(link.dataset.customer);
});

// --- customer lookup ------------------------------------------------------------------------
async function lookup(customerId) {
  $("lookup-status").textContent = "looking up…";
  const path = base(state.tenant) + "/customers/" + encodeURIComponent(customerId);
  try {
    const [found, history] = await Promise.all([api(path), api(path + "/history")]);
    if (found.status === 404) {
      show("customer", false);
      $("lookup-status").textContent = `No customer "${customerId}" in ${state.tenant}.`;
      return;
    }
    renderCustomer(await found.json(), history.ok ? await history.json() : {history: []});
  } catch (err) {
    if (err instanceof Unauthorized) return askForToken(err.message);
    $("lookup-status").textContent = "lookup failed: " + err.message;
  }
}

function renderCustomer(view, history) {
  const v = view.value;
  $("lookup-status").textContent = `as of ${shortTime(view.as_of)}`;
  const rows = CUSTOMER_FIELDS.map(([key, label, kind]) =>
    el("tr", {"data-field": key}, el("td", {}, label),
       el("td", {}, kind === "text" && key.endsWith("_at") ? shortTime(v[key]) : fmt(v[key], kind))));
  const rfm = v.rfm_scores;
  if (rfm) rows.push(el("tr", {"data-field": "rfm_scores"}, el("td", {}, "R / F / M"),
                        el("td", {}, `${rfm.r} / ${rfm.f} / ${rfm.m}`)));
  for (const [dim, label] of Object.entries(view.segments))
    rows.push(el("tr", {"data-segment": dim}, el("td", {}, dim.replace(/_/g, " ")),
                 el("td", {}, el("span", {class: "tag"}, label.replace(/_/g, " ")))));
  $("customer-values").replaceChildren(el("tbody", {}, ...rows));
  // x is the point's time, so a year without changes takes a year of the axis; each point
  // carries what the tooltip shows (the options, callbacks included, outlive a lookup)
  const points = history.history || [];
  const line = key => points.map(p => ({x: Date.parse(p.as_of), y: Number(p[key]), at: p.as_of,
                                        cause: p.cause}));
  chart("history-chart", {type: "line", data: {datasets: [
      {label: "total CLV", data: line("total_clv"), borderColor: PALETTE[0],
       backgroundColor: PALETTE[0], stepped: true},
      {label: "predicted CLV", data: line("predicted_clv"), borderColor: PALETTE[2],
       backgroundColor: PALETTE[2], stepped: true}]},
    options: {scales: {x: {type: "linear", ticks: {maxTicksLimit: 8,
                                                   callback: ms => new Date(ms).toISOString().slice(0, 10)}}},
              plugins: {tooltip: {callbacks: {title: items => shortTime(items[0].raw.at),
                                              afterLabel: ctx => "cause: " + ctx.raw.cause}}}}});
  show("customer", true);
}

$("lookup").addEventListener("submit", event => {
  event.preventDefault();
  const id = $("customer-id").value.trim();
  if (id) lookup(id);
});

// --- the refresh loop -----------------------------------------------------------------------
async function loadTenants() {
  const body = await (await api("/tenants")).json();
  const tenants = (body.tenants || []).map(t => t.tenant_id);
  if (!state.tenant) {  // the worker's default tenant is the one /report answers for
    const report = await api("/report?period=" + state.period);
    state.tenant = report.ok ? (await report.json()).tenant_id : tenants[0] || "default";
  }
  if (!tenants.includes(state.tenant)) tenants.push(state.tenant);
  $("tenant").replaceChildren(...tenants.sort().map(t => el("option", {value: t}, t)));
  $("tenant").value = state.tenant;
}

function setStatus(message) {
  $("status").textContent = message;
  show("status", !!message);
}

async function refresh() {
  clearTimeout(state.timer);
  if (!$("auth").hidden) return;  // waiting for a token
  try {
    if (!$("tenant").options.length || ++state.rounds % TENANTS_EVERY === 0) await loadTenants();
    const [report, transitions, metrics, health] = await Promise.all([
      api(base(state.tenant) + "/report?period=" + state.period),
      api(base(state.tenant) + "/transitions"), api("/metrics"), api("/healthz")]);
    const healthBody = await health.json();
    $("health").textContent = healthBody.status;
    $("health").className = "badge " + healthBody.status;
    renderLive(await metrics.text());
    const counts = renderFeed(transitions.ok ? await transitions.json() : null);
    if (report.ok) {
      const body = await report.json();
      state.currency = body.currency;
      $("asof").textContent = `${body.period_start} – ${body.period_end} · as of ${shortTime(body.as_of)} · `
        + `${body.currency} · model ${body.model_version}`;
      renderKpis(body); renderDistribution(body); renderChannels(body); renderCohorts(body);
      renderSegments(body, counts); renderSubscriptions(body.subscriptions);
      setStatus("");
    } else {
      setStatus(report.status === 503 ? "The report is being computed (or Redis is unavailable); retrying."
                                      : "The report could not be read (HTTP " + report.status + ").");
    }
  } catch (err) {
    if (err instanceof Unauthorized) return askForToken(err.message);
    setStatus("The worker does not answer: " + err.message + ". Retrying.");
  }
  state.timer = setTimeout(refresh, REFRESH_S * 1000);
}

$("period").value = state.period;
$("period").addEventListener("change", () => {
  state.period = $("period").value;
  params.set("period", state.period);
  history.replaceState(null, "", "?" + params);
  refresh();
});
$("tenant").addEventListener("change", () => {
  state.tenant = $("tenant").value;
  params.set("tenant", state.tenant);
  history.replaceState(null, "", "?" + params);
  state.live = [];
  show("customer", false);
  refresh();
});
refresh();
