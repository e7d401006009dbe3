// Opaque page cursors for long lists (list_artifacts, resources/list): where the previous page stopped, as base64url
// JSON. A cursor this server did not hand out is refused as invalid_argument, never guessed at.
import { SandboxError } from '../errors.js';

export type CursorState = Record<string, string>;

export function encodeCursor(state: CursorState): string {
  return Buffer.from(JSON.stringify(state), 'utf8').toString('base64url');
}

/** The state inside a cursor, with exactly the given string fields; anything else is invalid_argument. */
export function decodeCursor<K extends string>(cursor: string, fields: readonly K[]): Record<K, string> {
  let state: unknown;
  try {
    state = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    state = null;
  }
  const ok =
    typeof state === 'object' &&
    state !== null &&
    !Array.isArray(state) &&
    fields.every((f) => typeof (state as Record<string, unknown>)[f] === 'string');
  if (!ok) {
    throw new SandboxError(
      'invalid_argument',
      'cursor is not one this server handed out',
      { cursor: cursor.slice(0, 100) },
      'Pass next_cursor (nextCursor) from the previous page unchanged, or omit it to start from the first page.',
    );
  }
  return state as Record<K, string>;
}
