// Lean output schemas: fewer keywords for clients to compile, and the same verdict as zod's own rendering on results.
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../src/config.js';
import { allTools } from '../../src/server/registry.js';
import { leanJsonSchema } from '../../src/server/schemas-lean.js';

type Json = Record<string, unknown>;
const tools = allTools(loadConfig({ dataDir: '/nonexistent' }, {}));
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every schema node of a JSON Schema (property names are not nodes: `properties` maps names to nodes). */
function nodes(schema: unknown, out: Json[] = []): Json[] {
  if (Array.isArray(schema)) for (const s of schema) nodes(s, out);
  if (!isObj(schema)) return out;
  out.push(schema);
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'properties' || k === '$defs') for (const s of Object.values(v as Json)) nodes(s, out);
    else if (k !== 'enum' && k !== 'const' && k !== 'required') nodes(v, out);
  }
  return out;
}

/** A value the schema accepts: required fields filled, first alternatives, first enum values. */
function sample(s: Json, root: Json): unknown {
  if (typeof s['$ref'] === 'string')
    return sample((root['$defs'] as Json)[s['$ref'].split('/').pop()!] as Json, root);
  if (Array.isArray(s['enum'])) return s['enum'][0];
  if ('const' in s) return s['const'];
  if (Array.isArray(s['anyOf'])) return sample(s['anyOf'][0] as Json, root);
  const type = Array.isArray(s['type']) ? s['type'][0] : s['type'];
  if (type === 'string') return 'x';
  if (type === 'number' || type === 'integer') return 1;
  if (type === 'boolean') return true;
  if (type === 'null') return null;
  if (type === 'array') return isObj(s['items']) ? [sample(s['items'], root)] : [];
  if (type === 'object') {
    const props = (s['properties'] ?? {}) as Json;
    return Object.fromEntries(Object.entries(props).map(([k, p]) => [k, sample(p as Json, root)]));
  }
  return {};
}

const CHANGES = ['delete', null, 'x', 7, false, [], {}] as const;

/** The value, and copies of it with one field at a time removed, nulled or given a value of another type. */
function mutations(value: unknown): unknown[] {
  const edits: Array<{ path: Array<string | number>; change: (typeof CHANGES)[number] }> = [];
  const collect = (v: unknown, path: Array<string | number>) => {
    if (Array.isArray(v)) v.forEach((item, i) => collect(item, [...path, i]));
    else if (isObj(v))
      for (const [k, item] of Object.entries(v)) {
        for (const change of CHANGES) edits.push({ path: [...path, k], change });
        collect(item, [...path, k]);
      }
  };
  collect(value, []);
  return [
    value,
    ...edits.map(({ path, change }) => {
      const copy = structuredClone(value) as Json;
      let parent = copy;
      for (const key of path.slice(0, -1)) parent = parent[key] as Json;
      const last = path[path.length - 1]!;
      if (change === 'delete') delete parent[last];
      else parent[last] = structuredClone(change);
      return copy;
    }),
  ];
}

describe('lean output schemas', () => {
  it('say each constraint once: no descriptions, no anyOf for a nullable shape, no type beside a string enum', () => {
    for (const t of tools) {
      for (const n of nodes(leanJsonSchema(t.outputSchema, 'output'))) {
        expect(n, `${t.name}: description in an output schema`).not.toHaveProperty('description');
        const alts = n['anyOf'];
        if (Array.isArray(alts))
          expect(
            alts.some((a) => isObj(a) && a['type'] === 'null' && Object.keys(a).length === 1) &&
              alts.some((a) => isObj(a) && typeof a['type'] === 'string' && !('enum' in a) && !('$ref' in a)),
            `${t.name}: anyOf [shape, null] where a type list says it`,
          ).toBe(false);
        if (Array.isArray(n['enum']) && n['enum'].every((v) => typeof v === 'string'))
          expect(n, `${t.name}: type beside a string enum`).not.toHaveProperty('type');
      }
    }
  });

  it('keep fields named like keywords ($schema, additionalProperties, description) in a shape', () => {
    const Shape = z.object({
      $schema: z.string(),
      additionalProperties: z.record(z.string(), z.unknown()),
      description: z.string().nullable(),
    });
    for (const io of ['input', 'output'] as const) {
      const props = leanJsonSchema(Shape, io)['properties'] as Json;
      expect(Object.keys(props), io).toEqual(['$schema', 'additionalProperties', 'description']);
    }
  });

  it('accept and refuse exactly what zod`s own rendering does, as the SDK 1.x client checks results', () => {
    const validator = new AjvJsonSchemaValidator();
    let compared = 0;
    for (const t of tools) {
      const lean = leanJsonSchema(t.outputSchema, 'output');
      const { $schema: _dialect, ...full } = z.toJSONSchema(t.outputSchema, { io: 'output' }) as Json;
      const checkLean = validator.getValidator(lean);
      const checkFull = validator.getValidator(full);
      const valid = sample(lean, lean);
      expect(checkFull(valid).valid, `${t.name}: sample ${JSON.stringify(valid)}`).toBe(true);
      for (const value of mutations(valid)) {
        expect(checkLean(value).valid, `${t.name}: ${JSON.stringify(value)}`).toBe(checkFull(value).valid);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });
});
