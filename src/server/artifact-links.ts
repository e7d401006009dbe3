// Artifacts as MCP content: a resource_link per created or changed file, so clients can fetch them.
import type { ContentBlock } from '@modelcontextprotocol/server';
import type { Artifact, ArtifactChanges } from '../artifacts/types.js';
import type { BoundedChanges } from '../sessions/execute-result.js';

export function artifactLink(a: Artifact): ContentBlock {
  return {
    type: 'resource_link',
    uri: a.uri,
    name: a.path,
    mimeType: a.mime,
    description: `${a.category}, ${a.size} bytes`,
  };
}

/** Links for what a call produced; capped so a call that writes thousands of files stays readable. */
export function changeLinks(changes: ArtifactChanges | null, max = 20): ContentBlock[] {
  if (!changes) return [];
  return [...changes.created, ...changes.changed].slice(0, max).map(artifactLink);
}

/** Text names at most this many paths per kind; structuredContent.artifacts holds the listed ones. */
const TEXT_PATHS = 5;

/** A short line: counts, the first few paths of each kind, and where the rest are when the list was cut. */
export function changesText(changes: BoundedChanges | null): string {
  if (!changes) return '';
  const parts: string[] = [];
  const kind = (label: string, count: number, paths: string[]) => {
    if (count === 0) return;
    const shown = paths.slice(0, TEXT_PATHS);
    const rest = count - shown.length;
    parts.push(`${label} ${count}: ${shown.join(', ')}${rest > 0 ? `, … ${rest} more` : ''}`);
  };
  kind(
    'created',
    changes.counts.created,
    changes.created.map((a) => a.path),
  );
  kind(
    'changed',
    changes.counts.changed,
    changes.changed.map((a) => a.path),
  );
  kind('deleted', changes.counts.deleted, changes.deleted);
  if (!parts.length) return '';
  return `[files] ${parts.join('; ')}` + (changes.more ? `\n[files] ${changes.more}` : '');
}
