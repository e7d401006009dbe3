// Artifacts as MCP content: a resource_link per created or changed file, so clients can fetch them.
import type { ContentBlock } from '@modelcontextprotocol/server';
import type { Artifact, ArtifactChanges } from '../artifacts/types.js';

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

export function changesText(changes: ArtifactChanges | null): string {
  if (!changes) return '';
  const parts: string[] = [];
  if (changes.created.length) parts.push(`created: ${changes.created.map((a) => a.path).join(', ')}`);
  if (changes.changed.length) parts.push(`changed: ${changes.changed.map((a) => a.path).join(', ')}`);
  if (changes.deleted.length) parts.push(`deleted: ${changes.deleted.join(', ')}`);
  return parts.length ? `[files] ${parts.join('; ')}` : '';
}
