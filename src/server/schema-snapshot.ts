// Tool JSON Schemas converted at build time (dist/src/server/tool-schemas.json), so the first tools/list after a
// start does not convert every zod schema. Settings change tool descriptions, never schemas (a test holds that).
import { readFileSync } from 'node:fs';
import type { ToolDef } from './tool-def.js';
import { leanJsonSchema } from './schemas-lean.js';

export { SCHEMA_TARGET } from './schemas-lean.js';
// Resolved from dist/src/server/ (this module) and from dist/src/bin/ (the bundled command) alike.
export const SNAPSHOT_FILE = new URL('../server/tool-schemas.json', import.meta.url);

type Json = Record<string, unknown>;
export interface ToolSchemas {
  input: Json;
  output: Json;
}
export type SchemaSnapshot = Record<string, ToolSchemas>;

/** A tool schema's JSON Schema as tools/list sends it (inputs as input, outputs as output; see schemas-lean.ts). */
export function toolJsonSchema(schema: ToolDef['inputSchema'], io: 'input' | 'output'): Json {
  return leanJsonSchema(schema, io);
}

export function buildSnapshot(tools: readonly ToolDef[]): SchemaSnapshot {
  const out: SchemaSnapshot = {};
  for (const t of tools) {
    out[t.name] = {
      input: toolJsonSchema(t.inputSchema, 'input'),
      output: toolJsonSchema(t.outputSchema, 'output'),
    };
  }
  return out;
}

/** The build's schemas, or null (no file, or an unreadable one: every schema then converts on first use). */
export function loadSnapshot(file: URL | string = SNAPSHOT_FILE): SchemaSnapshot | null {
  try {
    const snap = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return snap && typeof snap === 'object' && !Array.isArray(snap) ? (snap as SchemaSnapshot) : null;
  } catch {
    return null;
  }
}
