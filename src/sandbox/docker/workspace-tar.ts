// The tar streams of a volume workspace's sync, through tar-stream: a writer (PAX records with exact mtimes) for what
// goes into the box, and a streaming reader for what comes back, whose entry bodies go straight to a sink, unbuffered.
import type { Header, Pack } from 'tar-stream';

export type TarType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface TarHeader {
  name: string;
  type: TarType;
  size: number;
  mode: number;
  linkname: string;
}

export interface PackEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  size?: number;
  /** Nanoseconds since the epoch, as a decimal string: written exactly (PAX), so the box's copy has the same mtime. */
  mtimeNs: string;
  linkname?: string;
  uid: number;
  gid: number;
  /** A file's bytes: exactly `size` of them. */
  data?: Iterable<Buffer>;
}

/** Where one entry's data goes; null skips it (its bytes are read and dropped). */
export interface EntrySink {
  write(chunk: Buffer): void;
  end(): void;
}

class TarError extends Error {}

function typeOf(type: Header['type'] | null): TarType {
  if (type === 'file' || type === 'contiguous-file') return 'file';
  if (type === 'directory') return 'dir';
  if (type === 'symlink') return 'symlink';
  if (type === 'link') return 'hardlink';
  return 'other';
}

function headerOf(e: PackEntry): Parameters<Pack['entry']>[0] {
  const ns = BigInt(e.mtimeNs) < 0n ? 0n : BigInt(e.mtimeNs);
  const seconds = ns / 1_000_000_000n;
  return {
    name: e.type === 'dir' && !e.name.endsWith('/') ? `${e.name}/` : e.name,
    type: e.type === 'dir' ? 'directory' : e.type,
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    size: e.type === 'file' ? (e.size ?? 0) : 0,
    mtime: new Date(Number(seconds) * 1000),
    linkname: e.linkname ?? '',
    pax: { mtime: `${seconds}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}` },
  };
}

/** Resolves when `stream` may take more, or is gone. */
function drained(stream: {
  once(event: 'drain' | 'close', fn: () => void): unknown;
  off(event: 'drain' | 'close', fn: () => void): unknown;
}): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}

function addEntry(archive: Pack, e: PackEntry): Promise<void> {
  return new Promise((resolve, reject) => {
    const sink = archive.entry(headerOf(e), (err) => (err ? reject(err) : resolve()));
    (async () => {
      for (const chunk of e.type === 'file' ? (e.data ?? []) : [])
        if (!sink.write(chunk)) await drained(sink);
      // every entry is ended: tar-stream takes a link without a target as one whose target is its body
      sink.end(null); // null: no last chunk
    })().catch(reject);
  });
}

/** A tar archive of `entries`, in order, with its end blocks; it is read as the consumer reads it. */
export async function* packTar(entries: AsyncIterable<PackEntry>): AsyncGenerator<Buffer> {
  const { pack } = await import('tar-stream'); // loaded only where a volume workspace is synced
  const archive = pack();
  const fill = (async () => {
    for await (const e of entries) await addEntry(archive, e);
    archive.finalize();
  })();
  fill.catch((err: unknown) => archive.destroy(err instanceof Error ? err : new Error(String(err))));
  for await (const chunk of archive) yield chunk as Buffer;
  await fill;
}

/**
 * Reads a tar stream as it comes; onEntry decides per header where its data goes. A broken archive (bad checksum,
 * oversized metadata, a cut inside an entry) rejects with TarError. Memory stays bounded whatever a header claims:
 * bodies are passed on chunk by chunk, and tar-stream holds a PAX or GNU long-name record only up to 4 MiB.
 */
export async function readTar(
  input: AsyncIterable<Buffer>,
  onEntry: (h: TarHeader) => EntrySink | null,
): Promise<void> {
  const { extract } = await import('tar-stream');
  const ex = extract();
  const settled = new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve);
    ex.on('error', (err) => reject(new TarError(`the archive is not a valid tar stream (${err.message})`)));
    ex.on('close', () => reject(new TarError('the archive was not read to its end')));
  });
  settled.catch(() => undefined); // awaited below
  ex.on('entry', (h, body, next) => {
    const sink = onEntry({
      name: h.name,
      type: typeOf(h.type),
      size: h.size,
      mode: Number.isSafeInteger(h.mode) ? h.mode : 0,
      linkname: h.linkname ?? '',
    });
    // A folder's body is never read (tar-stream parses what follows its header as the next header) and never ends.
    if (h.size === 0 || h.type === 'directory') {
      sink?.end();
      next();
      return;
    }
    body.on('data', (chunk) => sink?.write(chunk as Buffer));
    body.on('end', () => {
      sink?.end();
      next();
    });
  });
  try {
    for await (const chunk of input) {
      if (ex.destroyed) break;
      if (!ex.write(chunk)) await drained(ex);
    }
    ex.end(null);
  } catch (err) {
    ex.destroy(err instanceof Error ? err : new Error(String(err)));
    throw err;
  }
  await settled;
}
