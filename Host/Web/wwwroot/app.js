'use strict';
// The Edge dashboard: polls the REST API and redraws stream cards and the event list.
// The API token is needed to read only when the server has Web:ApiToken (reads from this machine are open on a
// loopback server otherwise). It is kept in this tab's sessionStorage: typed into the form shown when the API answers
// 401, or given once as ?token= in the page URL, which is then removed from the address bar and history. Requests send
// it as a Bearer header; images and links use short-lived signed URLs from /api/media-urls, so it is never in a URL.
const pollMs = 1500;
let token = sessionStorage.getItem('edgeToken');
{
  const params = new URLSearchParams(location.search);
  if (params.has('token')) {
    token = params.get('token');
    sessionStorage.setItem('edgeToken', token);
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
  }
}

async function getJson(url) {
  const response = await fetch(url, { headers: token ? { Authorization: 'Bearer ' + token } : {} });
  if (response.status === 401) {
    askToken();
    throw new Error('this server needs its API token');
  }
  if (!response.ok) throw new Error(url + ': HTTP ' + response.status);
  return response.json();
}

function askToken() {
  const form = document.getElementById('login');
  if (!form.hidden) return;
  form.hidden = false;
  form.onsubmit = event => {
    event.preventDefault();
    token = document.getElementById('token').value.trim();
    document.getElementById('token').value = '';
    sessionStorage.setItem('edgeToken', token);
    signed.clear();
    form.hidden = true;
  };
}

// Signed media URLs by path, each renewed once half its life has passed. Without a token the plain path serves (reads
// are open), so nothing is signed.
const signed = new Map();
const maxSignedPerCall = 100;

function fresh(entry) {
  return entry && Date.now() < entry.renewAt;
}

async function mediaUrls(paths) {
  if (!token) return paths;
  const stale = [...new Set(paths.filter(p => !fresh(signed.get(p))))];
  for (let i = 0; i < stale.length; i += maxSignedPerCall) {
    const chunk = stale.slice(i, i + maxSignedPerCall);
    const issued = Date.now();
    const answer = await getJson('/api/media-urls?' + chunk.map(p => 'path=' + encodeURIComponent(p)).join('&'));
    const renewAt = issued + (Date.parse(answer.expiresUtc) - issued) / 2;
    answer.urls.forEach((url, k) => signed.set(chunk[k], { url, renewAt }));
  }
  return paths.map(p => signed.get(p).url);
}

// The earliest renewal among the signed URLs of a list of paths (Infinity when nothing is signed).
function renewalOf(paths) {
  return Math.min(Infinity, ...paths.map(p => signed.get(p)?.renewAt ?? Infinity));
}

function element(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

function number(value, digits = 1) {
  return value === null || value === undefined ? '–' : Number(value).toFixed(digits);
}

// Live streams stamp events in Unix milliseconds; files in media time from the start of the file.
function eventTime(ms) {
  if (ms > 1e11) return new Date(ms).toLocaleString();
  const seconds = ms / 1000;
  return Math.floor(seconds / 60) + ':' + (seconds % 60).toFixed(1).padStart(4, '0');
}

const svgNs = 'http://www.w3.org/2000/svg';

// Anomaly scores as a polyline; the dashed line is 1.0, the model's threshold.
function drawSparkline(svg, scores) {
  svg.replaceChildren();
  if (scores.length < 2) return;
  const top = Math.max(1.5, ...scores);
  const width = 300, height = 48;
  const y = s => (height - 2 - (Math.min(s, top) / top) * (height - 4)).toFixed(1);
  const points = scores.map((s, i) => (i * width / (scores.length - 1)).toFixed(1) + ',' + y(s)).join(' ');
  const line = document.createElementNS(svgNs, 'polyline');
  line.setAttribute('points', points);
  const threshold = document.createElementNS(svgNs, 'line');
  for (const [k, v] of [['x1', 0], ['x2', width], ['y1', y(1)], ['y2', y(1)]]) threshold.setAttribute(k, v);
  svg.append(threshold, line);
}

function stat(label, cls) {
  const value = element('dd', { className: cls });
  return [element('div', {}, [element('dt', { textContent: label }), value]), value];
}

const cards = new Map();

function card(stream) {
  let c = cards.get(stream.id);
  if (c) return c;
  const base = '/api/streams/' + encodeURIComponent(stream.id);
  const state = element('span', { className: 'state' });
  const img = element('img', { className: 'preview', alt: 'live preview of ' + stream.id });
  // An MJPEG response never ends: started before the page's load event, it would hold that event back. Its URL is
  // checked once, when the response starts; a stream that ends (a restart of the server, a token typed in) starts
  // again with a fresh URL.
  const retry = () => setTimeout(() => { if (cards.get(stream.id)?.root.contains(img)) startPreview(); }, 2000);
  const startPreview = async () => {
    try {
      img.src = (await mediaUrls([base + '/preview.mjpg']))[0];
    } catch {
      retry();
    }
  };
  img.onerror = retry;
  if (document.readyState === 'complete') startPreview(); else window.addEventListener('load', startPreview, { once: true });
  const stats = element('dl', { className: 'stats' });
  const values = {};
  for (const [key, label] of [['fps', 'fps'], ['offered', 'offered / source fps'], ['processed', 'frames'], ['dropped', 'dropped'], ['reconnects', 'reconnects'],
    ['age', 'age p50 / p99 ms'], ['activity', 'activity'], ['anomaly', 'anomaly'], ['learning', 'anomaly model'], ['events', 'events'],
    ['zones', 'zones and lines']]) {
    const [box, value] = stat(label, key);
    stats.append(box);
    values[key] = value;
  }
  const error = element('p', { className: 'error' });
  const spark = document.createElementNS(svgNs, 'svg');
  spark.setAttribute('class', 'sparkline');
  spark.setAttribute('viewBox', '0 0 300 48');
  spark.setAttribute('preserveAspectRatio', 'none');
  const root = element('article', { className: 'card', id: 'stream-' + stream.id }, [
    element('h2', {}, [element('span', { className: 'stream-id', textContent: stream.id }), state]), img, stats, error, spark]);
  document.getElementById('streams').append(root);
  c = { root, state, values, error, spark, base };
  cards.set(stream.id, c);
  return c;
}

async function refreshStreams() {
  const streams = await getJson('/api/streams');
  const seen = new Set();
  for (const s of streams) {
    seen.add(s.id);
    const c = card(s);
    c.state.textContent = s.state;
    c.state.className = 'state ' + s.state;
    c.values.fps.textContent = number(s.fps);
    // What the source delivered against what it should: a capture that falls behind skips frames to keep its clock.
    c.values.offered.textContent = number(s.offeredFps) + ' / ' + number(s.sourceFps);
    c.values.processed.textContent = s.framesProcessed;
    c.values.dropped.textContent = s.framesDropped;
    c.values.reconnects.textContent = s.reconnects;
    c.values.age.textContent = number(s.ageP50Ms, 0) + ' / ' + number(s.ageP99Ms, 0);
    c.values.activity.textContent = s.activity ?? '–';
    c.values.anomaly.textContent = number(s.anomalyScore, 2);
    // Learning at the site: 'learning (12 of 30 min)', 'learned anomaly-….onnx', or why it failed; a configured
    // model file shows what became of its last change ('reloaded …', or why the new file is not used), else '–'.
    c.values.learning.textContent = s.learning ?? s.anomalyModel ?? '–';
    c.values.events.textContent = s.events;
    // Zones: who is inside now and how many entered; lines: crossings each way ('right 2 in (14 entered) · door 5 → 3 ←').
    const zones = s.zones ? [
      ...s.zones.zones.map(z => `${z.name} ${z.occupancy} in (${z.entries} entered)`),
      ...s.zones.lines.map(l => `${l.name} ${l.leftToRight} → ${l.rightToLeft} ←`),
    ] : [];
    c.values.zones.textContent = zones.length ? zones.join(' · ') : '–';
    c.error.textContent = s.lastError ?? '';
    c.error.hidden = !s.lastError;
    getJson(c.base + '/anomaly').then(a => drawSparkline(c.spark, a.scores)).catch(() => {});
  }
  for (const [id, c] of cards) {
    if (!seen.has(id)) { c.root.remove(); cards.delete(id); }
  }
  const running = streams.filter(s => s.state === 'running').length;
  document.getElementById('summary').textContent = running + ' of ' + streams.length + ' streams running';
  document.getElementById('no-streams').hidden = streams.length > 0;
}

let shownEvents = '';
let renewEvents = Infinity;

async function refreshEvents() {
  const page = await getJson('/api/events?limit=20');
  // Rebuild the table only when the list changed or its signed URLs are half through their life, so thumbnails are
  // not fetched again on every poll.
  const ids = page.items.map(e => e.id).join(',');
  if (ids === shownEvents && Date.now() < renewEvents) return;
  const paths = page.items.flatMap(e => [e.snapshotUrl, e.clipUrl]).filter(Boolean);
  const urls = new Map(paths.map((p, i) => [p, i]));
  const media = await mediaUrls(paths);
  const url = path => media[urls.get(path)];
  shownEvents = ids;
  renewEvents = renewalOf(paths);
  const rows = page.items.map(e => {
    const snapshot = e.snapshotUrl ? element('img', { src: url(e.snapshotUrl), alt: 'snapshot of event ' + e.id, loading: 'lazy' }) : '';
    const clip = e.clipUrl ? element('a', { href: url(e.clipUrl), textContent: 'clip' }) : '';
    return element('tr', { id: 'event-' + e.id }, [
      element('td', {}, [snapshot]),
      element('td', { textContent: eventTime(e.startMs) }),
      element('td', { textContent: e.stream }),
      element('td', { textContent: e.kind }),
      element('td', { textContent: e.label }),
      element('td', { className: 'num', textContent: number(e.peakScore, 2) }),
      element('td', { className: 'num', textContent: (e.durationMs / 1000).toFixed(1) + ' s' }),
      element('td', {}, [clip]),
    ]);
  });
  document.querySelector('#events tbody').replaceChildren(...rows);
  document.getElementById('no-events').hidden = rows.length > 0;
}

async function refresh() {
  try {
    await Promise.all([refreshStreams(), refreshEvents()]);
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (err) {
    document.getElementById('updated').textContent = 'update failed: ' + err.message;
  } finally {
    setTimeout(refresh, pollMs);
  }
}

refresh();
