// Test helpers for the backups service: temp data dirs, tree builders and path→content maps. Never used by src/.
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BackupService, type BackupServiceOptions } from '../../src/backups/service.js';
import type { CategorizeFn } from '../../src/backups/types.js';
import { openDb, type Db } from '../../src/store/db.js';

/** A stand-in for the artifacts categorizer: by extension, with a PNG magic-number check. */
export const testCategorize: CategorizeFn = (rel, head) => {
  if (head.length >= 4 && head[0] === 0x89 && head[1] === 0x50 && head[2] === 0x4e && head[3] === 0x47)
    return { category: 'images' };
  const ext = rel.slice(rel.lastIndexOf('.') + 1).toLowerCase();
  if (['py', 'js', 'sh'].includes(ext)) return { category: 'code' };
  if (['csv', 'json', 'bin'].includes(ext)) return { category: 'data' };
  if (['txt', 'md'].includes(ext)) return { category: 'documents' };
  return { category: 'other' };
};

export interface Env {
  base: string;
  dataDir: string;
  workspace: string;
  db: Db;
  service: BackupService;
  reopen(opts?: Partial<BackupServiceOptions>): BackupService;
  cleanup(): void;
}

export function makeEnv(opts: Partial<BackupServiceOptions> = {}): Env {
  const base = mkdtempSync(join(tmpdir(), 'sbx-backups-'));
  const dataDir = join(base, 'data');
  const workspace = join(dataDir, 'sessions', 's_test', 'workspace');
  mkdirSync(workspace, { recursive: true });
  const db = openDb(join(dataDir, 'sandbox.db'));
  const env: Env = {
    base,
    dataDir,
    workspace,
    db,
    service: new BackupService({ db, dataDir, categorize: testCategorize, ...opts }),
    reopen: (more = {}) => new BackupService({ db, dataDir, categorize: testCategorize, ...opts, ...more }),
    cleanup: () => {
      db.close();
      rmSync(base, { recursive: true, force: true });
    },
  };
  return env;
}

export type Spec = Record<
  string,
  string | Buffer | { mode: number; data: string | Buffer } | { link: string } | { dir: number }
>;

/** Writes files (string/Buffer), files with a mode, symlinks and folders with a mode, in that order of keys. */
export function writeTree(root: string, spec: Spec): void {
  const dirModes: Array<[string, number]> = [];
  for (const [rel, v] of Object.entries(spec)) {
    const abs = join(root, rel);
    mkdirSync(dirname(abs), { recursive: true });
    if (typeof v === 'string' || Buffer.isBuffer(v)) writeFileSync(abs, v);
    else if ('link' in v) symlinkSync(v.link, abs);
    else if ('dir' in v) {
      mkdirSync(abs, { recursive: true });
      dirModes.push([abs, v.dir]);
    } else {
      writeFileSync(abs, v.data);
      chmodSync(abs, v.mode);
    }
  }
  for (const [abs, mode] of dirModes.reverse()) chmodSync(abs, mode);
}

/** path → "kind:mode:sha256|target" for everything under root, skipping the given top-level or nested names. */
export function treeMap(
  root: string,
  skip: ReadonlySet<string> = new Set(['.venv', '__pycache__', '.cache']),
): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, prefix: string): void => {
    for (const name of readdirSync(dir).sort()) {
      if (skip.has(name)) continue;
      const abs = join(dir, name);
      const rel = prefix ? `${prefix}/${name}` : name;
      const st = lstatSync(abs);
      const mode = (st.mode & 0o777).toString(8);
      if (st.isSymbolicLink()) out[rel] = `link:${readlinkSync(abs)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir:${mode}`;
        walk(abs, rel);
      } else out[rel] = `file:${mode}:${createHash('sha256').update(readFileSync(abs)).digest('hex')}`;
    }
  };
  walk(root, '');
  return out;
}

export function randomFile(bytes: number): Buffer {
  return randomBytes(bytes);
}

export function duBytes(dir: string): number {
  let total = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const abs = join(d, e.name);
      if (e.isDirectory()) walk(abs);
      else if (e.isFile()) total += lstatSync(abs).size;
    }
  };
  walk(dir);
  return total;
}
