// Reading backups: the list, one backup's details with its difference from the workspace, the difference between two,
// and verification of the stored content; nothing here changes the workspace or the store.
import type { BackupFileRow, BackupRow } from '../store/backups-repo.js';
import { Dir } from '../fsafe/dir.js';
import { DirCache } from '../fsafe/files.js';
import { getBackup, workspaceReal, type BackupContext } from './context.js';
import { diffEntries, type ComparableEntry } from './diff.js';
import { forEachLimit } from '../for-each-limit.js';
import { SkipFile, hashWorkspaceFile } from './read-file.js';
import { scanWorkspace } from './scan.js';
import type {
  BackupDetails,
  BackupSummary,
  CategoryDetails,
  CategoryTotal,
  DiffResult,
  ManifestItem,
  SkippedEntry,
  VerifyResult,
} from './types.js';

function parseJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

export async function listBackups(ctx: BackupContext, sessionId: string): Promise<BackupSummary[]> {
  return ctx.repo.listComplete(sessionId).map((b) => summaryOf(ctx, b));
}

function summaryOf(ctx: BackupContext, b: BackupRow): BackupSummary {
  return {
    name: b.name,
    created_at: b.created_at,
    reason: b.reason,
    file_count: b.file_count,
    total_size: b.total_size,
    unique_bytes: ctx.repo.uniqueBytes(b.id),
  };
}

export async function backupDetails(
  ctx: BackupContext,
  sessionId: string,
  name: string,
  workspace: string,
): Promise<BackupDetails> {
  const b = getBackup(ctx, sessionId, name);
  const rows = ctx.repo.files(b.id);
  const wsReal = workspaceReal(workspace);
  const current = await currentEntries(ctx, sessionId, wsReal, rows);
  const { added, changed, deleted } = diffEntries(rows, current);
  const categories: Record<string, CategoryDetails> = {};
  const folders: string[] = [];
  for (const r of rows) {
    if (r.kind === 'dir') {
      folders.push(r.path);
      continue;
    }
    const c = (categories[r.category ?? 'other'] ??= { files: 0, bytes: 0, items: [] });
    c.files++;
    c.bytes += r.kind === 'file' ? r.size : 0;
    c.items.push(itemOf(r));
  }
  const totals: Record<string, CategoryTotal> = {};
  for (const [category, c] of Object.entries(categories))
    totals[category] = { files: c.files, bytes: c.bytes };
  return {
    ...summaryOf(ctx, b),
    totals,
    categories,
    folders,
    skipped: parseJson<SkippedEntry[]>(b.skipped, []),
    diff_vs_workspace: { added, changed, deleted },
  };
}

function itemOf(r: BackupFileRow): ManifestItem {
  return {
    path: r.path,
    kind: r.kind === 'symlink' ? 'symlink' : 'file',
    size: r.size,
    mode: r.mode,
    sha256: r.sha256,
    target: r.target,
    mtime: new Date(r.mtime_ms).toISOString(),
  };
}

/** The workspace as comparable entries; unchanged files are recognised by their stat key, not re-read. */
async function currentEntries(
  ctx: BackupContext,
  sessionId: string,
  wsReal: string,
  known: readonly BackupFileRow[],
): Promise<ComparableEntry[]> {
  const dirs = new DirCache(Dir.openPath(wsReal));
  try {
    return await entriesFrom(ctx, sessionId, wsReal, dirs, known);
  } finally {
    dirs.close();
    dirs.root.close();
  }
}

async function entriesFrom(
  ctx: BackupContext,
  sessionId: string,
  wsReal: string,
  dirs: DirCache,
  known: readonly BackupFileRow[],
): Promise<ComparableEntry[]> {
  const scan = scanWorkspace(dirs.root, wsReal);
  const byKey = new Map<string, string>();
  for (const r of [...known, ...ctx.repo.statCache(sessionId)]) {
    if (r.stat_key !== null && r.sha256 !== null) byKey.set(`${r.path}\0${r.stat_key}`, r.sha256);
  }
  const out: ComparableEntry[] = [];
  await forEachLimit(scan.entries, ctx.concurrency, async (e) => {
    let sha: string | null = null;
    if (e.kind === 'file') {
      sha = byKey.get(`${e.rel}\0${e.statKey}`) ?? null;
      if (sha === null) {
        try {
          sha = (await ctx.scratch.with((buf) => hashWorkspaceFile(dirs, e.rel, buf))).sha256;
        } catch (err) {
          if (err instanceof SkipFile) return;
          throw err;
        }
      }
    }
    out.push({ path: e.rel, kind: e.kind, sha256: sha, target: e.target, mode: e.mode });
  });
  return out;
}

export async function diffBackups(
  ctx: BackupContext,
  sessionId: string,
  from: string,
  to: string,
): Promise<DiffResult> {
  const a = getBackup(ctx, sessionId, from);
  const b = getBackup(ctx, sessionId, to);
  const { added, changed, deleted } = diffEntries(ctx.repo.files(a.id), ctx.repo.files(b.id));
  return { from, to, added, changed, deleted };
}

export async function verifyBackup(
  ctx: BackupContext,
  sessionId: string,
  name: string,
): Promise<VerifyResult> {
  const b = getBackup(ctx, sessionId, name);
  const rows = ctx.repo.files(b.id).filter((r) => r.sha256 !== null);
  const status = new Map<string, string>();
  const shas = [...new Set(rows.map((r) => r.sha256 as string))];
  await forEachLimit(shas, ctx.concurrency, async (sha) => {
    status.set(sha, await ctx.scratch.with((buf) => ctx.blobs.check(sha, buf)));
  });
  const missing = rows.filter((r) => status.get(r.sha256 as string) === 'missing').map((r) => r.path);
  const corrupt = rows.filter((r) => status.get(r.sha256 as string) === 'corrupt').map((r) => r.path);
  return {
    name,
    ok: missing.length === 0 && corrupt.length === 0,
    checked_files: rows.length,
    checked_blobs: shas.length,
    missing,
    corrupt,
  };
}
