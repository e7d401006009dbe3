// Tool JSON Schemas converted at build time (dist/src/server/tool-schemas.json), so the first tools/list after a
// start does not convert every zod schema; used only when the registry was built from the same settings.
import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import type { ToolDef } from './tool-def.js';

/** The JSON Schema dialect the MCP SDK asks zod for (its JSON_SCHEMA_CONVERSION_TARGET). */
export const SCHEMA_TARGET = 'draft-2020-12';
export const SNAPSHOT_FILE = new URL('./tool-schemas.json', import.meta.url);

type Json = Record<string, unknown>;
export interface ToolSchemas {
  input: Json;
  output: Json;
}
export interface SchemaSnapshot {
  /** The settings the tool factories read; another value means other schemas, so the snapshot is not used. */
  key: string;
  tools: Record<string, ToolSchemas>;
}

export function snapshotKey(config: Pick<Config, 'idleTtlS' | 'timeoutS' | 'maxBackups'>): string {
  return JSON.stringify([config.idleTtlS, config.timeoutS, config.maxBackups]);
}

/** Converts every tool's schemas exactly as the SDK does when it lists them. */
export function buildSnapshot(tools: readonly ToolDef[], key: string): SchemaSnapshot {
  const convert = (schema: ToolDef['inputSchema'], io: 'input' | 'output'): Json => {
    const std = schema['~standard'] as { jsonSchema: Record<typeof io, (o: { target: string }) => Json> };
    return std.jsonSchema[io]({ target: SCHEMA_TARGET });
  };
  const out: SchemaSnapshot = { key, tools: {} };
  for (const t of tools) {
    out.tools[t.name] = { input: convert(t.inputSchema, 'input'), output: convert(t.outputSchema, 'output') };
  }
  return out;
}

/** The build's schemas for these settings, or null (no file, unreadable, or built from other settings). */
export function loadSnapshot(
  key: string,
  file: URL | string = SNAPSHOT_FILE,
): SchemaSnapshot['tools'] | null {
  try {
    const snap = JSON.parse(readFileSync(file, 'utf8')) as SchemaSnapshot;
    return snap.key === key && snap.tools && typeof snap.tools === 'object' ? snap.tools : null;
  } catch {
    return null;
  }
}
