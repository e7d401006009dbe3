// What may pass an app's relay: Host must name the relay, the request must come from the app's own pages (or be a
// plain navigation), and it must carry the app's key, in the path (/sandbox-mcp-key/<key>/…, the URL start_web_app
// returns) or in the relay's own cookie. What passes loses the key and every sandbox-mcp cookie before the app sees it.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { cookieValues, setCookie, withoutCookies } from '../http-cookies.js';

/**
 * Relays listen on this loopback address, not on 127.0.0.1 where the status page is: another site for the browser,
 * so the status page's cookies never reach an app and an app's page cannot send requests that carry them.
 */
export const RELAY_HOST = '127.0.0.2';
/** The first path segment of a key-carrying URL. */
export const KEY_SEGMENT = 'sandbox-mcp-key';
/** Every cookie the server sets (status sign-ins, relay keys) is named so; none is ever passed to an app. */
const OWN_COOKIE_PREFIX = 'sandbox_mcp_';

export interface GateRequest {
  method?: string | undefined;
  url?: string | undefined;
  headers: IncomingHttpHeaders;
}

export type Verdict =
  | { kind: 'refuse'; status: 400 | 401 | 403; message: string }
  /** A browser opened the key-carrying URL: the key moves into the cookie, and the browser on to `location`. */
  | { kind: 'enter'; location: string; setCookie: string }
  /** Forward with this request target and Cookie header (undefined: none). */
  | { kind: 'pass'; path: string; cookie: string | undefined };

export class RelayGate {
  readonly origin: string;
  readonly cookieName: string;
  private readonly digest: Buffer;

  constructor(
    readonly port: number,
    private readonly key: string,
  ) {
    this.origin = `http://${RELAY_HOST}:${port}`;
    // Cookies ignore ports: one name per relay, so each relay finds its own.
    this.cookieName = `${OWN_COOKIE_PREFIX}app_${port}`;
    this.digest = sha256(key);
  }

  /** The URL to hand out: opening it in a browser sets the relay's cookie. */
  get url(): string {
    return `${this.origin}/${KEY_SEGMENT}/${this.key}/`;
  }

  /** `upgrade`: a WebSocket handshake, which is never sent on to another page. */
  check(req: GateRequest, upgrade = false): Verdict {
    if (req.headers.host?.toLowerCase() !== `${RELAY_HOST}:${this.port}`) {
      return refuse(403, `this app answers only to Host ${RELAY_HOST}:${this.port}`);
    }
    if (!this.fromOwnPages(req)) return refuse(403, "requests from other sites' pages are refused");
    const target = req.url ?? '';
    if (!target.startsWith('/')) return refuse(400, 'the request target must be a path');
    const cookie = withoutCookies(req.headers.cookie, (name) => name.startsWith(OWN_COOKIE_PREFIX));
    const keyed = this.splitKey(target);
    if (keyed === 'wrong') return refuse(401, `that is not this app's key: ${NEED_KEY}`);
    if (keyed !== null) {
      if (upgrade || !isNavigation(req)) return { kind: 'pass', path: keyed, cookie };
      // Strict: a page of another site that sends the browser to any listener on 127.0.0.2 gets no key along.
      const line = setCookie(this.cookieName, this.key, { path: '/', sameSite: 'Strict' });
      return { kind: 'enter', location: keyed, setCookie: line };
    }
    const values = cookieValues(req.headers.cookie, this.cookieName);
    if (!values.some((v) => this.isKey(v))) return refuse(401, `this app needs its key: ${NEED_KEY}`);
    return { kind: 'pass', path: target, cookie };
  }

  /** The target without the key segment, null when there is none, 'wrong' when its key is not this app's. */
  private splitKey(target: string): string | 'wrong' | null {
    const prefix = `/${KEY_SEGMENT}`;
    if (!target.startsWith(prefix) || !/^(\/|\?|$)/.test(target.slice(prefix.length))) return null;
    const rest = target.slice(prefix.length + 1);
    const end = rest.search(/[/?]/);
    const key = end < 0 ? rest : rest.slice(0, end);
    if (!this.isKey(key)) return 'wrong';
    const after = end < 0 ? '' : rest.slice(end);
    // One leading slash only: `//host` or `/\host` in a Location would send the browser to another site.
    return after.startsWith('/') ? after.replace(/^[/\\]+/, '/') : `/${after}`;
  }

  private isKey(value: string): boolean {
    return timingSafeEqual(sha256(value), this.digest);
  }

  /**
   * A browser says where a request comes from (Sec-Fetch-Site, else Origin): from the app's own pages, typed in,
   * or a top-level GET navigation from elsewhere pass. Another app's page (same site: 127.0.0.2 on another port)
   * must not use this relay's cookie for a fetch, a form post or a WebSocket.
   */
  private fromOwnPages(req: GateRequest): boolean {
    const site = header(req.headers['sec-fetch-site']);
    if (site !== undefined) {
      return site === 'same-origin' || site === 'none' || isNavigation(req);
    }
    const origin = header(req.headers.origin);
    return origin === undefined || origin === this.origin;
  }
}

const NEED_KEY = 'open the url that start_web_app or list_web_apps gave (it holds /sandbox-mcp-key/…/)';

function refuse(status: 400 | 401 | 403, message: string): Verdict {
  return { kind: 'refuse', status, message };
}

function isNavigation(req: GateRequest): boolean {
  const method = (req.method ?? 'GET').toUpperCase();
  return header(req.headers['sec-fetch-mode']) === 'navigate' && (method === 'GET' || method === 'HEAD');
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
