// The read-only status page of `sandbox-mcp serve`, behind the same token: the caller's sessions with their resource
// usage, each session's calls as a live notebook, artifacts (viewed in place, downloaded), backups (files, diffs)
// and running web apps. Never changes state: GET only, no session queue, no call, no "use" of a session.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildNotebook } from '../artifacts/notebook.js';
import type { SessionScope } from '../artifacts/types.js';
import { invalidArgument, SandboxError, toErrorBody } from '../errors.js';
import { sessionPaths } from '../sessions/paths.js';
import type { ClientContext } from './client-context.js';
import { drained, STATUS_PATH } from './http.js';
import { LiveView } from './live-view.js';
import type { Services } from './services.js';
import { PAGE, STYLE } from './status-assets.js';
import { SCRIPT } from './status-script.js';
import type { StatusStore } from './status-store.js';
import { toHistoryEntry } from './tools/artifacts.js';

const THUMB_MAX_BYTES = 5 * 1024 * 1024;
const IMAGE_CATEGORIES = new Set(['images', 'plots']);
/** Text shown in the viewer (text, CSV, HTML source). */
const VIEW_MAX_BYTES = 1024 * 1024;
const DOWNLOAD_CHUNK_BYTES = 4 * 1024 * 1024;

export interface StatusExtras {
  /** Extra sections per session (backups, web apps), filled by the services that have them. */
  sections: Array<{
    name: string;
    rows: (owner: string, sessionId: string) => Promise<Array<Record<string, unknown>>>;
  }>;
  /** The database reads of the live view and the backup views. */
  store: StatusStore;
}

/** The page's own resources: scripts from this server only, no frames but srcdoc ones, no form, never framed. */
const PAGE_HEADERS = {
  'Cache-Control': 'no-store',
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};
/** Workspace bytes: never a document of this origin, even when opened directly (CSP sandbox, no sniffing). */
const FILE_HEADERS = {
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "sandbox; default-src 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

export function statusRoutes(services: Services, extras: StatusExtras) {
  const live = new LiveView(services, extras.store);
  const routes = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    client: ClientContext,
  ): Promise<boolean> => {
    if (url.pathname !== STATUS_PATH && !url.pathname.startsWith(`${STATUS_PATH}/`)) return false;
    const owner = client.clientKey;
    const q = (name: string) => url.searchParams.get(name) ?? '';
    if (req.method !== 'GET') {
      sendError(res, 405, new SandboxError('invalid_argument', 'the status page is read-only: GET only'));
      return true;
    }
    try {
      switch (url.pathname.slice(STATUS_PATH.length)) {
        case '':
          return send(res, 200, 'text/html; charset=utf-8', PAGE);
        case '/app.js':
          return send(res, 200, 'text/javascript; charset=utf-8', SCRIPT);
        case '/app.css':
          return send(res, 200, 'text/css; charset=utf-8', STYLE);
        case '/data':
          return sendJson(res, await statusData(services, extras, owner));
        case '/cells': {
          const scope = viewScope(services, owner, q('session'));
          const before = q('before') === '' ? null : Number(q('before'));
          if (before !== null && !Number.isSafeInteger(before))
            throw invalidArgument('before must be a history number', { before: q('before') });
          return sendJson(res, {
            session_id: scope.sessionId,
            ...live.cells(owner, scope.sessionId, before),
          });
        }
        case '/events':
          live.watch(req, res, owner, viewScope(services, owner, q('session')).sessionId);
          return true;
        case '/file':
          await sendFile(services, res, viewScope(services, owner, q('session')), q('path'), q('as'));
          return true;
        case '/notebook': {
          const { sessionId } = viewScope(services, owner, q('session'));
          // What export_notebook writes, without writing it: the page never changes the workspace.
          const history = services.sessions.executions(sessionId).map(toHistoryEntry);
          const nb = buildNotebook(history, { sessionId, exportedAt: new Date().toISOString() });
          res.writeHead(200, {
            ...FILE_HEADERS,
            'Content-Type': 'application/x-ipynb+json',
            'Content-Disposition': `attachment; filename="${sessionId}.ipynb"`,
          });
          res.end(JSON.stringify(nb, null, 1) + '\n');
          return true;
        }
        case '/backup': {
          const { sessionId } = viewScope(services, owner, q('session'));
          const files = extras.store.backupFiles(sessionId, q('name'));
          if (files === null) throw new SandboxError('not_found', `no backup named '${q('name')}'`);
          return sendJson(res, { name: q('name'), files });
        }
        case '/diff': {
          const { sessionId } = viewScope(services, owner, q('session'));
          return sendJson(res, await services.backups.diffBackups(sessionId, q('from'), q('to')));
        }
        default:
          sendError(res, 404, new SandboxError('not_found', `no status page at ${url.pathname}`));
          return true;
      }
    } catch (err) {
      const body = toErrorBody(err);
      sendError(res, body.code === 'not_found' ? 404 : body.code === 'invalid_argument' ? 400 : 500, err);
      return true;
    }
  };
  return routes;
}

/**
 * The viewer's own session, looked up without counting as use (the idle reaper and last_used_at ignore the page)
 * and without creating a default session; another client's session is "not found", as for the tools.
 */
function viewScope(services: Services, owner: string, sessionId: string): SessionScope {
  const s = services.sessions.get(owner, sessionId);
  return {
    sessionId: s.session_id,
    workspace: sessionPaths(services.config.dataDir, s.session_id).workspace,
  };
}

export async function statusData(services: Services, extras: StatusExtras, owner: string) {
  const sessions = [];
  for (const s of services.sessions.list(owner)) {
    const scope = viewScope(services, owner, s.session_id);
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

/**
 * A workspace file through the artifacts service's read (regular files inside the workspace only, opened without
 * following links): as=image (default) an image for <img>, as=text its text for the viewer, as=download its bytes
 * as an attachment.
 */
async function sendFile(
  services: Services,
  res: ServerResponse,
  scope: SessionScope,
  path: string,
  as: string,
): Promise<void> {
  if (as === 'download') return download(services, res, scope, path);
  const f = await services.artifacts.readFile(scope, path, {
    maxBytes: as === 'text' ? VIEW_MAX_BYTES : THUMB_MAX_BYTES,
  });
  if (as === 'text') {
    if (f.encoding !== 'utf8')
      throw new SandboxError('invalid_argument', `'${f.path}' is not text`, { mime: f.mime });
    return void sendJson(res, {
      path: f.path,
      mime: f.mime,
      category: f.category,
      size: f.size,
      truncated: f.truncated,
      text: f.text,
    });
  }
  if (
    f.encoding !== 'base64' ||
    f.truncated ||
    !IMAGE_CATEGORIES.has(f.category) ||
    f.mime === 'image/svg+xml'
  )
    throw new SandboxError('not_found', `'${f.path}' is not an image the page shows`);
  res.writeHead(200, { ...FILE_HEADERS, 'Content-Type': f.mime });
  res.end(Buffer.from(f.base64, 'base64'));
}

/** The whole file, read in ranges; never a type a browser would render in this origin. */
async function download(services: Services, res: ServerResponse, scope: SessionScope, path: string) {
  let first = await services.artifacts.readFile(scope, path, { maxBytes: DOWNLOAD_CHUNK_BYTES });
  const name = first.path.split('/').pop() ?? 'file';
  res.writeHead(200, {
    ...FILE_HEADERS,
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': `attachment; filename="${name.replace(/[^\w.-]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(name)}`,
  });
  for (;;) {
    const bytes =
      first.encoding === 'utf8' ? Buffer.from(first.text, 'utf8') : Buffer.from(first.base64, 'base64');
    if (!res.write(bytes)) await drained(res);
    if (first.next_offset === null || res.destroyed) break;
    first = await services.artifacts.readFile(scope, path, {
      maxBytes: DOWNLOAD_CHUNK_BYTES,
      offset: first.next_offset,
    });
  }
  res.end();
}

function send(res: ServerResponse, status: number, type: string, body: string): true {
  res.writeHead(status, { ...PAGE_HEADERS, 'Content-Type': type });
  res.end(body);
  return true;
}

function sendJson(res: ServerResponse, body: unknown): true {
  return send(res, 200, 'application/json', JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  send(res, status, 'application/json', JSON.stringify({ error: toErrorBody(err) }));
}
