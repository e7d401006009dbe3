// Compares two file lists (manifests or a scanned workspace) by path; pure, and never compares folders, which carry no content of their own.

export interface ComparableEntry {
  path: string;
  kind: 'file' | 'dir' | 'symlink';
  sha256: string | null;
  target: string | null;
  mode: number;
}

export interface Changes {
  added: string[];
  changed: string[];
  deleted: string[];
  unchanged: number;
}

export function sameEntry(a: ComparableEntry, b: ComparableEntry): boolean {
  return (
    a.kind === b.kind &&
    a.sha256 === b.sha256 &&
    a.target === b.target &&
    (a.mode & 0o777) === (b.mode & 0o777)
  );
}

/** What changed going from `before` to `after`. */
export function diffEntries(before: readonly ComparableEntry[], after: readonly ComparableEntry[]): Changes {
  const old = new Map(before.filter((e) => e.kind !== 'dir').map((e) => [e.path, e]));
  const added: string[] = [];
  const changed: string[] = [];
  let unchanged = 0;
  for (const e of after) {
    if (e.kind === 'dir') continue;
    const prev = old.get(e.path);
    if (prev === undefined) added.push(e.path);
    else if (sameEntry(prev, e)) unchanged++;
    else changed.push(e.path);
    old.delete(e.path);
  }
  const deleted = [...old.keys()];
  return { added: added.sort(), changed: changed.sort(), deleted: deleted.sort(), unchanged };
}
