// Which server process serves a data dir: one at a time. The claim is an abstract Unix socket named from the data
// dir and a key kept inside it; the kernel frees the name when the process ends (kill -9 included), so there is never
// a stale lock. A second stdio server (a client's second window) serves the first free `instances/<n>` folder
// instead; a second `serve` refuses at once, naming the owner. Every sweep of the server then touches only its own.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, realpathSync, unlinkSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

export interface OwnerInfo {
  pid: number;
  transport: string;
  started_at: string;
  /** 'closing' once its shutdown began: a newcomer then waits for the data dir instead of going elsewhere. */
  state: 'serving' | 'closing';
}

export interface DataDirClaim {
  /** The folder this process serves: the one asked for, or an instance folder inside it. */
  dataDir: string;
  /** The instance number when the folder asked for was taken (2, 3…); null when this process serves it. */
  instance: number | null;
  /** Who serves the folder asked for, when this process went to an instance folder. */
  heldBy: OwnerInfo | null;
  /** Tells newcomers that this process is shutting down (a client restarting the server waits for it). */
  closing(): void;
  release(): Promise<void>;
}

/** The data dir is served by another live process (owner null: one that could not prove it). */
export class DataDirInUse extends Error {
  constructor(
    readonly dataDir: string,
    readonly owner: OwnerInfo | null,
  ) {
    super(
      `the data dir ${dataDir} is in use by another sandbox-mcp server (` +
        (owner
          ? `pid ${owner.pid}, ${owner.transport}, since ${owner.started_at}`
          : 'a process that answers for it without its key') +
        '); stop that server, or give this one a data dir of its own with --data-dir DIR (or SANDBOX_MCP_HOME=DIR)',
    );
  }
}

/** Instance folders a stdio server tries after the data dir itself: more windows than this is not a desktop. */
export const MAX_INSTANCES = 32;
const KEY_FILE = '.owner-key';
const ANSWER_TIMEOUT_MS = 2000;
/** How long a newcomer waits for an owner that is shutting down to let go. */
const CLOSING_WAIT_MS = 20_000;

/**
 * Claims `dataDir` for this process. With `fallback` (stdio), a data dir already served makes this process serve
 * `instances/2`, `instances/3`… (the first free one); without it, throws DataDirInUse.
 */
export async function claimDataDir(
  dataDir: string,
  opts: { transport: string; fallback: boolean },
): Promise<DataDirClaim> {
  const info: OwnerInfo = {
    pid: process.pid,
    transport: opts.transport,
    started_at: new Date().toISOString(),
    state: 'serving',
  };
  let first = await claimOne(dataDir, info);
  for (const end = Date.now() + CLOSING_WAIT_MS; 'owner' in first && first.owner?.state === 'closing';) {
    if (Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 200));
    first = await claimOne(dataDir, info);
  }
  if ('server' in first) return claimed(dataDir, null, null, first.server, info);
  if (!opts.fallback) throw new DataDirInUse(dataDir, first.owner);
  mkdirSync(join(dataDir, 'instances'), { recursive: true, mode: 0o700 });
  for (let n = 2; n <= MAX_INSTANCES; n++) {
    const dir = join(dataDir, 'instances', String(n));
    const r = await claimOne(dir, info);
    if ('server' in r) return claimed(dir, n, first.owner, r.server, info);
  }
  throw new DataDirInUse(join(dataDir, 'instances', `2…${MAX_INSTANCES}`), first.owner);
}

function claimed(
  dataDir: string,
  instance: number | null,
  heldBy: OwnerInfo | null,
  server: Server,
  info: OwnerInfo,
): DataDirClaim {
  let closing: Promise<void> | undefined;
  return {
    dataDir,
    instance,
    heldBy,
    closing: () => void (info.state = 'closing'),
    release: () => (closing ??= new Promise<void>((resolve) => server.close(() => resolve()))),
  };
}

async function claimOne(
  dir: string,
  info: OwnerInfo,
): Promise<{ server: Server } | { owner: OwnerInfo | null }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = ownerKey(dir);
  const name = socketName(dir, key);
  // An owner that exits between our bind and our question frees the name: try again.
  for (let attempt = 0; ; attempt++) {
    const server = await listen(name, info, key);
    if (server) return { server };
    const owner = await ask(name, key);
    if (owner !== 'gone' || attempt >= 3) return { owner: owner === 'gone' ? null : owner };
  }
}

/** The data dir's key: made once (written whole, then linked into place, so a reader never sees half of it). */
function ownerKey(dir: string): Buffer {
  const path = join(dir, KEY_FILE);
  try {
    return Buffer.from(readFileSync(path, 'utf8').trim(), 'hex');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
  return Buffer.from(readFileSync(path, 'utf8').trim(), 'hex');
}

function socketName(dir: string, key: Buffer): string {
  const id = createHash('sha256').update(realpathSync(dir)).update('\0').update(key).digest('hex');
  return `\0sandbox-mcp/${id.slice(0, 40)}`;
}

function proof(key: Buffer, nonce: string): string {
  return createHmac('sha256', key).update(nonce).digest('hex');
}

/** Binds the name and answers who holds it; null when another process has it. */
function listen(name: string, info: OwnerInfo, key: Buffer): Promise<Server | null> {
  return new Promise((resolve, reject) => {
    const server = createServer((sock) => answer(sock, info, key));
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(null);
      else reject(err);
    });
    server.listen({ path: name }, () => {
      server.removeAllListeners('error');
      server.on('error', () => undefined);
      server.unref();
      resolve(server);
    });
  });
}

/** Anyone on the host may connect: only a nonce is read (a short line), and only who we are goes back. */
function answer(sock: Socket, info: OwnerInfo, key: Buffer): void {
  sock.setTimeout(ANSWER_TIMEOUT_MS, () => sock.destroy());
  sock.on('error', () => undefined);
  let buf = '';
  sock.setEncoding('latin1');
  sock.on('data', (d: string) => {
    buf += d;
    const nl = buf.indexOf('\n');
    if (nl < 0 && buf.length < 128) return;
    const nonce = buf.slice(0, Math.max(0, nl));
    sock.removeAllListeners('data');
    if (!/^[0-9a-f]{32}$/.test(nonce)) return void sock.destroy();
    sock.end(JSON.stringify({ ...info, proof: proof(key, nonce) }) + '\n');
  });
}

/** Who holds the name: its answer when it proves it knows the key, null when it does not, 'gone' when none. */
function ask(name: string, key: Buffer): Promise<OwnerInfo | null | 'gone'> {
  return new Promise((resolve) => {
    const nonce = randomBytes(16).toString('hex');
    const sock = createConnection({ path: name });
    let buf = '';
    let settled = false;
    const done = (v: OwnerInfo | null | 'gone') => {
      if (settled) return;
      settled = true;
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(ANSWER_TIMEOUT_MS, () => done(null));
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(nonce + '\n'));
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.length > 4096) done(null);
    });
    sock.on('end', () => done(parseAnswer(buf, key, nonce)));
    sock.on('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'gone' : null),
    );
  });
}

function parseAnswer(text: string, key: Buffer, nonce: string): OwnerInfo | null {
  try {
    const v = JSON.parse(text) as Partial<OwnerInfo> & { proof?: unknown };
    const want = Buffer.from(proof(key, nonce), 'hex');
    const got = Buffer.from(typeof v.proof === 'string' ? v.proof : '', 'hex');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return null;
    if (typeof v.pid !== 'number' || typeof v.transport !== 'string' || typeof v.started_at !== 'string')
      return null;
    const state = v.state === 'closing' ? 'closing' : 'serving';
    return { pid: v.pid, transport: v.transport, started_at: v.started_at, state };
  } catch {
    return null;
  }
}
