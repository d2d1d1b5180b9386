// The trend page of historiand (docs/http.md): a tag browser, a time range,
// several pens drawn from /api/v1/plot with Bad-quality spans, live mode
// polling /api/v1/latest, and the twin-site overlay (/api/v1/node).
// URL: /?tags=a,b&range=7d (or &start=MS&end=MS) opens a chart directly.
'use strict';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd',
                '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
const RANGES = {'1h': 3600e3, '8h': 8 * 3600e3, '1d': 86400e3, '7d': 7 * 86400e3};
const BAD_FILL = 'rgba(255, 0, 0, 0.15)';
const LIVE_POLL_MS = 2000;
const HOUR_MS = 3600e3;
const TOKEN_KEY = 'historian.token';

const state = {
  pens: [],          // {tag, color}
  tags: {},          // name -> metadata from /api/v1/tags
  start: 0, end: 0,  // ms since the epoch
  twinMap: null,     // {local, twin}
  twinOn: false,
  live: null,        // interval id
  graph: null,
  rows: [], labels: [], badSpans: [],
  seq: 0,
};

// Read by the browser test and the benchmark.
// marks: performance.now() of the last plot request's steps.
// firstDrawMs: first chart with pens; fullDrawMs: the first at full resolution.
window.trend = {plotRequests: 0, draws: 0, firstDrawMs: null, fullDrawMs: null, drawnTags: [],
                errors: [], marks: {}};

const $ = (id) => document.getElementById(id);

function setStatus(text) { $('status').textContent = text; }

class AuthError extends Error {}

async function api(path) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = 'Bearer ' + token;
  const res = await fetch(path, {headers});
  let body;
  try { body = await res.json(); } catch (e) { body = {code: 'UNKNOWN', message: res.statusText}; }
  if (res.status === 401) {
    askToken(body.message);
    throw new AuthError(body.message);
  }
  if (!res.ok) throw new Error(body.code + ': ' + body.message);
  return body;
}

function askToken(why) {
  $('loginWhy').textContent = why || 'This node needs a bearer token.';
  $('login').hidden = false;
  $('token').focus();
}

function report(err) {
  if (err instanceof AuthError) return;
  window.trend.errors.push(String(err.message || err));
  setStatus(String(err.message || err));
}

// ---- tag browser ----

async function loadTags() {
  const glob = $('glob').value.trim() || '*';
  const body = await api('/api/v1/tags?page_size=500&glob=' + encodeURIComponent(glob));
  const list = $('taglist');
  list.textContent = '';
  for (const t of body.tags) {
    state.tags[t.name] = t;
    const div = document.createElement('div');
    div.className = 'tag' + (penIndex(t.name) >= 0 ? ' selected' : '');
    div.dataset.tag = t.name;
    const name = document.createElement('div');
    name.textContent = t.name + (t.unit ? ' [' + t.unit + ']' : '');
    const meta = document.createElement('div');
    meta.className = 'meta';
    const range = (t.eng_low !== null || t.eng_high !== null)
        ? ' range ' + (t.eng_low ?? '') + '..' + (t.eng_high ?? '') : '';
    meta.textContent = (t.description || t.value_type) + range;
    div.append(name, meta);
    div.addEventListener('click', () => togglePen(t.name));
    list.append(div);
  }
  if (body.next_page_token) {
    const more = document.createElement('div');
    more.className = 'meta tag';
    more.textContent = 'more tags: narrow the glob';
    list.append(more);
  }
}

// ---- pens ----

function penIndex(tag) { return state.pens.findIndex((p) => p.tag === tag); }

function togglePen(tag) {
  const i = penIndex(tag);
  if (i >= 0) {
    state.pens.splice(i, 1);
  } else {
    const used = new Set(state.pens.map((p) => p.color));
    const color = COLORS.find((c) => !used.has(c)) || COLORS[state.pens.length % COLORS.length];
    state.pens.push({tag, color});
  }
  for (const div of document.querySelectorAll('.tag')) {
    div.classList.toggle('selected', penIndex(div.dataset.tag) >= 0);
  }
  renderPens();
  saveUrl();
  refresh();
}

function renderPens() {
  const box = $('pens');
  box.textContent = '';
  for (const p of state.pens) {
    const span = document.createElement('span');
    span.className = 'pen';
    span.style.borderColor = p.color;
    const meta = state.tags[p.tag];
    span.textContent = p.tag + (meta && meta.unit ? ' [' + meta.unit + ']' : '');
    const x = document.createElement('button');
    x.textContent = '\u00d7';
    x.title = 'remove';
    x.addEventListener('click', () => togglePen(p.tag));
    span.append(x);
    box.append(span);
  }
}

// The twin-site name of `tag`, or null.
function twinOf(tag) {
  const m = state.twinMap;
  if (!m) return null;
  if (tag.startsWith(m.local)) return m.twin + tag.slice(m.local.length);
  if (tag.startsWith(m.twin)) return m.local + tag.slice(m.twin.length);
  return null;
}

// Series to draw: each pen, then (twin on) each pen's twin that exists.
async function series() {
  const out = state.pens.map((p) => ({tag: p.tag, color: p.color, dashed: false}));
  if (state.twinOn) {
    for (const p of state.pens) {
      const twin = twinOf(p.tag);
      if (!twin || penIndex(twin) >= 0) continue;
      if (!(twin in state.tags)) {
        const body = await api('/api/v1/tags?glob=' + encodeURIComponent(twin));
        for (const t of body.tags) state.tags[t.name] = t;
      }
      if (twin in state.tags) out.push({tag: twin, color: p.color, dashed: true});
    }
  }
  return out;
}

// ---- chart ----

function isBad(quality) { return quality !== null && (quality >>> 30) === 2; }

function numeric(v) {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return NaN;  // strings, and NaN (null in JSON)
}

// Merges the series' samples into dygraphs rows [Date, v1, v2, ...]: null
// where a series has no sample at a time (connected), NaN on Bad quality (a
// gap, shaded by the underlay).
function buildRows(list, seriesJson) {
  const byTag = new Map(seriesJson.map((s) => [s.tag, s.samples]));
  const rows = new Map();
  const bad = [];
  list.forEach((s, col) => {
    const samples = byTag.get(s.tag) || [];
    for (let i = 0; i < samples.length; ++i) {
      const smp = samples[i];
      let row = rows.get(smp.time);
      if (!row) {
        row = new Array(list.length + 1).fill(null);
        row[0] = new Date(smp.time);
        rows.set(smp.time, row);
      }
      if (isBad(smp.quality)) {
        row[col + 1] = NaN;
        const next = i + 1 < samples.length ? samples[i + 1].time : state.end;
        bad.push([smp.time, Math.max(next, smp.time + 1)]);
      } else {
        row[col + 1] = numeric(smp.value);
      }
    }
  });
  const sorted = [...rows.values()].sort((a, b) => a[0] - b[0]);
  // One band per run of Bad samples (overlapping fills would darken).
  bad.sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const span of bad) {
    const last = merged[merged.length - 1];
    if (last && span[0] <= last[1]) {
      last[1] = Math.max(last[1], span[1]);
    } else {
      merged.push(span.slice());
    }
  }
  return {rows: sorted, bad: merged};
}

function underlay(ctx, area, g) {
  ctx.fillStyle = BAD_FILL;
  for (const [a, b] of state.badSpans) {
    const x1 = g.toDomXCoord(a), x2 = g.toDomXCoord(b);
    if (x2 < area.x || x1 > area.x + area.w) continue;
    ctx.fillRect(x1, area.y, Math.max(1, x2 - x1), area.h);
  }
}

function onDraw(g) {
  const t = window.trend;
  t.draws++;
  t.drawnTags = g.getLabels().slice(1);
  if (t.firstDrawMs === null && t.drawnTags.length > 0) t.firstDrawMs = performance.now();
}

function onZoom(minX, maxX) {
  state.start = Math.round(minX);
  state.end = Math.round(maxX);
  stopLive();
  saveUrl();
  refresh();
}

function draw(list, rows) {
  const labels = ['time', ...list.map((s) => s.tag)];
  const seriesOpts = {};
  for (const s of list) seriesOpts[s.tag] = {strokePattern: s.dashed ? [6, 4] : null};
  const opts = {
    labels,
    colors: list.map((s) => s.color),
    series: seriesOpts,
    dateWindow: [state.start, state.end],
    connectSeparatedPoints: true,
    strokeWidth: 2,
    labelsDiv: $('legend'),
    legend: 'always',
    underlayCallback: underlay,
    drawCallback: onDraw,
    zoomCallback: onZoom,
  };
  const data = rows.length ? rows : [[new Date(state.start), ...list.map(() => null)]];
  if (!state.graph) {
    state.graph = new Dygraph($('chart'), data, opts);
  } else {
    state.graph.updateOptions({file: data, ...opts});
  }
}

async function refresh() {
  const seq = ++state.seq;
  updateRangeInputs();
  try {
    const list = await series();
    if (seq !== state.seq) return;
    if (list.length === 0) {
      if (state.graph) { state.graph.destroy(); state.graph = null; }
      setStatus('pick tags on the left');
      return;
    }
    // One bucket per pixel. Over days that reads every sample; the node
    // answers buckets of 2 h or more from its hourly rollups at once, so a
    // long range is drawn from those first, then at full resolution.
    const span = state.end - state.start;
    const fine = Math.max(100, Math.min(4000, Math.round($('chart').clientWidth || 1000)));
    const coarse = Math.floor(span / (2 * HOUR_MS));
    const steps = coarse >= 24 && span / fine < 2 * HOUR_MS ? [coarse, fine] : [fine];
    for (const buckets of steps) {
      const q = '/api/v1/plot?time_format=epoch_ms&buckets=' + buckets +
                '&start=' + state.start + 'ms&end=' + state.end + 'ms&tags=' +
                list.map((s) => encodeURIComponent(s.tag)).join(',');
      window.trend.plotRequests++;
      const marks = window.trend.marks = {buckets, start: performance.now()};
      const body = await api(q);
      marks.answered = performance.now();
      if (seq !== state.seq) return;
      const {rows, bad} = buildRows(list, body.series);
      marks.rows = performance.now();
      state.rows = rows;
      state.labels = list;
      state.badSpans = bad;
      draw(list, rows);
      marks.drawn = performance.now();
    }
    if (window.trend.fullDrawMs === null) window.trend.fullDrawMs = performance.now();
    setStatus('');
  } catch (e) {
    report(e);
  }
}

// ---- time range ----

function setRange(name) {
  const width = RANGES[name];
  state.end = Date.now();
  state.start = state.end - width;
  saveUrl();
  refresh();
}

function pan(fraction) {
  const shift = Math.round((state.end - state.start) * fraction);
  state.start += shift;
  state.end += shift;
  stopLive();
  saveUrl();
  refresh();
}

function toLocalInput(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' +
         pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}

function updateRangeInputs() {
  $('from').value = toLocalInput(state.start);
  $('to').value = toLocalInput(state.end);
}

function applyCustom() {
  const from = new Date($('from').value).getTime();
  const to = new Date($('to').value).getTime();
  if (!(from < to)) { setStatus('custom range: from must be before to'); return; }
  state.start = from;
  state.end = to;
  stopLive();
  saveUrl();
  refresh();
}

// ---- live mode ----

async function poll() {
  if (state.pens.length === 0 || !state.graph) return;
  try {
    const list = state.labels;
    const q = '/api/v1/latest?time_format=epoch_ms&tags=' +
              list.map((s) => encodeURIComponent(s.tag)).join(',');
    const body = await api(q);
    const width = state.end - state.start;
    let newest = state.end;
    // Each pen's newest time on the chart: a pen whose samples arrive later
    // than another's (a twin's, by replication) is compared with its own.
    const last = list.map(() => -Infinity);
    let unseen = list.length;
    for (let r = state.rows.length - 1; r >= 0 && unseen > 0; --r) {
      const row = state.rows[r];
      for (let c = 0; c < list.length; ++c) {
        if (last[c] === -Infinity && row[c + 1] !== null && row[c + 1] !== undefined) {
          last[c] = row[0].getTime();
          --unseen;
        }
      }
    }
    body.values.forEach((v) => {
      const col = list.findIndex((s) => s.tag === v.tag);
      if (col < 0 || v.time === null || v.time <= last[col]) return;
      const row = new Array(list.length + 1).fill(null);
      row[0] = new Date(v.time);
      row[col + 1] = isBad(v.quality) ? NaN : numeric(v.value);
      state.rows.push(row);
      newest = Math.max(newest, v.time);
    });
    state.rows.sort((a, b) => a[0] - b[0]);
    state.end = Math.max(Date.now(), newest);
    state.start = state.end - width;
    updateRangeInputs();
    state.graph.updateOptions({file: state.rows, dateWindow: [state.start, state.end]});
  } catch (e) {
    report(e);
  }
}

function startLive() {
  if (state.live) return;
  $('live').checked = true;
  state.end = Date.now();
  state.live = setInterval(poll, LIVE_POLL_MS);
  refresh();
}

function stopLive() {
  if (!state.live) return;
  clearInterval(state.live);
  state.live = null;
  $('live').checked = false;
}

// ---- URL ----

function saveUrl() {
  const p = new URLSearchParams();
  if (state.pens.length) p.set('tags', state.pens.map((x) => x.tag).join(','));
  p.set('start', String(state.start));
  p.set('end', String(state.end));
  if (state.twinOn) p.set('twin', '1');
  history.replaceState(null, '', '?' + p.toString());
}

function loadUrl() {
  const p = new URLSearchParams(location.search);
  const range = p.get('range');
  state.end = Date.now();
  state.start = state.end - RANGES['1h'];
  if (range && RANGES[range]) {
    state.start = state.end - RANGES[range];
  } else if (p.get('start') && p.get('end')) {
    state.start = Number(p.get('start'));
    state.end = Number(p.get('end'));
  }
  state.twinOn = p.get('twin') === '1';
  $('twin').checked = state.twinOn;
  for (const tag of (p.get('tags') || '').split(',').filter((t) => t)) {
    state.pens.push({tag, color: COLORS[state.pens.length % COLORS.length]});
  }
}

// ---- start ----

async function init() {
  try {
    const node = await api('/api/v1/node');
    $('site').textContent = 'site ' + node.site;
    state.twinMap = node.twin_map;
    if (node.twin_map) {
      $('twinLabel').hidden = false;
      $('twinText').textContent = '(' + node.twin_map.local + ' \u2194 ' + node.twin_map.twin + ')';
    }
    renderPens();
    await Promise.all([refresh(), loadTags()]);
    renderPens();  // units, now that the metadata is known
  } catch (e) {
    report(e);
  }
}

function wire() {
  for (const b of document.querySelectorAll('[data-range]')) {
    b.addEventListener('click', () => setRange(b.dataset.range));
  }
  $('apply').addEventListener('click', applyCustom);
  $('panLeft').addEventListener('click', () => pan(-0.5));
  $('panRight').addEventListener('click', () => pan(0.5));
  $('live').addEventListener('change', (e) => (e.target.checked ? startLive() : stopLive()));
  $('twin').addEventListener('change', (e) => {
    state.twinOn = e.target.checked;
    saveUrl();
    refresh();
  });
  let timer = null;
  $('glob').addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => loadTags().catch(report), 250);
  });
  $('loginForm').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    $('token').value = '';
    $('login').hidden = true;
    init();
  });
}

wire();
loadUrl();
init();
