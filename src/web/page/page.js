// The status page's only script: reads the JSON API (api/v1/status, /history, /target) and draws one
// SmokePing-style graph per target × group with uPlot (median line coloured by loss, p10–p90 and
// p25–p75 bands, gaps where nothing was measured). Only cards near the viewport get a graph: an
// IntersectionObserver queues them, their history is fetched in calls of at most 200 ids, and a
// card that scrolls far away gives its chart back. Plain browser JavaScript, no build step.
/* global uPlot */

const $ = (id) => document.getElementById(id);
const MAX_IDS = 200;
const RANGES = [
  [300, "5 min"],
  [900, "15 min"],
  [3600, "1 h"],
  [3 * 3600, "3 h"],
  [6 * 3600, "6 h"],
  [12 * 3600, "12 h"],
  [86400, "24 h"],
  [7 * 86400, "7 days"],
];
/** Loss classes and their colours, as SmokePing's legend: [upper bound of the loss ratio, colour]. */
const LOSS_COLOURS = [
  [0, "#1a9850"],
  [0.02, "#2c7bb6"],
  [0.1, "#8e44ad"],
  [0.25, "#f07800"],
  [1, "#d7191c"],
];

const state = {
  status: null,
  range: 3600,
  order: "",
  cards: new Map(), // id -> card element
  charts: new Map(), // id -> uPlot
  data: new Map(), // id -> { range, series } for the current range
  visible: new Set(),
  queue: new Set(),
  firstRender: null, // ids that must be drawn for the first render to be complete
};

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const ms = (s) => (s == null ? "–" : `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)} ms`);
const pct = (r) => (r == null ? "–" : `${(r * 100).toFixed(r > 0 && r < 0.01 ? 2 : 1)} %`);
const lossColour = (r) => LOSS_COLOURS.find(([max]) => r <= max)[1];
/** Tick labels on one line: the time of day, with the date when the range spans days. */
const clock = (span) => (t) => {
  const d = new Date(t * 1000);
  const hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  return span > 86400 ? `${d.getMonth() + 1}/${d.getDate()} ${hm}` : hm;
};
const fixed = (x, digits) => (x == null ? "–" : x.toFixed(digits));
const time = (t) => (t == null ? "never" : new Date(t * 1000).toLocaleString());

async function api(path) {
  const r = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

// --- header --------------------------------------------------------------------------------------

function renderFacts(s) {
  const inv = s.inventories
    .map(
      (i) =>
        `<span class="${i.healthy ? "ok" : "bad"}">${esc(i.name)} ${i.healthy ? "healthy" : "failing"} (${i.targets} targets${i.crashes ? `, ${i.crashes} crashes` : ""})</span>`,
    )
    .join(" ");
  const facts = [
    ["probes/s", fixed(s.iteration.probes_per_second, 1)],
    [
      "iteration",
      `#${s.iteration.count}, ${fixed(s.iteration.last_duration_seconds, 2)} s of ${s.interval ?? "–"} s`,
    ],
    [
      "reload",
      s.reload.failed
        ? `<span class="bad">last reload failed</span>`
        : `<span class="ok">applied ${esc(time(s.reload.last_applied))}</span>`,
    ],
    ["inventories", inv || "none"],
    ["targets", String(s.targets.length)],
    ["version", esc(s.version)],
  ];
  $("facts").innerHTML = facts.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join("");
}

// --- controls: sort, filters, range --------------------------------------------------------------

function fillSelect(sel, values) {
  const keep = sel.value;
  sel.innerHTML = `<option value="">all</option>${values.map((v) => `<option>${esc(v)}</option>`).join("")}`;
  sel.value = values.includes(keep) ? keep : "";
}

function fillControls(s) {
  const uniq = (k) => [...new Set(s.targets.map((t) => t[k]))].sort();
  fillSelect($("type"), uniq("type"));
  fillSelect($("family"), uniq("family"));
  fillSelect($("group"), uniq("group"));
  const retention = s.retention_seconds ?? 86400; // null until a configuration is loaded
  const ranges = RANGES.filter(([r]) => r < retention);
  ranges.push([retention, `all (${Math.round(retention / 3600)} h)`]);
  const range = $("range");
  range.innerHTML = ranges.map(([r, name]) => `<option value="${r}">${name}</option>`).join("");
  state.range = ranges.some(([r]) => r === state.range) ? state.range : ranges[0][0];
  range.value = String(state.range);
}

const isLossy = (t) => (t.loss_ratio ?? 0) > 0 || (t.loss_ratio_window ?? 0) > 0;
const SORTS = {
  loss: (a, b) =>
    (b.loss_ratio_window ?? 0) - (a.loss_ratio_window ?? 0) ||
    (b.loss_ratio ?? 0) - (a.loss_ratio ?? 0) ||
    (b.worst_rtt_window ?? -1) - (a.worst_rtt_window ?? -1),
  rtt: (a, b) => (b.worst_rtt_window ?? b.rtt_p95 ?? -1) - (a.worst_rtt_window ?? a.rtt_p95 ?? -1),
  name: (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
};

function shown(s) {
  const f = { type: $("type").value, family: $("family").value, group: $("group").value };
  const find = $("find").value.trim().toLowerCase();
  return s.targets
    .filter(
      (t) =>
        (!f.type || t.type === f.type) &&
        (!f.family || t.family === f.family) &&
        (!f.group || t.group === f.group) &&
        (!find || `${t.id} ${t.description ?? ""}`.toLowerCase().includes(find)),
    )
    .sort((a, b) => SORTS[$("sort").value](a, b) || SORTS.name(a, b));
}

// --- the list of cards ---------------------------------------------------------------------------

function statsHtml(t) {
  const link = t.suspect_link
    ? ` · <span class="bad">suspect link ${esc(t.suspect_link.from)} → ${esc(t.suspect_link.to)} (${pct(t.suspect_link.loss)})</span>`
    : "";
  return `loss <b style="color:${lossColour(t.loss_ratio ?? 0)}">${pct(t.loss_ratio)}</b> (window ${pct(t.loss_ratio_window)}) · p50 ${ms(t.rtt_p50)} · p95 ${ms(t.rtt_p95)} · worst ${ms(t.worst_rtt_window)}${link}`;
}

function cardHtml(t) {
  return `<article class="card${isLossy(t) ? " lossy" : ""}" data-id="${esc(t.id)}"><h2><a href="#target=${encodeURIComponent(t.id)}">${esc(t.id)}</a> <small>${t.type} ${t.family} ${esc(t.group)}${isLossy(t) ? ' <span class="flag">loss</span>' : ""}</small></h2><p class="stats">${statsHtml(t)}</p><div class="plot"></div></article>`;
}

const observer = new IntersectionObserver(
  (entries) => {
    for (const e of entries) {
      const id = e.target.dataset.id;
      if (e.isIntersecting) {
        state.visible.add(id);
        want(id);
      } else {
        state.visible.delete(id);
        state.queue.delete(id);
        state.charts.get(id)?.destroy();
        state.charts.delete(id);
      }
    }
  },
  { rootMargin: "400px 0px" },
);

function renderList() {
  const s = state.status;
  const list = shown(s);
  const order = list.map((t) => t.id).join("\n");
  $("count").textContent = `${list.length} of ${s.targets.length} shown`;
  if (order === state.order) {
    // Same cards in the same order: update their text in place, keep the charts.
    for (const t of list) {
      const card = state.cards.get(t.id);
      card.querySelector(".stats").innerHTML = statsHtml(t);
      card.classList.toggle("lossy", isLossy(t));
    }
    return;
  }
  observer.disconnect();
  for (const c of state.charts.values()) c.destroy();
  state.charts.clear();
  state.visible.clear();
  state.queue.clear();
  state.order = order;
  const main = $("list");
  main.innerHTML = list.map(cardHtml).join("");
  state.cards.clear();
  for (const card of main.children) {
    state.cards.set(card.dataset.id, card);
    observer.observe(card);
  }
}

// --- history: fetched for what is visible, at most 200 ids per call ------------------------------

function want(id) {
  const d = state.data.get(id);
  const cached = d && d.range === state.range;
  if (cached) draw(id);
  // Not cached, or older than the last status (a card rebuilt by a re-sort): fetched (again).
  if (!cached || d.asOf !== state.status.now) {
    state.queue.add(id);
    queueMicrotask(() => flush().catch(showError));
  }
}

let flushing = false;
async function flush() {
  if (flushing) return;
  flushing = true;
  try {
    while (state.queue.size > 0) {
      const ids = [...state.queue].slice(0, MAX_IDS);
      for (const id of ids) state.queue.delete(id);
      await load(ids);
    }
  } finally {
    flushing = false;
  }
}

async function load(ids) {
  const range = state.range;
  const to = state.status.now;
  const width = $("list").clientWidth || 600;
  const points = Math.max(60, Math.min(600, Math.round(width - 60)));
  const q = `ids=${ids.map(encodeURIComponent).join(",")}&from=${Math.floor(to - range)}&to=${Math.ceil(to)}&points=${points}`;
  const h = await api(`api/v1/history?${q}`);
  if (range !== state.range) return;
  for (const id of ids) {
    const series = h.series[id];
    if (!series) continue;
    state.data.set(id, { range, asOf: to, from: h.from, to: h.to, series });
    if (state.visible.has(id)) draw(id);
  }
}

/** uPlot's data: x, then p10, p25, p75, p90 (the bands are drawn between them), then the median. */
function columns(s) {
  return [s.t, s.rtt.p10, s.rtt.p25, s.rtt.p75, s.rtt.p90, s.rtt.p50];
}

/** The median's stroke: a horizontal gradient with one hard-edged colour per bucket, by its loss. */
function lossStroke(series) {
  return (u) => {
    const { left, width } = u.bbox;
    // Asked before the layout is known (the legend's marker): the colour of the whole range's loss.
    if (!(width > 0)) {
      const sent = series.sent.reduce((a, b) => a + b, 0);
      return lossColour(sent > 0 ? series.lost.reduce((a, b) => a + b, 0) / sent : 0);
    }
    const g = u.ctx.createLinearGradient(left, 0, left + width, 0);
    const t = series.t;
    let prev = 0;
    for (let i = 0; i < t.length; i++) {
      const x = (u.valToPos(t[i], "x", true) - left) / width;
      const next = i + 1 < t.length ? (u.valToPos(t[i + 1], "x", true) - left) / width : 1;
      const edge = Math.min(1, Math.max(0, (x + next) / 2));
      const c = lossColour(series.sent[i] > 0 ? series.lost[i] / series.sent[i] : 0);
      g.addColorStop(Math.max(0, prev), c);
      g.addColorStop(edge, c);
      prev = edge;
    }
    return g;
  };
}

/** Buckets where every probe was lost have no RTT: a red column says so, a strip at the bottom shows any loss. */
function lossMarks(series) {
  return (u) => {
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    const t = series.t;
    const step = t.length > 1 ? u.valToPos(t[1], "x", true) - u.valToPos(t[0], "x", true) : width;
    ctx.save();
    for (let i = 0; i < t.length; i++) {
      if (!(series.lost[i] > 0)) continue;
      const r = series.lost[i] / series.sent[i];
      const x = u.valToPos(t[i], "x", true) - step / 2;
      if (x + step < left || x > left + width) continue;
      ctx.fillStyle = lossColour(r);
      if (r >= 1) {
        ctx.globalAlpha = 0.35;
        ctx.fillRect(x, top, Math.max(1, step), height);
        ctx.globalAlpha = 1;
      }
      ctx.fillRect(x, top + height - 4 * devicePixelRatio, Math.max(1, step), 4 * devicePixelRatio);
    }
    ctx.restore();
  };
}

function chartOptions(id, series, width, height, legend) {
  const band = (w) => ({
    stroke: "transparent",
    width: 0,
    points: { show: false },
    value: (_, v) => ms(v),
    label: w,
  });
  return {
    width,
    height,
    legend: { show: legend },
    cursor: { points: { show: false }, drag: { x: legend, y: false } },
    scales: {
      x: { min: series.from, max: series.to },
      y: { range: (_, __, max) => [0, (max || 0.001) * 1.15] },
    },
    axes: [
      { values: (_, vals) => vals.map(clock(series.to - series.from)) },
      { values: (_, vals) => vals.map(ms), size: 64 },
    ],
    series: [
      {},
      band("p10"),
      band("p25"),
      band("p75"),
      band("p90"),
      // Last, so that the bands' fill does not cover it.
      {
        label: "median",
        stroke: lossStroke(series),
        width: 2,
        points: { show: false },
        value: (_, v) => ms(v),
      },
    ],
    bands: [
      { series: [4, 1], fill: "rgba(70, 110, 190, 0.18)" },
      { series: [3, 2], fill: "rgba(70, 110, 190, 0.35)" },
    ],
    hooks: { draw: [lossMarks(series), () => drawn(id)] },
  };
}

function draw(id) {
  const card = state.cards.get(id);
  const d = state.data.get(id);
  if (!card || !d) return;
  const el = card.querySelector(".plot");
  const series = { ...d.series, from: d.from, to: d.to };
  state.charts.get(id)?.destroy();
  state.charts.set(
    id,
    new uPlot(chartOptions(id, series, el.clientWidth || 600, 140, false), columns(series), el),
  );
}

/** The first render is complete when every card visible at the start has drawn its graph. */
function drawn(id) {
  const pending = state.firstRender;
  if (!pending?.delete(id) || pending.size > 0) return;
  state.firstRender = null;
  performance.mark("npf-first-render");
  document.documentElement.dataset.firstRender = String(Math.round(performance.now()));
}

// --- the detail view -----------------------------------------------------------------------------

function table(head, rows) {
  if (rows.length === 0) return "<p>none</p>";
  return `<table><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`)
    .join("")}</table>`;
}

async function openDetail(id) {
  const dlg = $("detail");
  const body = $("detail-body");
  body.innerHTML = `<h2>${esc(id)}</h2><p>loading…</p>`;
  if (!dlg.open) dlg.showModal();
  const to = state.status.now;
  const [t, h] = await Promise.all([
    api(`api/v1/target?id=${encodeURIComponent(id)}`),
    api(
      `api/v1/history?ids=${encodeURIComponent(id)}&from=${Math.floor(to - state.range)}&to=${Math.ceil(to)}&points=600`,
    ),
  ]);
  const flows = t.flows
    ? table(
        ["source", "port", "flow label", "sent", "lost", "min", "p50", "max", "reply TTL"],
        t.flows.map((f) => [
          esc(f.src_addr),
          f.src_port ?? "–",
          f.flow_label ?? "–",
          f.sent,
          `<span class="${f.lost > 0 ? "bad" : ""}">${f.lost}</span>`,
          ms(f.rtt_min),
          ms(f.rtt_p50),
          ms(f.rtt_max),
          f.reply_ttl ?? "–",
        ]),
      )
    : "<p>no per-flow data for this target</p>";
  const link = t.suspect_link
    ? `<p class="bad suspect">suspect link: ${esc(t.suspect_link.from)} → ${esc(t.suspect_link.to)}, loss ${pct(t.suspect_link.loss)}</p>`
    : "<p>no suspect link</p>";
  body.innerHTML = `<h2>${esc(t.id)}</h2><p>${esc(t.type)} ${esc(t.family)}, group ${esc(t.group)}, ${esc(t.state)}${t.description ? `: ${esc(t.description)}` : ""}</p>
<p class="stats">${statsHtml(t)}</p><div class="plot big"></div>${link}
<h3>Flows</h3>${flows}
<h3>ICMP errors</h3>${table(
    ["kind", "count"],
    Object.entries(t.icmp_errors ?? {}).map(([k, n]) => [esc(k), n]),
  )}
<p>late answers: ${t.late} · duplicate answers: ${t.duplicates}</p>
${t.paths ? `<h3>Paths</h3><pre>${esc(JSON.stringify(t.paths, null, 2))}</pre>` : ""}
<h3>Configuration</h3><pre>${esc(JSON.stringify(t.config, null, 2))}</pre>`;
  const s = h.series[id];
  if (s) {
    const el = body.querySelector(".plot");
    const series = { ...s, from: h.from, to: h.to };
    state.detailChart?.destroy();
    state.detailChart = new uPlot(
      chartOptions(null, series, el.clientWidth || 800, 240, true),
      columns(series),
      el,
    );
  }
}

function route() {
  const m = /^#target=(.+)$/.exec(location.hash);
  if (m) openDetail(decodeURIComponent(m[1])).catch(showError);
  else if ($("detail").open) $("detail").close();
}

// --- start and refresh ---------------------------------------------------------------------------

function showError(err) {
  $("count").textContent = `error: ${err.message}`;
}

async function refresh() {
  const s = await api("api/v1/status");
  const first = state.status === null;
  state.status = s;
  renderFacts(s);
  if (first) fillControls(s);
  renderList();
  if (first) {
    // Cards visible now (in list order, so the first one below the fold ends the scan): the first
    // render is done once each has its graph.
    state.firstRender = new Set();
    for (const [id, card] of state.cards) {
      if (card.getBoundingClientRect().top >= innerHeight) break;
      state.firstRender.add(id);
    }
    if (state.firstRender.size === 0) drawn(undefined);
  } else {
    for (const id of state.visible) state.queue.add(id);
    flush().catch(showError);
  }
}

function start() {
  const rerender = () => {
    state.order = "";
    renderList();
  };
  for (const id of ["sort", "type", "family", "group"]) $(id).addEventListener("change", rerender);
  $("find").addEventListener("input", rerender);
  $("range").addEventListener("change", () => {
    state.range = Number($("range").value);
    state.data.clear();
    rerender();
  });
  $("close").addEventListener("click", () => {
    history.replaceState(null, "", location.pathname + location.search);
    $("detail").close();
  });
  $("detail").addEventListener("close", () => {
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  });
  addEventListener("hashchange", route);
  refresh()
    .then(() => {
      route();
      setInterval(() => refresh().catch(showError), Math.max(5, state.status.interval ?? 30) * 1000);
    })
    .catch(showError);
}

start();
