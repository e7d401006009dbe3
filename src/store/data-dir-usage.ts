// What the data dir holds, by kind (database, workspaces, saved outputs, packages, backups, exports, caches, other
// instances), for `sandbox-mcp doctor`. Reads only; never follows a symlink (a workspace may hold any).
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const USAGE_KINDS = [
  'database',
  'workspaces',
  'saved_outputs',
  'packages',
  'backups',
  'exports',
  'caches',
  'instances',
  'other',
] as const;
export type UsageKind = (typeof USAGE_KINDS)[number];

export interface DataDirUsage {
  path: string;
  /** Bytes on disk (allocated blocks) per kind. */
  bytes: Record<UsageKind, number>;
  total_bytes: number;
}

/** Bytes on disk below `path` (the path itself included), not following symlinks; 0 when it is missing. */
function treeBytes(path: string): number {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return 0;
  }
  let bytes = st.blocks * 512;
  if (!st.isDirectory()) return bytes;
  let names: string[];
  try {
    names = readdirSync(path);
  } catch {
    return bytes;
  }
  for (const n of names) bytes += treeBytes(join(path, n));
  return bytes;
}

function list(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function kindOfTop(name: string): UsageKind {
  if (name.startsWith('sandbox.db')) return 'database';
  if (name === 'blobs' || name === 'trash') return 'backups';
  if (name === 'exports') return 'exports';
  if (name === 'cache') return 'caches';
  if (name === 'instances') return 'instances';
  return 'other';
}

export function dataDirUsage(dataDir: string): DataDirUsage {
  const bytes = Object.fromEntries(USAGE_KINDS.map((k) => [k, 0])) as Record<UsageKind, number>;
  for (const name of list(dataDir)) {
    const path = join(dataDir, name);
    if (name !== 'sessions') {
      bytes[kindOfTop(name)] += treeBytes(path);
      continue;
    }
    bytes.other += treeBytes(path) - sessionsBytes(path, bytes);
  }
  const total = Object.values(bytes).reduce((a, b) => a + b, 0);
  return { path: dataDir, bytes, total_bytes: total };
}

/** Adds each session's workspace, saved outputs and packages to `bytes`; returns what it added. */
function sessionsBytes(sessionsDir: string, bytes: Record<UsageKind, number>): number {
  let added = 0;
  const add = (kind: UsageKind, n: number) => {
    bytes[kind] += n;
    added += n;
  };
  for (const id of list(sessionsDir)) {
    const workspace = join(sessionsDir, id, 'workspace');
    const outputs = treeBytes(join(workspace, '.sandbox', 'outputs'));
    const venv = treeBytes(join(workspace, '.venv'));
    add('saved_outputs', outputs);
    add('packages', venv);
    add('workspaces', treeBytes(workspace) - outputs - venv);
  }
  return added;
}

/** One line per kind that holds anything, for the doctor's text report. */
export function formatDataDirUsage(u: DataDirUsage): string {
  const mib = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  const rows = USAGE_KINDS.filter((k) => u.bytes[k] > 0).map((k) => `  ${k.padEnd(14)} ${mib(u.bytes[k])}`);
  return [`Data dir ${u.path}: ${mib(u.total_bytes)}`, ...rows].join('\n');
}
