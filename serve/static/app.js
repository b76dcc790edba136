// skyseg serve: the night dashboard. Live state arrives by server-sent events (api/events); if the browser has no
// EventSource or the feed keeps failing, the page polls api/status and api/results every 2 s instead.
import {SkyChart} from "./sky_chart.js";

const $ = id => document.getElementById(id);
const PER_PAGE = 25;
const chart = new SkyChart($("chart"));
const live = {view: "overlay", version: 0, loading: false, queued: false};
const table = {page: 0, total: 0, maxSeq: 0};
let status = null, feedErrors = 0, polling = false, staticShown = 0, switching = false;

async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (!response.ok) throw new Error(body && body.error ? body.error : `${response.status} ${response.statusText}`);
  return body;
}

function say(text, kind = "") {
  const m = $("message");
  m.textContent = text;
  m.className = `message ${kind}`;
}

const pct = v => (v === "" || v === null || v === undefined ? "" : `${(100 * Number(v)).toFixed(1)} %`);
const num = (v, digits = 0) => (v === "" || v === null || v === undefined ? "" : Number(v).toFixed(digits));

// ---- live image -------------------------------------------------------------------------------------------
function refreshLive() {
  if (!live.version) return;
  if (live.loading) { live.queued = true; return; }
  live.loading = true; live.queued = false;
  const img = $("live");
  img.dataset.requested = String(live.version);
  img.src = `api/latest.jpg?view=${live.view}&max=1280&v=${live.version}&k=${live.view}`;
}

$("live").addEventListener("load", e => {
  live.loading = false;
  e.target.dataset.frame = e.target.dataset.requested;
  e.target.dataset.view = live.view;
  if (live.queued) refreshLive();
});
$("live").addEventListener("error", () => { live.loading = false; setTimeout(refreshLive, 1000); });

document.querySelectorAll(".views button").forEach(button => button.addEventListener("click", () => {
  live.view = button.dataset.view;
  document.querySelectorAll(".views button").forEach(b => b.classList.toggle("on", b === button));
  live.loading = false;
  refreshLive();
}));

// ---- status -----------------------------------------------------------------------------------------------
function applyStatus(s) {
  if (status && status.instance !== s.instance) { location.reload(); return; } // the server restarted: start over
  status = s;
  const rate = Number(s.fps || 0), fps = rate > 0 && rate < 1 ? rate.toFixed(3) : rate.toFixed(1);
  $("status-line").textContent = `${s.frames} frames · ${fps} fps · ${s.model} · ${s.source} · ${s.state}` +
    (s.error ? ` · ${s.error}` : "");
  for (const [key, id] of [["conf", "conf"], ["iou", "iou"]]) {
    const input = $(id);
    if (document.activeElement !== input) input.value = s[key];
    $(`${id}-value`).textContent = Number(input.value).toFixed(2);
  }
  if (s.sky_fraction !== null) {
    $("live-caption").textContent = `frame ${s.latest} · sky ${pct(s.sky_fraction)} · ${s.instances} instance(s) · ` +
      `${num(s.latency_ms, 1)} ms`;
  }
  if (s.latest && s.latest !== live.version) { live.version = s.latest; refreshLive(); }
  if (!switching && $("model").value !== s.model_key && [...$("model").options].some(o => o.value === s.model_key)) {
    $("model").value = s.model_key;
  }
  if (s.static_mask_frames >= 3 && s.static_mask_frames - staticShown >= 30 || (staticShown === 0 && s.static_mask_frames >= 3)) {
    staticShown = s.static_mask_frames;
    $("static-mask").src = `api/static_mask.png?n=${staticShown}`;
    $("static-caption").textContent = `per-installation mask learned from ${staticShown} frames (white = sky)`;
    $("static-box").hidden = false;
  }
}

// ---- results table and chart ------------------------------------------------------------------------------
function rowElement(r) {
  const tr = document.createElement("tr");
  tr.dataset.seq = r.seq;
  tr.dataset.source = r.source;
  const when = Date.parse(r.time);
  const cells = [
    [Number.isFinite(when) ? new Date(when).toLocaleTimeString() : "", ""],
    [String(r.source).split("/").pop(), ""],
    [pct(r.sky_fraction), "num"], [r.instances, "num"], [r.scores, "scores"], [num(r.latency_ms, 1), "num"],
    [r.error, "err"],
  ];
  for (const [text, cls] of cells) {
    const td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "" : String(text);
    if (cls) td.className = cls;
    if (cls === "scores") td.title = td.textContent;
    tr.appendChild(td);
  }
  return tr;
}

function updatePager() {
  const pages = Math.max(1, Math.ceil(table.total / PER_PAGE));
  $("page-info").textContent = `page ${table.page + 1} of ${pages} · ${table.total} rows`;
  $("newer").disabled = table.page === 0;
  $("older").disabled = table.page + 1 >= pages;
}

function addRows(rows) {
  const fresh = rows.filter(r => r.seq > table.maxSeq);
  if (!fresh.length) return;
  table.maxSeq = Math.max(table.maxSeq, ...fresh.map(r => r.seq));
  table.total += fresh.length;
  fresh.forEach(r => chart.add(SkyChart.point(r)));
  if (table.page === 0) {
    const body = $("rows");
    fresh.forEach(r => body.insertBefore(rowElement(r), body.firstChild));
    while (body.children.length > PER_PAGE) body.removeChild(body.lastChild);
  }
  updatePager();
}

async function loadPage(page) {
  const d = await api(`api/results?page=${page}&per_page=${PER_PAGE}`);
  table.page = d.page; table.total = d.total;
  const body = $("rows");
  body.replaceChildren(...d.rows.map(rowElement));
  if (d.rows.length && page === 0) table.maxSeq = Math.max(table.maxSeq, d.rows[0].seq);
  updatePager();
}

$("newer").addEventListener("click", () => loadPage(Math.max(0, table.page - 1)).catch(e => say(e.message, "error")));
$("older").addEventListener("click", () => loadPage(table.page + 1).catch(e => say(e.message, "error")));

// ---- live feed (push), polling as the fallback ------------------------------------------------------------
function connect() {
  if (!window.EventSource) { poll(); return; }
  const feed = new EventSource(`api/events?since=${table.maxSeq}`);
  feed.addEventListener("status", e => {
    feedErrors = 0;
    $("conn").textContent = "live"; $("conn").className = "conn live";
    applyStatus(JSON.parse(e.data));
  });
  feed.addEventListener("rows", e => addRows(JSON.parse(e.data)));
  feed.onerror = () => {
    $("conn").textContent = "reconnecting…"; $("conn").className = "conn down";
    if (++feedErrors > 5) { feed.close(); poll(); }
  };
}

async function poll() {
  if (polling) return;
  polling = true;
  $("conn").textContent = "polling"; $("conn").className = "conn";
  for (;;) {
    try {
      applyStatus(await api("api/status"));
      const d = await api("api/results?page=0&per_page=100");
      addRows(d.rows.slice().reverse());
    } catch (e) {
      $("conn").textContent = "offline"; $("conn").className = "conn down";
    }
    await new Promise(resolve => setTimeout(resolve, 2000));
  }
}

// ---- thresholds -------------------------------------------------------------------------------------------
for (const [id, name] of [["conf", "confidence"], ["iou", "NMS IoU"]]) {
  $(id).addEventListener("input", () => { $(`${id}-value`).textContent = Number($(id).value).toFixed(2); });
  $(id).addEventListener("change", async () => {
    const value = Number($(id).value);
    try {
      const d = await api("api/settings", {method: "POST", headers: {"Content-Type": "application/json"},
                                           body: JSON.stringify({[id]: value})});
      say(`${name} ${Number(d[id]).toFixed(2)} from the next frame`, "ok");
    } catch (e) { say(e.message, "error"); }
  });
}

// ---- models -----------------------------------------------------------------------------------------------
async function loadModels() {
  const d = await api("api/models");
  const select = $("model");
  select.replaceChildren(...d.models.map(m => {
    const option = document.createElement("option");
    option.value = m.key; option.textContent = `${m.name} (${m.origin})`;
    return option;
  }));
  select.value = d.current;
}

$("model").addEventListener("change", async e => {
  switching = true;
  say(`loading ${e.target.selectedOptions[0].textContent}…`);
  try {
    const d = await api("api/model", {method: "POST", headers: {"Content-Type": "application/json"},
                                      body: JSON.stringify({key: e.target.value})});
    say(`now running ${d.model}`, "ok");
  } catch (err) {
    say(err.message, "error");
    if (status) e.target.value = status.model_key;
  } finally { switching = false; }
});

$("model-file").addEventListener("change", async e => {
  const file = e.target.files[0];
  if (!file) return;
  if (!/\.onnx$/i.test(file.name)) {
    say(`${file.name}: only .onnx models are accepted here; convert PyTorch weights with skyseg export`, "error");
    e.target.value = "";
    return;
  }
  const form = new FormData();
  form.append("file", file);
  say(`checking ${file.name}…`);
  try {
    const d = await api("api/models/upload", {method: "POST", body: form});
    await loadModels();
    say(`now running ${d.model}`, "ok");
  } catch (err) { say(err.message, "error"); } finally { e.target.value = ""; }
});

// ---- one-off detection ------------------------------------------------------------------------------------
$("upload").addEventListener("change", async e => {
  const file = e.target.files[0];
  if (!file) return;
  const result = $("detect-result");
  const limit = status ? status.max_upload_mb : 64;
  if (file.size > limit * 1048576) {
    say(`${file.name} is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${limit} MB`, "error");
    e.target.value = "";
    return;
  }
  const form = new FormData();
  form.append("file", file);
  say(`detecting in ${file.name}…`);
  try {
    const d = await api("api/detect", {method: "POST", body: form});
    const last = d.rows[d.rows.length - 1] || {};
    result.src = `${d.image}?t=${Date.now()}`;
    result.hidden = false;
    say(`${d.name}: ${d.frames} frame(s), sky ${pct(last.sky_fraction)}, ${last.instances} instance(s), ` +
        `${num(last.latency_ms, 1)} ms; saved in ${d.saved_in}`, "ok");
    addRows(d.rows);
  } catch (err) {
    result.hidden = true;
    say(err.message, "error");
  } finally { e.target.value = ""; }
});

// ---- start ------------------------------------------------------------------------------------------------
async function start() {
  try {
    const [series] = await Promise.all([api("api/series"), loadPage(0), loadModels()]);
    chart.setPoints(series.points.map(p => SkyChart.point({received: p.received, sky_fraction: p.sky,
                                                           latency_ms: p.latency_ms, cloud_fraction: p.cloud})));
    table.maxSeq = Math.max(table.maxSeq, ...series.points.map(p => p.seq), 0);
    applyStatus(await api("api/status"));
  } catch (e) { say(e.message, "error"); }
  connect();
}
start();
