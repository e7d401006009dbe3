// Where exports live: `<dataDir>/exports/<name>/` holds the bundle alone; `exports/.manifests/<name>.json` records it
// (owner, requirements, smoke test). A name is reserved by creating its folder, the bundle is built in
// `exports/.staging/` and renamed into place, and the manifest is written last, so a listed export is always whole.
// It never overwrites an existing export and never deletes outside the exports folder.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { SandboxError } from '../errors.js';
import type { ExportInfo, Requirement } from './types.js';

export interface ExportManifest extends ExportInfo {
  owner: string;
  app_object: string;
  requirement_entries: Requirement[];
}

// Left-overs of an export that crashed half-way; younger ones may belong to an export still running elsewhere.
const STALE_MS = 60 * 60_000;

export class ExportStore {
  private readonly manifests: string;
  private readonly staging: string;

  constructor(readonly root: string) {
    this.manifests = join(root, '.manifests');
    this.staging = join(root, '.staging');
    mkdirSync(this.manifests, { recursive: true, mode: 0o700 });
    mkdirSync(this.staging, { recursive: true, mode: 0o700 });
    this.recover();
  }

  dir(name: string): string {
    return join(this.root, name);
  }

  /** Claims the name (its empty folder); invalid_argument when an export of that name exists. */
  reserve(name: string): void {
    try {
      mkdirSync(this.dir(name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new SandboxError(
          'invalid_argument',
          `an export named '${name}' already exists`,
          { export_name: name },
          'choose another export_name, or remove the old one with cleanup_web_app_export',
        );
      }
      throw err;
    }
  }

  exists(name: string): boolean {
    return existsSync(this.dir(name));
  }

  newStaging(name: string): string {
    return mkdtempSync(join(this.staging, `${name}-`));
  }

  /** Moves the bundle over its reserved (empty) folder, then records it. */
  commit(name: string, stagingDir: string, manifest: ExportManifest): void {
    renameSync(stagingDir, this.dir(name));
    const file = join(this.manifests, `${name}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(manifest, null, 2));
    renameSync(tmp, file);
  }

  abort(name: string, stagingDir: string | null): void {
    if (stagingDir) rmSync(stagingDir, { recursive: true, force: true });
    try {
      rmdirSync(this.dir(name)); // only the empty reservation; a committed bundle is never removed here
    } catch {
      // already gone, or not empty
    }
  }

  read(name: string): ExportManifest | null {
    try {
      return JSON.parse(readFileSync(join(this.manifests, `${name}.json`), 'utf8')) as ExportManifest;
    } catch {
      return null;
    }
  }

  list(): ExportManifest[] {
    const out: ExportManifest[] = [];
    for (const f of readdirSync(this.manifests)) {
      if (!f.endsWith('.json')) continue;
      const m = this.read(f.slice(0, -5));
      if (m) out.push(m);
    }
    return out.sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  /** Forgets the export first (it leaves the listing at once), then deletes its files. */
  remove(name: string): void {
    try {
      unlinkSync(join(this.manifests, `${name}.json`));
    } catch {
      // no manifest: only files to remove
    }
    rmSync(this.dir(name), { recursive: true, force: true });
  }

  private recover(): void {
    const now = Date.now();
    const old = (p: string) => {
      try {
        return now - statSync(p).mtimeMs > STALE_MS;
      } catch {
        return false;
      }
    };
    for (const e of readdirSync(this.staging)) {
      const p = join(this.staging, e);
      if (old(p)) rmSync(p, { recursive: true, force: true });
    }
    for (const e of readdirSync(this.root)) {
      if (e.startsWith('.')) continue;
      const p = join(this.root, e);
      if (!existsSync(join(this.manifests, `${e}.json`)) && old(p))
        rmSync(p, { recursive: true, force: true });
    }
  }
}
