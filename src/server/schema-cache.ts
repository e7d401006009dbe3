// Wraps a zod schema so its JSON Schema is converted once: the SDK converts on every tools/list and, with
// a server instance per HTTP request, on every call (~0.6 ms for a large output schema). Validation is unchanged
// unless the caller opts out of it (output schemas when checkOutput is off).
import type { z } from 'zod';
import { SCHEMA_TARGET, toolJsonSchema } from './schema-snapshot.js';

type Json = Record<string, unknown>;
type JsonSchemaFn = (options: { target: string }) => Json;

export function withCachedJsonSchema<S extends z.ZodType>(
  schema: S,
  opts: {
    validate?: boolean;
    /** Conversions done at build time (schema-snapshot.ts) for the SDK's target; the rest convert on first use. */
    prebuilt?: { input?: Json | undefined; output?: Json | undefined };
  } = {},
): S {
  const std = schema['~standard'] as S['~standard'] & {
    jsonSchema?: { input: JsonSchemaFn; output: JsonSchemaFn };
  };
  const original = std.jsonSchema;
  if (!original) return schema;
  const memo = new Map<string, Json>();
  for (const io of ['input', 'output'] as const) {
    const done = opts.prebuilt?.[io];
    if (done) memo.set(`${io}:${SCHEMA_TARGET}`, done);
  }
  const cached =
    (io: 'input' | 'output'): JsonSchemaFn =>
    (options) => {
      const key = `${io}:${options.target}`;
      let hit = memo.get(key);
      if (!hit) {
        // The SDK's target gets the lean form tools/list sends (schemas-lean.ts); any other, zod's own.
        hit = options.target === SCHEMA_TARGET ? toolJsonSchema(schema as never, io) : original[io](options);
        memo.set(key, hit);
      }
      // A copy, so a caller that adds keys cannot change what the next caller gets.
      return structuredClone(hit);
    };
  const standard = {
    ...std,
    jsonSchema: { input: cached('input'), output: cached('output') },
    // Skipping leaves the value as it is: the SDK then sends exactly what the handler returned.
    ...(opts.validate === false ? { validate: (value: unknown) => ({ value }) } : {}),
  };
  return new Proxy(schema, {
    get: (target, prop, receiver) => (prop === '~standard' ? standard : Reflect.get(target, prop, receiver)),
  });
}
