// Cookie headers as the status page and the web-app relays read and write them: the values of one cookie, a Cookie
// header without some cookies, and a Set-Cookie line. Every cookie set here is HttpOnly; values are never decoded.

interface CookiePair {
  name: string;
  value: string;
}

function parseCookies(header: string | undefined): CookiePair[] {
  const pairs: CookiePair[] = [];
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) pairs.push({ name: part.slice(0, eq).trim(), value: part.slice(eq + 1).trim() });
  }
  return pairs;
}

/** Every value the header gives the cookie `name`: a browser sends several when cookies of one name differ in path. */
export function cookieValues(header: string | undefined, name: string): string[] {
  return parseCookies(header)
    .filter((c) => c.name === name)
    .map((c) => c.value);
}

/** The header without the cookies whose names `drop` matches; undefined when none is left. */
export function withoutCookies(
  header: string | undefined,
  drop: (name: string) => boolean,
): string | undefined {
  const kept = parseCookies(header).filter((c) => !drop(c.name));
  return kept.length === 0 ? undefined : kept.map((c) => `${c.name}=${c.value}`).join('; ');
}

export interface CookieScope {
  path: string;
  sameSite: 'Strict' | 'Lax';
  /** Omitted: the cookie lasts until the browser closes; 0 removes it. */
  maxAgeSeconds?: number;
}

/** A Set-Cookie value for an HttpOnly cookie; `value` must already be cookie-safe (base64url here). */
export function setCookie(name: string, value: string, scope: CookieScope): string {
  const maxAge = scope.maxAgeSeconds === undefined ? '' : `; Max-Age=${scope.maxAgeSeconds}`;
  return `${name}=${value}; Path=${scope.path}; HttpOnly; SameSite=${scope.sameSite}${maxAge}`;
}
