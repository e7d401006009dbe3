// Writes what a box's tar stream holds into the host workspace, treating the stream as hostile: only the files the
// manifest named and asked for, through folder descriptors (no link is followed), each under the size caps, written
// to a temporary name and renamed into place, so a refused or broken entry leaves the host file as it was.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import type { Dir } from '../../fsafe/dir.js';
import type { DirCache } from '../../fsafe/files.js';
import { readTar, type EntrySink, type TarHeader } from './workspace-tar.js';
import { validRel, type ManifestEntry } from './workspace-manifest.js';

/** A temporary name every sweep and the artifact tracker already know as the server's own (HOST_TEMP_NAME). */
function hostTempName(): string {
  return `.sbx-${randomBytes(8).toString('hex')}.tmp`;
}

export interface PullBudget {
  /** The largest single file written (the box's own file-size limit). */
  fileBytes: number;
  /** What one pull may write in all (the host's free space less a reserve); decreases as files are written. */
  remaining: number;
}

export interface ApplyOutcome {
  /** Written on the host: path → its host stat signature parts. */
  written: Map<string, { size: number; mtimeNs: string }>;
  /** Not written, with why (the host keeps what it had). */
  refused: Map<string, string>;
}

/**
 * Maps a tar entry's name to a workspace-relative path: a fetch of `/workspace/<unit>` names its entries after the
 * unit's last component (`workspace` for the whole workspace). Anything else is null.
 */
export function entryRel(unit: string, name: string): string | null {
  const clean = name.replace(/^\.\//, '').replace(/\/+$/, '');
  const top = unit === '' ? 'workspace' : unit.slice(unit.lastIndexOf('/') + 1);
  if (clean === top) return unit === '' ? null : unit;
  if (!clean.startsWith(`${top}/`)) return null;
  const rest = clean.slice(top.length + 1);
  const rel = unit === '' ? rest : `${unit}/${rest}`;
  return validRel(rel) ? rel : null;
}

/** One file being written: a temporary name in its folder, renamed over the target at the end. */
class FileSink implements EntrySink {
  private written = 0;
  private failed: string | null = null;

  constructor(
    private readonly dir: Dir,
    private readonly name: string,
    private readonly tmp: string,
    private readonly fd: number,
    private readonly expected: number,
    private readonly done: (ok: { size: number; mtimeNs: string } | { refused: string }) => void,
  ) {}

  write(chunk: Buffer): void {
    if (this.failed) return;
    try {
      let at = 0;
      while (at < chunk.length) at += writeSync(this.fd, chunk, at);
      this.written += chunk.length;
    } catch (err) {
      this.failed = `could not be written on the host: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
  }

  end(): void {
    let result: { size: number; mtimeNs: string } | { refused: string };
    try {
      const st = fstatSync(this.fd, { bigint: true });
      closeSync(this.fd);
      if (this.failed || this.written !== this.expected) throw new Error(this.failed ?? 'short entry');
      this.dir.rename(this.tmp, this.dir, this.name);
      result = { size: Number(st.size), mtimeNs: st.mtimeNs.toString() };
    } catch (err) {
      try {
        unlinkSync(this.dir.at(this.tmp));
      } catch {
        // already gone
      }
      result = { refused: this.failed ?? `not written: ${err instanceof Error ? err.message : String(err)}` };
    }
    this.done(result);
  }

  /** The stream broke off inside this entry: the temporary file goes. */
  abandon(): void {
    try {
      closeSync(this.fd);
    } catch {
      // closed by end()
    }
    try {
      unlinkSync(this.dir.at(this.tmp));
    } catch {
      // gone
    }
  }
}

/**
 * Reads one fetched tar stream and writes the wanted regular files under `dirs`' root. The stream is read at most
 * to `wireCap` bytes; a broken archive stops the reading (what was complete stays written, the rest is refused).
 */
export async function applyTar(
  stream: AsyncIterable<Buffer>,
  unit: string,
  wanted: ReadonlyMap<string, ManifestEntry>,
  dirs: DirCache,
  budget: PullBudget,
  wireCap: number,
  out: ApplyOutcome,
): Promise<void> {
  let open: FileSink | null = null;
  const onEntry = (h: TarHeader): EntrySink | null => {
    const rel = entryRel(unit, h.name);
    if (rel === null || !wanted.has(rel) || out.written.has(rel)) return null;
    if (h.type !== 'file') {
      out.refused.set(rel, `came back as a ${h.type}, not a file`);
      return null;
    }
    if (h.size > budget.fileBytes) {
      out.refused.set(rel, `${h.size} bytes, above the ${budget.fileBytes}-byte file limit`);
      return null;
    }
    if (h.size > budget.remaining) {
      out.refused.set(rel, `${h.size} bytes, above what the host's disk may still take in this sync`);
      return null;
    }
    let at: { dir: Dir; name: string };
    try {
      at = dirs.locate(rel);
    } catch (err) {
      out.refused.set(rel, `its folder is not a folder on the host (${(err as NodeJS.ErrnoException).code})`);
      return null;
    }
    const tmp = hostTempName();
    let fd: number;
    try {
      fd = at.dir.openFile(
        tmp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
        (h.mode & 0o755) | 0o600,
      );
    } catch (err) {
      out.refused.set(rel, `could not be created on the host (${(err as NodeJS.ErrnoException).code})`);
      return null;
    }
    budget.remaining -= h.size;
    open = new FileSink(at.dir, at.name, tmp, fd, h.size, (r) => {
      open = null;
      if ('refused' in r) out.refused.set(rel, r.refused);
      else {
        out.refused.delete(rel);
        out.written.set(rel, r);
      }
    });
    return open;
  };
  async function* capped(): AsyncGenerator<Buffer> {
    let bytes = 0;
    for await (const chunk of stream) {
      bytes += chunk.length;
      if (bytes > wireCap) throw new Error(`the archive is larger than the ${wireCap} bytes expected`);
      yield chunk;
    }
  }
  try {
    await readTar(capped(), onEntry);
  } finally {
    (open as FileSink | null)?.abandon();
  }
}

/** Renames are atomic only within one folder; this is the one place a pulled file replaces a host entry. */
export function replaceWithSymlink(dir: Dir, name: string, target: string): void {
  const tmp = hostTempName();
  dir.symlink(target, tmp);
  try {
    renameSync(dir.at(tmp), dir.at(name));
  } catch (err) {
    unlinkSync(dir.at(tmp));
    throw err;
  }
}
