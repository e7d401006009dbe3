// Keeps a box's volume workspace and the host workspace (the source of truth: backups, rollback, artifacts and the
// file tools work on it) in step through the Engine API: before a call that runs code, what changed on the host goes
// in (putArchive, deletions too); after it, what changed in the box comes back (its listing, sent with the call's
// completion or else read through exec, against the last one; only changed files, through getArchive), checked as
// hostile and written through src/fsafe.
import { randomUUID } from 'node:crypto';
import { closeSync, readSync, statfsSync } from 'node:fs';
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { SandboxError } from '../../errors.js';
import { Dir, workspaceOwner } from '../../fsafe/dir.js';
import { DirCache, openRegularIn } from '../../fsafe/files.js';
import { removeEntry } from '../../fsafe/remove.js';
import { BOX_WORKSPACE } from '../bwrap-argv.js';
import type { AgentFinal, AgentRequest } from '../protocol.js';
import type { Engine } from './engine.js';
import {
  entryAt,
  hostManifest,
  linkStaysInside,
  parseBoxManifest,
  signature,
  type Manifest,
  type ManifestEntry,
} from './workspace-manifest.js';
import { applyTar, replaceWithSymlink, type ApplyOutcome, type PullBudget } from './workspace-sync-apply.js';
import { packTar, type PackEntry } from './workspace-tar.js';
import { runBoxManifest } from './workspace-volume.js';

/** The requests that can run code in the box: the workspace is synced around them. */
const RUNS_CODE = new Set(['execute', 'shell', 'app_start', 'app_probe']);
/** Free space a pull always leaves on the host's disk. */
const HOST_RESERVE_BYTES = 256 * 1024 * 1024;
/** A folder with more changed files than this comes back as one archive, not file by file. */
const PER_FILE_MAX = 16;
const READ_CHUNK = 1024 * 1024;
/**
 * After the box gave no listing with a completion (its walk passed its caps), the listing is asked for again once one
 * read through exec has fewer entries than this and took less time than ASK_AGAIN_WITHIN_MS: a workspace that large,
 * or that slow to walk (the completion's walk stops at its time cap), is not walked twice per call.
 */
const ASK_AGAIN_BELOW = 100_000;
const ASK_AGAIN_WITHIN_MS = 1000;

interface Synced {
  /** The entry's signature on each side at the last sync; null: absent there (or kept out of the host). */
  box: string | null;
  host: string | null;
}

/** What one pull did. */
export interface SyncReport {
  pulled: number;
  deletedOnHost: number;
  /** Box entries the host did not take, with why. */
  refused: Record<string, string>;
}

type Sent = { id: string; done: Promise<AgentFinal> };

/** The paths none of whose ancestors is in the list (removing those removes the rest), sorted. */
export function topmost(paths: readonly string[]): string[] {
  const kept = new Set<string>();
  const out: string[] = [];
  for (const p of [...paths].sort()) {
    let under = false;
    for (let cut = p.indexOf('/'); cut > 0 && !under; cut = p.indexOf('/', cut + 1))
      under = kept.has(p.slice(0, cut));
    if (!under && !kept.has(p)) {
      kept.add(p);
      out.push(p);
    }
  }
  return out;
}

/** One getArchive of a pull: a changed file, or a top-level folder holding many; wireCap bounds what it may send. */
export interface FetchUnit {
  unit: string;
  wireCap: number;
  /** The changed files it brings. */
  rels: string[];
}

/**
 * How changed files come back: one unit per top-level folder holding more than PER_FILE_MAX of them, else one per
 * file; each with the most its archive may take on the wire (the box's sizes under it, plus headers and slack).
 */
export function fetchUnits(files: ReadonlyMap<string, ManifestEntry>, box: Manifest): FetchUnit[] {
  const byFolder = new Map<string, string[]>();
  for (const rel of files.keys()) {
    const cut = rel.indexOf('/');
    const top = cut < 0 ? '' : rel.slice(0, cut);
    const rels = byFolder.get(top);
    if (rels) rels.push(rel);
    else byFolder.set(top, [rel]);
  }
  // the box's bytes and entries under each folder fetched whole, in one pass over its manifest
  const folders = new Map<string, { size: number; count: number }>();
  for (const [top, rels] of byFolder)
    if (top !== '' && rels.length > PER_FILE_MAX) folders.set(top, { size: 0, count: 0 });
  if (folders.size > 0) {
    for (const [rel, e] of box) {
      const cut = rel.indexOf('/');
      const sum = folders.get(cut < 0 ? rel : rel.slice(0, cut));
      if (sum) {
        sum.size += e.size;
        sum.count++;
      }
    }
  }
  const cap = (size: number, count: number) => size + (count + 4) * 2048 + 1024 * 1024;
  const units: FetchUnit[] = [];
  for (const [top, rels] of byFolder) {
    const sum = folders.get(top);
    if (sum) units.push({ unit: top, wireCap: cap(sum.size, sum.count), rels });
    else
      for (const rel of rels)
        units.push({ unit: rel, wireCap: cap(box.get(rel)?.size ?? 0, 1), rels: [rel] });
  }
  return units;
}

/** What one pull may write: the free space of the workspace's disk less a reserve (nothing when unknown). */
function hostRoom(workspace: string): number {
  try {
    const st = statfsSync(workspace);
    return Math.max(0, st.bavail * st.bsize - HOST_RESERVE_BYTES);
  } catch {
    return 0;
  }
}

/** Exactly `size` bytes of an open file: what it holds, cut if it grew, zeros after its end if it shrank. */
function* readExactly(fd: number, size: number): Generator<Buffer> {
  let sent = 0;
  const buf = Buffer.alloc(Math.min(READ_CHUNK, Math.max(1, size)));
  while (sent < size) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, size - sent), null);
    if (n === 0) break;
    sent += n;
    yield Buffer.from(buf.subarray(0, n));
  }
  if (sent < size) yield Buffer.alloc(size - sent);
}

export class WorkspaceSync {
  private readonly base = new Map<string, Synced>();
  private chain: Promise<unknown> = Promise.resolve();
  private container: Dockerode.Container | null = null;
  /** Placeholder ids handed out before the call was sent → the call's own id (or a queued interrupt). */
  private readonly ids = new Map<string, string | 'interrupt'>();
  /** Whether an `execute` asks for the listing with its completion (off after a null answer, see ASK_AGAIN_BELOW). */
  private askListing = true;

  constructor(
    private readonly engine: Engine,
    private readonly workspace: string,
    private readonly owner: { uid: number; gid: number },
    private readonly fileBytes: number,
    private readonly log: (msg: string, extra: Record<string, unknown>) => void = () => undefined,
    /** Where the folder is in the box (the workspace; the matplotlib cache is only seeded). */
    private readonly boxPath: string = BOX_WORKSPACE,
  ) {}

  /** Before the box starts: the whole host workspace goes into its (empty) volume. */
  async seed(container: Dockerode.Container): Promise<void> {
    this.container = container;
    await this.serial(() => this.pushNow());
  }

  /** Whether a request runs code (and so is synced around). */
  static runsCode(req: AgentRequest): boolean {
    return RUNS_CODE.has((req as { op: string }).op);
  }

  /**
   * Sends `req` after pushing the host's changes, and pulls the box's changes before its final answer is given. An
   * `execute` asks for the workspace listing with its completion (the kernel walks in its own process), which the pull
   * takes (and the final loses); other requests (the agent's single loop serves every shell and app, so it never
   * walks), a final without one (a kernel that died, an interrupt's answer) and a null one are pulled with the listing
   * read through exec.
   * The id answered is a stand-in until the call is sent; interruptTarget() maps it.
   */
  around(req: AgentRequest, send: (req: AgentRequest) => Sent, interrupt: (target: string) => void): Sent {
    const id = randomUUID();
    this.ids.set(id, id);
    const done = (async () => {
      try {
        await this.serial(() => this.pushNow()).catch((err: unknown) => {
          throw new SandboxError(
            'internal',
            `the workspace could not be copied into the Docker box: ${err instanceof Error ? err.message : String(err)}`,
          );
        });
        const queued = this.ids.get(id) === 'interrupt';
        const ask = this.askListing && (req as { op: string }).op === 'execute';
        const sent = send((ask ? { ...req, list_workspace: true } : req) as AgentRequest);
        this.ids.set(id, sent.id);
        if (queued) interrupt(sent.id);
        const final = await sent.done;
        const listing = ask ? final.workspace_listing : undefined;
        delete final.workspace_listing;
        if (listing === null) this.askListing = false;
        await this.pull(typeof listing === 'string' ? listing : undefined).catch((err: unknown) =>
          this.log('workspace not copied back from the box', { err: String(err) }),
        );
        return final;
      } finally {
        this.ids.delete(id);
      }
    })();
    return { id, done };
  }

  /** An interrupt's target as the channel knows it; null when its call is not sent yet (it is sent once it is). */
  interruptTarget(target: string): string | null {
    const real = this.ids.get(target);
    if (real === undefined) return target;
    if (real === target || real === 'interrupt') {
      this.ids.set(target, 'interrupt');
      return null;
    }
    return real;
  }

  /**
   * What changed in the box since the last sync comes to the host (serialised with every other sync), by `listing`
   * (the box's own, sent with a completion) or else by the listing read through exec. A bad listing refuses the pull.
   */
  pull(listing?: string): Promise<SyncReport> {
    return this.serial(() => this.pullNow(listing));
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task, task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** What changed on one side since the last sync: entries new or different there, and entries gone from it. */
  private changesOn(side: keyof Synced, now: Manifest): { changed: string[]; removed: string[] } {
    const changed: string[] = [];
    for (const [rel, e] of now) if (this.base.get(rel)?.[side] !== signature(e)) changed.push(rel);
    const removed: string[] = [];
    for (const [rel, s] of this.base) if (s[side] !== null && !now.has(rel)) removed.push(rel);
    return { changed, removed };
  }

  private async boxManifest(listing: string | undefined): Promise<Manifest> {
    if (listing !== undefined) return parseBoxManifest(listing);
    if (!this.container) throw new Error('no container');
    const started = performance.now();
    const read = parseBoxManifest(await runBoxManifest(this.container, this.engine, []));
    if (read.size < ASK_AGAIN_BELOW && performance.now() - started < ASK_AGAIN_WITHIN_MS)
      this.askListing = true;
    return read;
  }

  /**
   * Sends what changed on the host. The box's copy of a sent entry gets the host's size, kind and exact mtime (PAX),
   * so its signature there is known without asking; a box whose filesystem keeps coarser times shows it as changed
   * once, and it comes back unchanged. Deletions are done, and only then, by the in-box script.
   */
  private async pushNow(): Promise<void> {
    const host = hostManifest(this.workspace);
    const { changed: send, removed: gone } = this.changesOn('host', host);
    if (send.length === 0 && gone.length === 0) return;
    const sent = new Map<string, ManifestEntry>();
    if (send.length > 0 && this.container) {
      await this.container.putArchive(Readable.from(packTar(this.packEntries(send, host, sent))), {
        path: this.boxPath,
      });
    }
    for (const chunk of argChunks(topmost(gone))) {
      if (this.container) await runBoxManifest(this.container, this.engine, chunk, false);
    }
    for (const rel of gone) this.base.delete(rel);
    for (const rel of send) {
      const e = sent.get(rel);
      this.base.set(rel, { host: signature(host.get(rel) as ManifestEntry), box: e ? signature(e) : null });
    }
  }

  /** The tar entries of the host entries named, read through descriptors; a file that changed meanwhile is cut or padded. */
  private async *packEntries(
    rels: string[],
    host: Manifest,
    sentEntries: Map<string, ManifestEntry>,
  ): AsyncGenerator<PackEntry> {
    const { uid, gid } = this.owner;
    const root = Dir.openPath(this.workspace);
    const dirs = new DirCache(root);
    try {
      for (const rel of rels) {
        const e = host.get(rel) as ManifestEntry;
        const mtimeNs = e.mtimeNs;
        if (e.kind === 'd') {
          yield { name: rel, type: 'dir', mode: 0o755, mtimeNs, uid, gid };
          sentEntries.set(rel, e);
        } else if (e.kind === 'l') {
          yield { name: rel, type: 'symlink', mode: 0o777, mtimeNs, uid, gid, linkname: e.target ?? '' };
          sentEntries.set(rel, e);
        } else if (e.kind === 'f') {
          let opened: ReturnType<typeof openRegularIn>;
          try {
            const at = dirs.locate(rel);
            opened = openRegularIn(at.dir, at.name);
          } catch {
            continue; // gone or swapped since the scan: the next sync sees it
          }
          if (opened === 'not_regular') continue;
          const size = Number(opened.stat.size);
          try {
            // no setuid, setgid or sticky bit goes in
            const mode = Number(opened.stat.mode) & 0o777;
            yield {
              name: rel,
              type: 'file',
              mode,
              size,
              mtimeNs,
              uid,
              gid,
              data: readExactly(opened.fd, size),
            };
            sentEntries.set(rel, { kind: 'f', size, mtimeNs });
          } finally {
            closeSync(opened.fd);
          }
        }
      }
    } finally {
      dirs.close();
      root.close();
    }
  }

  private async pullNow(listing: string | undefined): Promise<SyncReport> {
    const box = await this.boxManifest(listing);
    const report: SyncReport = { pulled: 0, deletedOnHost: 0, refused: {} };
    const { changed, removed } = this.changesOn('box', box);
    if (changed.length === 0 && removed.length === 0) return report;
    const root = Dir.openPath(this.workspace, workspaceOwner());
    const dirs = new DirCache(root);
    try {
      // Removed in the box: gone from the host too, unless the host changed it since (then the host's goes back in).
      for (const rel of removed.sort().reverse()) {
        const s = this.base.get(rel) as Synced;
        const now = this.hostEntry(dirs, rel);
        if (now && signature(now) !== s.host) {
          s.box = null;
          continue;
        }
        if (now) {
          // children come first (deepest paths first): a folder that still holds what the host added stays
          if (now.kind === 'd') dirs.close(); // no cached descriptor may outlive a folder it removes
          const at = dirs.locate(rel);
          try {
            if (now.kind === 'd') at.dir.rmdir(at.name);
            else at.dir.unlink(at.name);
            report.deletedOnHost++;
          } catch {
            // not empty, or gone meanwhile: the next push sends what the host still has
          }
        }
        this.base.delete(rel);
      }
      const files = new Map<string, ManifestEntry>();
      for (const rel of changed) {
        const e = box.get(rel) as ManifestEntry;
        const sig = signature(e);
        const refuse = (why: string) => {
          report.refused[rel] = why;
          const s = this.base.get(rel);
          this.base.set(rel, { box: sig, host: s?.host ?? null });
        };
        let at: { dir: Dir; name: string };
        try {
          at = dirs.locate(rel);
        } catch {
          refuse('its folder is not a folder on the host');
          continue;
        }
        const now = entryAt(at.dir, at.name);
        const synced = this.base.get(rel);
        if (now && !(now.kind === 'd' && e.kind === 'd') && signature(now) !== synced?.host) {
          // changed on the host too since the last sync: the host's stays, and goes into the box next time
          this.base.set(rel, { box: sig, host: synced?.host ?? null });
          report.refused[rel] = 'changed on the host too; the host keeps its own';
          continue;
        }
        // An entry of another kind is in the way: it goes (a folder the box replaced by a file, and so on).
        const kindNow = now?.kind ?? null;
        const staysInside = e.kind !== 'l' || linkStaysInside(rel, e.target ?? '');
        if ((now && (kindNow === 'd') !== (e.kind === 'd')) || (now && (!staysInside || e.kind === 'o'))) {
          dirs.close();
          const again = dirs.locate(rel);
          await removeEntry(again.dir, again.name).catch(() => undefined);
        }
        if (e.kind === 'o') {
          refuse('not a file, folder or link');
        } else if (e.kind === 'l' && !staysInside) {
          refuse(`a link that points out of the workspace (${e.target ?? ''})`);
        } else if (e.kind === 'd') {
          const d = dirs.locate(rel);
          if (!d.dir.lstat(d.name)) d.dir.mkdir(d.name);
          this.base.set(rel, { box: sig, host: 'd:0:0:' });
        } else if (e.kind === 'l') {
          const d = dirs.locate(rel);
          try {
            replaceWithSymlink(d.dir, d.name, e.target ?? '');
            const h = this.hostEntry(dirs, rel);
            this.base.set(rel, { box: sig, host: h ? signature(h) : null });
            report.pulled++;
          } catch (err) {
            refuse(`could not be made on the host (${(err as NodeJS.ErrnoException).code})`);
          }
        } else files.set(rel, e);
      }
      if (files.size > 0) await this.fetchFiles(files, box, dirs, report);
    } finally {
      dirs.close();
      root.close();
    }
    if (Object.keys(report.refused).length > 0)
      this.log('workspace entries of the box not copied to the host', { refused: report.refused });
    return report;
  }

  /** Changed files come back: one archive per folder holding many of them, else one per file. */
  private async fetchFiles(
    files: Map<string, ManifestEntry>,
    box: Manifest,
    dirs: DirCache,
    report: SyncReport,
  ): Promise<void> {
    const budget: PullBudget = { fileBytes: this.fileBytes, remaining: hostRoom(this.workspace) };
    const out: ApplyOutcome = { written: new Map(), refused: new Map() };
    const retry = new Set<string>(); // entries a broken archive left out: asked for again on the next pull
    for (const { unit, wireCap, rels } of fetchUnits(files, box)) {
      if (!this.container) break;
      try {
        const stream = (await this.container.getArchive({
          path: `${BOX_WORKSPACE}/${unit}`,
        })) as AsyncIterable<Buffer> & NodeJS.ReadableStream & { destroy(): void };
        try {
          await applyTar(stream, unit, files, dirs, budget, wireCap, out);
        } finally {
          stream.destroy();
        }
      } catch (err) {
        for (const rel of rels) {
          if (!out.written.has(rel) && !out.refused.has(rel)) {
            out.refused.set(
              rel,
              `the archive broke off: ${err instanceof Error ? err.message : String(err)}`,
            );
            retry.add(rel);
          }
        }
      }
    }
    for (const [rel, e] of files) {
      const prev = this.base.get(rel);
      const w = out.written.get(rel);
      if (w) {
        this.base.set(rel, { box: signature(e), host: signature({ kind: 'f', ...w }) });
        report.pulled++;
      } else {
        const why = out.refused.get(rel);
        report.refused[rel] = why ?? 'not in the archive the box gave';
        // a refusal stands until the box changes the file again; a broken or short archive is asked for again
        const again = why === undefined || retry.has(rel);
        this.base.set(rel, { box: again ? (prev?.box ?? null) : signature(e), host: prev?.host ?? null });
      }
    }
  }

  /** The host's entry at rel now (lstat through descriptors), or null. */
  private hostEntry(dirs: DirCache, rel: string): ManifestEntry | null {
    let at: { dir: Dir; name: string };
    try {
      at = dirs.locate(rel);
    } catch {
      return null;
    }
    return entryAt(at.dir, at.name);
  }
}

/** Deletion lists small enough for one argument each (Linux refuses one over 128 KiB with E2BIG). */
export function argChunks(rels: readonly string[], maxBytes = 64 * 1024): string[][] {
  const chunks: string[][] = [];
  let chunk: string[] = [];
  let bytes = 2;
  for (const rel of rels) {
    const size = Buffer.byteLength(JSON.stringify(rel)) + 1;
    if (chunk.length > 0 && bytes + size > maxBytes) {
      chunks.push(chunk);
      chunk = [];
      bytes = 2;
    }
    chunk.push(rel);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
