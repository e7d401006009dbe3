// How an allowlist proxy is wired into a box: the socket's place inside, the relay's port and the proxy environment.
// Pure; it must never name a host path other than the proxy socket it is given.
import type { BoxOptions } from '../sandbox/box.js';

/** Where the proxy's Unix socket appears inside the box. */
export const BOX_PROXY_SOCKET = '/run/sandbox-net/proxy.sock';
/** The in-box relay listens here, in the box's own network namespace (netrelay.py). */
export const RELAY_PORT = 3128;
export const RELAY_URL = `http://127.0.0.1:${RELAY_PORT}`;

/**
 * Environment that points every common HTTP client (pip, uv, curl, requests, urllib) at the relay. A session box
 * reaches its own loopback (its web apps) directly; an install box has none, and its index may be on the host's.
 */
export function proxyEnvironment(loopbackDirect = true): Record<string, string> {
  const env: Record<string, string> = {
    SANDBOX_NET_PROXY_SOCKET: BOX_PROXY_SOCKET,
    SANDBOX_NET_RELAY_PORT: String(RELAY_PORT),
    HTTP_PROXY: RELAY_URL,
    HTTPS_PROXY: RELAY_URL,
    http_proxy: RELAY_URL,
    https_proxy: RELAY_URL,
    ALL_PROXY: RELAY_URL,
    all_proxy: RELAY_URL,
  };
  if (loopbackDirect) env.NO_PROXY = env.no_proxy = 'localhost,127.0.0.1';
  return env;
}

/** Binds the host socket into the box and sets the environment; the box keeps its own network namespace. */
export function wireProxy(opts: BoxOptions, hostSocket: string): void {
  opts.network = 'none';
  opts.extraRoBinds = [...(opts.extraRoBinds ?? []), { host: hostSocket, box: BOX_PROXY_SOCKET }];
  opts.env = { ...(opts.env ?? {}), ...proxyEnvironment() };
}
