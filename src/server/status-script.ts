// The status page's script: the session list, the selected session's calls as a live notebook (server-sent events),
// a small syntax highlighter, and the file viewer. It only reads: every request it makes is a GET, and untrusted
// text only ever reaches the page as text nodes; HTML from a session is shown in a sandboxed srcdoc frame.
import { STATUS_PATH } from './http.js';

export const SCRIPT =
  `const base = ${JSON.stringify(STATUS_PATH)};\n` +
  String.raw`
'use strict';
const state = { data: null, selected: null, source: null, cells: new Map(), order: [], more: false, parts: {} };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
const q = (o) => Object.entries(o).map(([k, v]) => k + '=' + encodeURIComponent(v)).join('&');
function mb(b) { return b == null ? '-' : b < 1024 ? b + ' B' : b < 1048576 ? (b / 1024).toFixed(1) + ' KiB' : (b / 1048576).toFixed(1) + ' MiB'; }
function secs(ms) { return ms == null ? '' : ms < 1000 ? Math.round(ms) + ' ms' : (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s'; }
function clock(iso) { const d = new Date(iso); return isNaN(d) ? '' : d.toLocaleTimeString(); }
function say(text) { $('updated').textContent = text; }

async function getJson(path) {
  const res = await fetch(base + path, { credentials: 'same-origin' });
  if (res.status === 401) { signedOut(); throw new Error('signed out'); }
  const body = await res.json();
  if (!res.ok) throw new Error((body.error && body.error.message) || res.statusText);
  return body;
}
function signedOut() {
  say('Signed out (the sign-in expired): open ' + base + '?token=… again.');
  if (state.source) { state.source.close(); state.source = null; }
}

// ---- highlighting: a few token classes, enough to read code at a glance
const PY_KW = new Set(('False None True and as assert async await break class continue def del elif else except finally for from ' +
  'global if import in is lambda nonlocal not or pass raise return try while with yield match case').split(' '));
const PY_BI = new Set(('print len range str int float list dict set tuple open sum min max abs sorted enumerate zip map filter ' +
  'isinstance type super object Exception ValueError TypeError KeyError self bool any all round repr').split(' '));
const PY_RE = /(#[^\n]*)|([rRbBfFuU]{0,2}(?:"""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?))|(\b(?:0[xXoObB][\da-fA-F_]+|\d[\d_]*\.?[\d_]*(?:[eE][+-]?\d+)?j?)\b)|(@[\w.]+)|([A-Za-z_]\w*)/g;
const SH_RE = /(#[^\n]*)|("(?:\\.|[^"\\])*"?|'[^']*'?)|(\$\{?[\w@?#*!-]+\}?)|(\s-{1,2}[\w-]+)|((?:^|[|;&(]\s*|\n\s*)[\w./-]+)/g;
function highlight(code, kind) {
  const frag = document.createDocumentFragment();
  const re = kind === 'shell' ? SH_RE : PY_RE;
  re.lastIndex = 0;
  let last = 0, m, prev = '';
  while ((m = re.exec(code)) !== null) {
    if (m[0] === '') { re.lastIndex++; continue; }
    if (m.index > last) frag.append(code.slice(last, m.index));
    let cls = null;
    if (m[1]) cls = 'c-com';
    else if (m[2]) cls = 'c-str';
    else if (m[3]) cls = kind === 'shell' ? 'c-bi' : 'c-num';
    else if (m[4]) cls = kind === 'shell' ? 'c-kw' : 'c-dec';
    else if (m[5]) {
      if (kind === 'shell') cls = 'c-fn';
      else if (PY_KW.has(m[5])) cls = 'c-kw';
      else if (prev === 'def' || prev === 'class') cls = 'c-fn';
      else if (PY_BI.has(m[5])) cls = 'c-bi';
      prev = m[5];
    }
    frag.append(cls ? el('span', { class: cls }, m[0]) : m[0]);
    last = m.index + m[0].length;
  }
  frag.append(code.slice(last));
  return frag;
}

// ---- output pieces
const MAX_LINES = 40, MAX_CHARS = 6000;
function capped(text, cls, label) {
  const lines = text.split('\n');
  const long = lines.length > MAX_LINES || text.length > MAX_CHARS;
  const head = long ? lines.slice(0, MAX_LINES).join('\n').slice(0, MAX_CHARS) : text;
  const pre = el('pre', { class: cls, 'aria-label': label }, head);
  if (!long) return pre;
  const more = el('button', { type: 'button', 'aria-expanded': 'false' }, 'Show all ' + lines.length + ' lines');
  more.addEventListener('click', () => {
    const open = more.getAttribute('aria-expanded') === 'true';
    pre.textContent = open ? head : text;
    more.setAttribute('aria-expanded', String(!open));
    more.textContent = open ? 'Show all ' + lines.length + ' lines' : 'Show less';
  });
  return el('div', {}, pre, more);
}
function frameDoc(html) {
  // The frame's own policy on top of the page's: no script, no request anywhere, inline styles and data: images only.
  return '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; img-src data:; font-src data:">' + html;
}
function htmlFrame(html, title) {
  const f = el('iframe', { class: 'html', sandbox: '', title: title, referrerpolicy: 'no-referrer' });
  f.srcdoc = frameDoc(html);
  return f;
}
function bundle(data, what, cellName) {
  if (!data) return null;
  const plain = typeof data['text/plain'] === 'string' ? data['text/plain'] : '';
  for (const mime of ['image/png', 'image/jpeg', 'image/gif', 'image/webp']) {
    if (typeof data[mime] === 'string') {
      return el('img', { src: 'data:' + mime + ';base64,' + data[mime], alt: what + ' of ' + cellName + (plain ? ': ' + plain : ' (an image)') });
    }
  }
  if (typeof data['image/svg+xml'] === 'string')
    return el('img', { src: 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(data['image/svg+xml']), alt: what + ' of ' + cellName + (plain ? ': ' + plain : ' (a drawing)') });
  if (typeof data['text/html'] === 'string') return htmlFrame(data['text/html'], what + ' of ' + cellName + ' (HTML)');
  const text = plain || data['text/markdown'] || '';
  return text ? capped(text, 'value', what) : null;
}

function cellName(c, index) { return (c.kind === 'shell' ? 'command ' : 'call ') + (index + 1); }
function statusBadge(c) {
  if (c.status === 'running') return el('span', { class: 'badge running' }, 'running');
  const bad = c.status !== 'ok' || (c.exit_code != null && c.exit_code !== 0) || c.error;
  const text = c.kind === 'shell' && c.status === 'ok' ? 'exit ' + (c.exit_code == null ? '?' : c.exit_code) : c.status;
  return el('span', { class: 'badge ' + (bad ? 'bad' : 'ok') }, text);
}
function renderCell(c, index) {
  const name = cellName(c, index);
  const head = el('div', { class: 'cell-head' },
    el('span', { class: 'prompt' }, c.kind === 'shell' ? '$ shell' : 'In [' + (index + 1) + ']'),
    statusBadge(c),
    c.status === 'running'
      ? el('span', { class: 'elapsed', 'data-elapsed': '' }, secs(c.t0 === undefined ? c.elapsed_ms || 0 : performance.now() - c.t0))
      : el('span', { class: 'duration' }, secs(c.duration_ms)),
    el('time', { datetime: c.started_at }, clock(c.started_at)));
  const out = el('div', { class: 'out' });
  if (c.status === 'running')
    out.append(el('p', { class: 'label' }, el('progress', { 'aria-label': name + ' is running' }), ' running…'));
  if (c.stdout) out.append(el('p', { class: 'label' }, c.status === 'running' ? 'output so far' : 'stdout'), capped(c.stdout, 'stdout', 'standard output'));
  if (c.stderr) out.append(el('p', { class: 'label' }, 'stderr'), capped(c.stderr, 'stderr', 'standard error'));
  (c.displays || []).forEach((d, i) => out.append(bundle(d, 'Display ' + (i + 1), name) || ''));
  if (c.result) out.append(el('p', { class: 'label' }, 'Out [' + (index + 1) + ']'), bundle(c.result, 'Value', name) || '');
  if (c.error) {
    const e = c.error;
    out.append(el('div', { class: 'error', role: 'group', 'aria-label': 'error' },
      el('strong', {}, e.code), ': ', e.message,
      e.hint ? el('div', {}, el('em', {}, 'hint: '), e.hint) : null,
      e.traceback && e.traceback.length ? el('details', { open: true }, el('summary', {}, 'Traceback'), el('pre', { class: 'traceback' }, e.traceback.join('\n'))) : null));
  }
  if (c.notices && c.notices.length) out.append(el('ul', { class: 'notices', 'aria-label': 'notices' }, c.notices.map((n) => el('li', {}, n))));
  const failed = c.status !== 'running' && (c.status !== 'ok' || c.error || (c.exit_code != null && c.exit_code !== 0));
  return el('li', {}, el('article', { class: 'cell', tabindex: '-1', 'data-key': c.key, 'data-status': c.status, 'data-kind': c.kind, 'data-failed': failed ? 'true' : null, 'aria-label': name + ', ' + c.status },
    head, el('pre', { class: 'code', 'aria-label': 'code' }, el('code', {}, highlight(c.code, c.kind))), out));
}

// ---- the calls of the selected session, kept in step by the event stream
function sortOrder() {
  state.order.sort((a, b) => {
    const x = state.cells.get(a), y = state.cells.get(b);
    return x.started_at < y.started_at ? -1 : x.started_at > y.started_at ? 1 : 0;
  });
}
function renderCells() {
  const list = document.querySelector('ol.cells');
  if (!list) return;
  list.replaceChildren(...state.order.map((k, i) => renderCell(state.cells.get(k), i)));
  const more = document.querySelector('#load-earlier');
  if (more) more.hidden = !state.more;
  const empty = document.querySelector('#no-calls');
  if (empty) empty.hidden = state.order.length > 0;
}
function putCell(c) {
  if (c.status === 'running') c.t0 = performance.now() - (c.elapsed_ms || 0);
  if (!state.cells.has(c.key)) state.order.push(c.key);
  state.cells.set(c.key, c);
  sortOrder();
  const i = state.order.indexOf(c.key);
  const old = document.querySelector('ol.cells > li > [data-key="' + CSS.escape(c.key) + '"]');
  if (old && i >= 0) old.parentElement.replaceWith(renderCell(c, i));
  else renderCells();
}
function tick() {
  for (const node of document.querySelectorAll('.cell[data-status=running] [data-elapsed]')) {
    const c = state.cells.get(node.closest('.cell').dataset.key);
    if (c && c.t0 !== undefined) node.textContent = secs(performance.now() - c.t0);
  }
}
setInterval(tick, 500);

function connect(sessionId) {
  if (state.source) state.source.close();
  const src = new EventSource(base + '/events?' + q({ session: sessionId }));
  state.source = src;
  src.addEventListener('snapshot', (ev) => {
    const s = JSON.parse(ev.data);
    state.cells = new Map(); state.order = []; state.more = s.more;
    for (const c of s.cells) { if (c.status === 'running') c.t0 = performance.now() - (c.elapsed_ms || 0); state.cells.set(c.key, c); state.order.push(c.key); }
    sortOrder(); renderCells(); live(true);
  });
  src.addEventListener('start', (ev) => { const c = JSON.parse(ev.data); putCell(c); announce(c, 'started'); });
  src.addEventListener('output', (ev) => {
    const o = JSON.parse(ev.data);
    const c = state.cells.get(o.key);
    if (!c) return;
    c.stdout = (c.stdout + o.text).slice(-65536);
    c.t0 = performance.now() - o.elapsed_ms;
    putCell(c);
  });
  src.addEventListener('end', (ev) => { const c = JSON.parse(ev.data); putCell(c); announce(c, 'ended: ' + c.status); refreshSoon(); });
  src.addEventListener('closed', () => { src.close(); refresh(); });
  src.onerror = () => {
    live(false);
    if (src.readyState === EventSource.CLOSED) refresh();
  };
}
function announce(c, what) {
  $('announce').textContent = cellName(c, state.order.indexOf(c.key)) + ' ' + what;
}
function live(on) {
  const b = document.querySelector('#live');
  if (b) b.textContent = on ? '● live' : '○ reconnecting…';
}
async function loadEarlier() {
  const first = state.order.map((k) => state.cells.get(k)).find((c) => c.key.startsWith('py-'));
  if (!first) return;
  const page = await getJson('/cells?' + q({ session: state.selected, before: first.key.slice(3) }));
  for (const c of page.cells) if (!state.cells.has(c.key)) { state.cells.set(c.key, c); state.order.push(c.key); }
  state.more = page.more;
  sortOrder(); renderCells();
}

// ---- the session list, the selected session's summary and side panels (polled; the calls come by events)
function pickSession(sessions) {
  const want = decodeURIComponent((location.hash.match(/^#s=(.+)$/) || [])[1] || '');
  if (sessions.some((s) => s.session_id === want)) return want;
  if (sessions.some((s) => s.session_id === state.selected)) return state.selected;
  const newest = [...sessions].sort((a, b) => (a.last_used_at < b.last_used_at ? 1 : -1))[0];
  return newest ? newest.session_id : null;
}
function sessionTitle(s) { return s.session_id + (s.name ? ' — ' + s.name : '') + (s.is_default ? ' (default)' : ''); }
function renderNav(data) {
  $('session-list').replaceChildren(...data.sessions.map((s) => el('li', {},
    el('a', { href: '#s=' + encodeURIComponent(s.session_id), 'aria-current': s.session_id === state.selected ? 'page' : null },
      s.name || s.session_id, el('small', {}, s.execution_count + ' calls' + (s.name ? ' · ' + s.session_id : ''))))));
}
function fileUrl(sessionId, path, as) { return base + '/file?' + q({ session: sessionId, path: path, as: as || 'image' }); }
function isImage(a) { return (a.category === 'plots' || a.category === 'images') && a.mime !== 'image/svg+xml'; }
function table(rows, cols, caption) {
  if (!rows.length) return el('p', { class: 'hint' }, 'none');
  return el('div', { class: 'table-wrap' }, el('table', {}, caption ? el('caption', {}, caption) : null,
    el('thead', {}, el('tr', {}, cols.map((c) => el('th', { scope: 'col' }, c[0])))),
    el('tbody', {}, rows.map((r) => el('tr', {}, cols.map((c) => el('td', {}, c[1](r))))))));
}
function renderAside(s) {
  const id = s.session_id;
  const arts = s.artifacts.recent;
  const artifacts = el('section', { 'aria-labelledby': 'h-art' },
    el('h3', { id: 'h-art' }, 'Artifacts (' + s.artifacts.total_count + ', ' + mb(s.artifacts.total_bytes) + ')'),
    el('div', { class: 'thumbs' }, arts.filter(isImage).map((a) => el('button', { type: 'button', title: a.path, onclick: () => openArtifact(id, a) },
      el('img', { src: fileUrl(id, a.path), alt: 'Open ' + a.path, loading: 'lazy' })))),
    table(arts, [
      ['file', (a) => el('button', { type: 'button', class: 'link', onclick: () => openArtifact(id, a) }, a.path)],
      ['type', (a) => a.category], ['size', (a) => mb(a.size)],
      ['', (a) => el('a', { href: fileUrl(id, a.path, 'download'), download: a.path.split('/').pop(), 'aria-label': 'Download ' + a.path }, 'download')],
    ], 'newest first'));
  const backups = s.backups || [];
  const pick = (label, sel) => el('label', {}, label, el('select', { name: label }, backups.map((b, i) => el('option', { value: b.name, selected: i === sel ? true : null }, b.name))));
  const from = pick('From', Math.min(1, backups.length - 1)), to = pick('To', 0);
  const backupSec = el('section', { 'aria-labelledby': 'h-bak' }, el('h3', { id: 'h-bak' }, 'Backups'),
    table(backups, [
      ['name', (b) => el('button', { type: 'button', class: 'link', onclick: () => openBackup(id, b.name) }, b.name)],
      ['files', (b) => b.files], ['size', (b) => mb(b.bytes)], ['made', (b) => clock(b.created)],
    ]),
    backups.length > 1 ? el('div', { class: 'compare' }, from, to,
      el('button', { type: 'button', onclick: () => openDiff(id, from.querySelector('select').value, to.querySelector('select').value) }, 'Compare')) : null);
  const apps = s.web_apps || [];
  const appSec = el('section', { 'aria-labelledby': 'h-app' }, el('h3', { id: 'h-app' }, 'Web apps'),
    table(apps, [['app', (a) => a.app_id], ['type', (a) => a.type], ['address', (a) => a.url || '-']]));
  return el('aside', { 'aria-label': 'Files of this session' }, artifacts, backupSec, appSec);
}
function renderSession(s) {
  const u = s.usage || {};
  return [
    el('h2', {}, sessionTitle(s)),
    el('p', { class: 'meta' }, s.execution_count + ' calls · ' + (s.running ? 'running' : 'stopped') + ' · memory ' + mb(u.memory_bytes) +
      ' (peak ' + mb(u.memory_peak_bytes) + ', limit ' + s.memory_mb + ' MiB) · processes ' + (u.pids == null ? '-' : u.pids) + ' · last used ' + clock(s.last_used_at)),
    el('div', { class: 'toolbar' },
      el('a', { class: 'button', href: base + '/notebook?' + q({ session: s.session_id }), download: s.session_id + '.ipynb' }, 'Open as notebook'),
      el('span', { id: 'live', class: 'hint', 'aria-live': 'off' }, '○ connecting…')),
  ];
}
function layout(s) {
  const calls = el('section', { class: 'calls', 'aria-labelledby': 'h-calls' },
    el('div', { class: 'calls-head' }, el('h3', { id: 'h-calls' }, 'Calls'), el('span', { class: 'hint' }, 'oldest first · j / k: next / previous call')),
    el('button', { type: 'button', id: 'load-earlier', hidden: true, onclick: loadEarlier }, 'Load earlier calls'),
    el('p', { id: 'no-calls', class: 'hint', hidden: true }, 'No calls yet.'),
    el('ol', { class: 'cells' }));
  return el('div', { class: 'session', 'data-session': s.session_id },
    el('div', { class: 'summary' }, renderSession(s)),
    el('div', { class: 'columns' }, calls, el('div', { class: 'side' }, renderAside(s))));
}
function replaceIfChanged(part, key, make) {
  const json = JSON.stringify(key);
  if (state.parts[part] === json) return;
  state.parts[part] = json;
  const node = document.querySelector('.session .' + part);
  if (node) node.replaceChildren(...[].concat(make()));
}

async function refresh() {
  let data;
  try { data = await getJson('/data'); } catch (e) { if (String(e.message) !== 'signed out') say('Update failed: ' + e.message); return; }
  state.data = data;
  const chosen = pickSession(data.sessions);
  const root = $('sessions');
  if (chosen !== state.selected || !root.querySelector('[data-session]')) {
    state.selected = chosen; state.parts = {};
    const s = data.sessions.find((x) => x.session_id === chosen);
    root.replaceChildren(s ? layout(s) : el('p', {}, 'No open sessions.'));
    if (s) { state.parts.summary = JSON.stringify(summaryKey(s)); state.parts.side = JSON.stringify(sideKey(s)); connect(chosen); }
    else if (state.source) { state.source.close(); state.source = null; }
  } else {
    const s = data.sessions.find((x) => x.session_id === chosen);
    replaceIfChanged('summary', summaryKey(s), () => renderSession(s));
    live(state.source && state.source.readyState === EventSource.OPEN);
    replaceIfChanged('side', sideKey(s), () => renderAside(s));
  }
  renderNav(data);
  say('Updated ' + new Date(data.generated_at).toLocaleTimeString() + ' · isolation: ' + data.isolation + ' · read-only');
}
function summaryKey(s) { return [s.session_id, s.name, s.execution_count, s.running, s.usage, s.last_used_at]; }
function sideKey(s) { return [s.artifacts, s.backups, s.web_apps]; }
let soon = null;
function refreshSoon() { clearTimeout(soon); soon = setTimeout(refresh, 600); }

// ---- the viewer: files open in place, HTML only in a sandboxed frame
function openViewer(title, download, body) {
  $('viewer-title').textContent = title;
  const dl = $('viewer-download');
  dl.hidden = !download;
  if (download) { dl.href = download.href; dl.setAttribute('download', download.name); }
  $('viewer-body').replaceChildren(body);
  const d = $('viewer');
  if (!d.open) d.showModal();
}
function parseCsv(text, sep) {
  const rows = []; let row = [], cell = '', quoted = false;
  for (let i = 0; i < text.length && rows.length < 501; i++) {
    const ch = text[i];
    if (quoted) { if (ch === '"') { if (text[i + 1] === '"') { cell += '"'; i++; } else quoted = false; } else cell += ch; }
    else if (ch === '"') quoted = true;
    else if (ch === sep) { row.push(cell); cell = ''; }
    else if (ch === '\n') { row.push(cell.replace(/\r$/, '')); rows.push(row); row = []; cell = ''; }
    else cell += ch;
  }
  if (cell !== '' || row.length) { row.push(cell); rows.push(row); }
  return rows;
}
function csvTable(text, path) {
  const rows = parseCsv(text, /\.tsv$/i.test(path) ? '\t' : ',');
  const headRow = rows[0] || [];
  return el('div', { class: 'table-wrap' }, el('table', {},
    el('caption', {}, path + (rows.length > 500 ? ' (first 500 rows)' : '')),
    el('thead', {}, el('tr', {}, headRow.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.slice(1, 501).map((r) => el('tr', {}, r.map((v) => el('td', {}, v)))))));
}
async function openArtifact(sessionId, a) {
  const download = { href: fileUrl(sessionId, a.path, 'download'), name: a.path.split('/').pop() };
  if (isImage(a)) return openViewer(a.path, download, el('img', { src: fileUrl(sessionId, a.path), alt: a.path }));
  openViewer(a.path, download, el('p', {}, 'loading…'));
  try {
    const f = await getJson('/file?' + q({ session: sessionId, path: a.path, as: 'text' }));
    const cut = f.truncated ? el('p', { class: 'hint' }, 'The first ' + mb(f.text.length) + ' of ' + mb(f.size) + ' are shown; download the file for the rest.') : '';
    let body;
    if (f.mime === 'image/svg+xml') body = el('img', { src: 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(f.text), alt: a.path });
    else if (/^text\/(csv|tab-separated-values)/.test(f.mime) || /\.(csv|tsv)$/i.test(a.path)) body = csvTable(f.text, a.path);
    else if (f.mime === 'text/html' || /\.html?$/i.test(a.path)) body = htmlFrame(f.text, a.path + ' (HTML, shown without scripts)');
    else body = el('pre', {}, f.text);
    openViewer(a.path, download, el('div', {}, cut, body));
  } catch (e) {
    openViewer(a.path, download, el('p', {}, 'No preview (' + e.message + '): download it instead.'));
  }
}
async function openBackup(sessionId, name) {
  try {
    const b = await getJson('/backup?' + q({ session: sessionId, name: name }));
    openViewer('Backup ' + name, null, table(b.files, [['file', (f) => f.path], ['type', (f) => f.category || f.kind], ['size', (f) => mb(f.size)]], b.files.length + ' files'));
  } catch (e) { openViewer('Backup ' + name, null, el('p', {}, e.message)); }
}
async function openDiff(sessionId, from, to) {
  const title = 'Changes from ' + from + ' to ' + to;
  try {
    const d = await getJson('/diff?' + q({ session: sessionId, from: from, to: to }));
    const list = (label, paths) => el('section', {}, el('h3', {}, label + ' (' + paths.length + ')'), paths.length ? el('ul', {}, paths.map((p) => el('li', {}, p))) : el('p', { class: 'hint' }, 'none'));
    openViewer(title, null, el('div', {}, list('Added', d.added), list('Changed', d.changed), list('Deleted', d.deleted)));
  } catch (e) { openViewer(title, null, el('p', {}, e.message)); }
}
$('viewer-close').addEventListener('click', () => $('viewer').close());

// ---- keyboard: j / k move between calls
document.addEventListener('keydown', (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || $('viewer').open) return;
  const t = ev.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) return;
  if (ev.key !== 'j' && ev.key !== 'k') return;
  const cells = [...document.querySelectorAll('.cell')];
  if (!cells.length) return;
  const at = cells.indexOf(document.activeElement && document.activeElement.closest ? document.activeElement.closest('.cell') : null);
  const next = ev.key === 'j' ? Math.min(cells.length - 1, at + 1) : Math.max(0, at < 0 ? cells.length - 1 : at - 1);
  cells[next].focus();
  ev.preventDefault();
});
window.addEventListener('hashchange', refresh);
refresh();
setInterval(() => { if (document.visibilityState === 'visible') refresh(); }, 5000);
`;
