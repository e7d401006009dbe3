// Tool schemas as lean JSON Schema for tools/list: what zod writes, minus what says nothing (the default dialect,
// string keys, "any" values, the date-time regex beside its format), output objects open to new fields, and a
// shared shape that repeats inside one output schema written once under $defs. Input schemas stay inline (no $ref):
// they go to models, and some function-calling stacks do not follow references.
import type { z } from 'zod';

type Json = Record<string, unknown>;
export type SchemaIo = 'input' | 'output';

/** The JSON Schema dialect the MCP SDK asks zod for (its JSON_SCHEMA_CONVERSION_TARGET); MCP's default too. */
export const SCHEMA_TARGET = 'draft-2020-12';

type JsonSchemaFn = (options: { target: string }) => Json;

function zodJsonSchema(schema: z.ZodType, io: SchemaIo): Json {
  const std = schema['~standard'] as unknown as { jsonSchema: Record<SchemaIo, JsonSchemaFn> };
  return std.jsonSchema[io]({ target: SCHEMA_TARGET });
}

function isEmptyObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}

/** Drops what carries no information (or, for outputs, only refuses a newer server's extra field). */
function trim(node: unknown, io: SchemaIo): unknown {
  if (Array.isArray(node)) return node.map((n) => trim(n, io));
  if (typeof node !== 'object' || node === null) return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) {
    if (k === '$schema') continue; // MCP's default dialect is 2020-12
    if (k === 'propertyNames' && (v as Json)['type'] === 'string' && Object.keys(v as Json).length === 1)
      continue; // JSON object keys are strings
    if (k === 'additionalProperties' && (isEmptyObject(v) || (io === 'output' && v === false))) continue;
    if (k === 'pattern' && (node as Json)['format'] === 'date-time') continue; // the format says it
    out[k] = trim(v, io);
  }
  return out;
}

/** Shapes several tools share, by name: where one occurs twice or more in an output schema, it becomes a $ref. */
const shared = new Map<string, z.ZodType>();

export function shareAs<S extends z.ZodType>(name: string, schema: S): S {
  shared.set(name, schema);
  return schema;
}

let sharedJson: Array<[name: string, text: string, json: Json]> | undefined;

function sharedDefs(): Array<[string, string, Json]> {
  sharedJson ??= [...shared].map(([name, s]) => {
    const json = trim(zodJsonSchema(s, 'output'), 'output') as Json;
    return [name, JSON.stringify(json), json];
  });
  return sharedJson;
}

function countMatches(node: unknown, text: string): number {
  if (typeof node !== 'object' || node === null) return 0;
  if (JSON.stringify(node) === text) return 1;
  let n = 0;
  for (const v of Object.values(node as Json)) n += countMatches(v, text);
  return n;
}

function replaceMatches(node: unknown, text: string, ref: Json): unknown {
  if (typeof node !== 'object' || node === null) return node;
  if (JSON.stringify(node) === text) return ref;
  if (Array.isArray(node)) return node.map((n) => replaceMatches(n, text, ref));
  return Object.fromEntries(Object.entries(node as Json).map(([k, v]) => [k, replaceMatches(v, text, ref)]));
}

/** A tool schema's JSON Schema as tools/list sends it (inputs as input, outputs as output). */
export function leanJsonSchema(schema: z.ZodType, io: SchemaIo): Json {
  let json = trim(zodJsonSchema(schema, io), io) as Json;
  if (io === 'input') return json;
  const defs: Json = {};
  for (const [name, text, def] of sharedDefs()) {
    if (countMatches(json, text) < 2) continue;
    json = replaceMatches(json, text, { $ref: `#/$defs/${name}` }) as Json;
    defs[name] = def;
  }
  return Object.keys(defs).length ? { ...json, $defs: defs } : json;
}
