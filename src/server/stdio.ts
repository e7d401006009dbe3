// Serves MCP over this process's stdin/stdout for the one local client ('stdio'), both the 2025 handshake and the 2026-07-28 era. Never write anything but protocol messages to stdout.
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import type { ServerFactory } from './client-context.js';
import { StdioWire } from './stdio-wire.js';

export interface StdioOptions {
  /** Out-of-band errors (reporting only); defaults to a line on stderr. */
  onError?: (error: Error) => void;
}

export interface StdioHandle {
  /** Stops serving and closes the connection. */
  close(): Promise<void>;
  /** Settles once the client has hung up (stdin ended) or close() was called, so the caller can shut down. */
  closed: Promise<void>;
}

export const STDIO_CLIENT_KEY = 'stdio';

export async function startStdio(factory: ServerFactory, opts: StdioOptions = {}): Promise<StdioHandle> {
  const onError = opts.onError ?? ((e: Error) => process.stderr.write(`sandbox-mcp stdio: ${e.message}\n`));
  const restoreConsole = routeConsoleToStderr();

  // The same factory answers both eras: serveStdio picks the era from the opening message and may build one
  // extra instance for a server/discover probe that it throws away if the client falls back to initialize.
  // The wire caps one message and answers what it cannot read; it closes at the end of stdin.
  const wire = new StdioWire();
  const handle = serveStdio(() => factory({ clientKey: STDIO_CLIENT_KEY, transport: 'stdio' }), {
    legacy: 'serve',
    onerror: onError,
    transport: wire,
  });
  const closed = wire.closed.then(restoreConsole);

  return {
    closed,
    async close() {
      try {
        await handle.close();
      } finally {
        await wire.close();
      }
    },
  };
}

/**
 * A stray console.log anywhere in the process (a dependency, a debug line) would corrupt the JSON-RPC
 * stream on stdout, so while stdio serves, the console's stdout methods write to stderr instead.
 */
function routeConsoleToStderr(): () => void {
  const saved = { log: console.log, info: console.info, debug: console.debug, dir: console.dir };
  console.log = console.error;
  console.info = console.error;
  console.debug = console.error;
  console.dir = (item?: unknown) => console.error(item);
  return () => Object.assign(console, saved);
}
