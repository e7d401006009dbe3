// The read-only status page of `sandbox-mcp serve`, behind the same token: the caller's sessions with their
// resource usage, artifacts (image thumbnails), backups and running web apps, refreshed live. Never changes state.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientContext } from './client-context.js';
import { STATUS_PATH } from './http.js';
import { sessionScope, type Services } from './services.js';

const THUMB_MAX_BYTES = 5 * 1024 * 1024;
const IMAGE_CATEGORIES = new Set(['images', 'plots']);

export interface StatusExtras {
  /** Extra sections per session (backups, web apps), filled by the services that have them. */
  sections: Array<{
    name: string;
    rows: (owner: string, sessionId: string) => Promise<Array<Record<string, unknown>>>;
  }>;
}

export function statusRoutes(services: Services, extras: StatusExtras = { sections: [] }) {
  return async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    client: ClientContext,
  ): Promise<boolean> => {
    if (req.method !== 'GET') return false;
    const headers = {
      'Cache-Control': 'no-store',
      'Content-Security-Policy':
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; connect-src 'self'",
      'X-Content-Type-Options': 'nosniff',
    };
    if (url.pathname === STATUS_PATH) {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' });
      res.end(PAGE);
      return true;
    }
    if (url.pathname === `${STATUS_PATH}/app.js`) {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/javascript; charset=utf-8' });
      res.end(SCRIPT);
      return true;
    }
    if (url.pathname === `${STATUS_PATH}/data`) {
      const data = await statusData(services, extras, client.clientKey);
      res.writeHead(200, { ...headers, 'Content-Type': 'application/json' });
      res.end(JSON.stringify(data));
      return true;
    }
    if (url.pathname === `${STATUS_PATH}/file`) {
      try {
        const scope = await sessionScope(services, client.clientKey, url.searchParams.get('session') ?? '');
        // The artifacts service's read: regular files inside the workspace only, opened without following links.
        const f = await services.artifacts.readFile(scope, url.searchParams.get('path') ?? '', {
          maxBytes: THUMB_MAX_BYTES,
        });
        if (
          f.encoding !== 'base64' ||
          f.truncated ||
          !IMAGE_CATEGORIES.has(f.category) ||
          f.mime === 'image/svg+xml'
        ) {
          res.writeHead(404, headers);
          res.end();
          return true;
        }
        res.writeHead(200, { ...headers, 'Content-Type': f.mime });
        res.end(Buffer.from(f.base64, 'base64'));
      } catch {
        res.writeHead(404, headers);
        res.end();
      }
      return true;
    }
    return false;
  };
}

export async function statusData(services: Services, extras: StatusExtras, owner: string) {
  const sessions = [];
  for (const s of services.sessions.list(owner)) {
    const scope = await sessionScope(services, owner, s.session_id);
    const { artifacts, total_count, total_bytes } = await services.artifacts.list(scope);
    const sections: Record<string, Array<Record<string, unknown>>> = {};
    for (const sec of extras.sections)
      sections[sec.name] = await sec.rows(owner, s.session_id).catch(() => []);
    sessions.push({
      ...s,
      usage: services.sessions.usage(owner, s.session_id),
      artifacts: {
        total_count,
        total_bytes,
        recent: [...artifacts].sort((a, b) => b.mtime.localeCompare(a.mtime)).slice(0, 24),
      },
      ...sections,
    });
  }
  return { generated_at: new Date().toISOString(), isolation: services.config.isolation, sessions };
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sandbox-mcp status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.3em}h2{font-size:1.1em;margin:.2em 0}
.session{border:1px solid #ccc;border-radius:6px;padding:.8em;margin:0 0 1em}.meta{color:#555}
table{border-collapse:collapse;margin:.4em 0}td,th{border-bottom:1px solid #eee;padding:.2em .6em;text-align:left}
.thumbs img{max-width:160px;max-height:120px;margin:.2em;border:1px solid #ddd}#updated{color:#777}
</style></head>
<body><h1>sandbox-mcp status</h1><p id="updated">loading…</p><div id="sessions"></div>
<script src="${STATUS_PATH}/app.js"></script></body></html>
`;

const SCRIPT = `
const base = ${JSON.stringify(STATUS_PATH)};
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
function mb(b) { return b == null ? '-' : (b / 1048576).toFixed(1) + ' MiB'; }
function table(rows) {
  if (!rows || !rows.length) return el('p', {}, 'none');
  const cols = Object.keys(rows[0]);
  return el('table', {}, el('tr', {}, ...cols.map(c => el('th', {}, c))),
    ...rows.map(r => el('tr', {}, ...cols.map(c => el('td', {}, typeof r[c] === 'object' ? JSON.stringify(r[c]) : (r[c] ?? ''))))));
}
async function refresh() {
  try {
    const res = await fetch(base + '/data', { credentials: 'same-origin' });
    if (res.status === 401) {
      document.getElementById('updated').textContent = 'signed out (the sign-in expired): open ' + base + '?token=… again';
      return;
    }
    const data = await res.json();
    const root = document.getElementById('sessions');
    root.replaceChildren(...(data.sessions.length ? data.sessions.map(s => {
      const u = s.usage || {};
      const box = el('div', { class: 'session', 'data-session': s.session_id },
        el('h2', {}, s.session_id + (s.name ? ' — ' + s.name : '') + (s.is_default ? ' (default)' : '')),
        el('p', { class: 'meta' }, 'calls: ' + s.execution_count + ' · running: ' + (s.running ? 'yes' : 'no') +
          ' · memory: ' + mb(u.memory_bytes) + ' (peak ' + mb(u.memory_peak_bytes) + ') · processes: ' + (u.pids ?? '-') +
          ' · limit ' + s.memory_mb + ' MiB · last used ' + s.last_used_at),
        el('h3', {}, 'Artifacts (' + s.artifacts.total_count + ', ' + mb(s.artifacts.total_bytes) + ')'),
        el('div', { class: 'thumbs' }, ...s.artifacts.recent.filter(a => a.category === 'plots' || a.category === 'images')
          .filter(a => a.mime !== 'image/svg+xml')
          .map(a => el('img', { src: base + '/file?session=' + encodeURIComponent(s.session_id) + '&path=' + encodeURIComponent(a.path), alt: a.path, title: a.path }))),
        table(s.artifacts.recent.map(a => ({ path: a.path, category: a.category, size: a.size, modified: a.mtime }))));
      for (const key of Object.keys(s)) {
        if (Array.isArray(s[key]) && key !== 'artifacts') box.append(el('h3', {}, key.replace(/_/g, ' ')), table(s[key]));
      }
      return box;
    }) : [el('p', {}, 'No open sessions.')]));
    document.getElementById('updated').textContent = 'updated ' + new Date(data.generated_at).toLocaleTimeString() + ' · isolation: ' + data.isolation;
  } catch (e) {
    document.getElementById('updated').textContent = 'update failed: ' + e;
  }
}
refresh();
setInterval(refresh, 2000);
`;
