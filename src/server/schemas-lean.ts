// Tool schemas as lean JSON Schema for tools/list: what zod writes, minus what says nothing (the default dialect,
// string keys, "any" values, the date-time regex beside its format), output objects open to new fields, and a
// shared shape that repeats inside one output schema written once under $defs. Output schemas, which clients compile
// to check results (SDK 1.x: every one at tools/list), say the same in fewer keywords: no descriptions (those are for
// inputs, which models read), a nullable shape as one type list instead of anyOf, no type beside an enum of strings.
// Input schemas stay inline (no $ref) and keep zod's forms: they go to models, and some function-calling stacks do
// not follow references or type lists.
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

/** Keywords whose value is a map from names to schemas: the names are data, never keywords. */
const SCHEMA_MAPS = new Set(['properties', '$defs', 'patternProperties']);

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
    if (k === 'description' && io === 'output' && typeof v === 'string') continue;
    out[k] = SCHEMA_MAPS.has(k) && isObject(v) ? mapValues(v, (s) => trim(s, io)) : trim(v, io);
  }
  return io === 'output' ? fewerKeywords(out) : out;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mapValues(map: Json, f: (v: unknown) => unknown): Json {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, f(v)]));
}

/** Keywords that would also apply to null, so a shape holding one cannot take null into its type list. */
const APPLIES_TO_NULL = ['enum', 'const', 'anyOf', 'oneOf', 'allOf', 'not', '$ref', 'if'];

/**
 * The same set of values in fewer keywords: anyOf [shape of one type, null] is that shape with null in its type
 * (its other keywords only constrain values of its type), and an enum of strings needs no type string beside it.
 */
function fewerKeywords(node: Json): Json {
  const alts = node['anyOf'];
  if (Array.isArray(alts) && alts.length === 2) {
    const [shape, nul] = alts as [unknown, unknown];
    if (
      isObject(shape) &&
      isObject(nul) &&
      nul['type'] === 'null' &&
      Object.keys(nul).length === 1 &&
      typeof shape['type'] === 'string' &&
      !APPLIES_TO_NULL.some((k) => k in shape) &&
      !Object.keys(shape).some((k) => k in node && k !== 'anyOf')
    ) {
      const { anyOf: _alts, ...rest } = node;
      return { ...shape, ...rest, type: [shape['type'], 'null'] };
    }
  }
  const values = node['enum'] ?? ('const' in node ? [node['const']] : undefined);
  if (node['type'] === 'string' && Array.isArray(values) && values.every((v) => typeof v === 'string')) {
    const { type: _type, ...rest } = node;
    return rest;
  }
  return node;
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
