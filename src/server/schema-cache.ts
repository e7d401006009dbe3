// Wraps a zod schema so its JSON Schema is converted once: the SDK converts on every tools/list and, with
// a server instance per HTTP request, on every call (~0.6 ms for a large output schema). Validation is unchanged
// unless the caller opts out of it (output schemas when checkOutput is off).
import type { z } from 'zod';

type JsonSchemaFn = (options: { target: string }) => Record<string, unknown>;

export function withCachedJsonSchema<S extends z.ZodType>(
  schema: S,
  opts: { validate?: boolean; seed?: { key: string; schema: Record<string, unknown> } } = {},
): S {
  const std = schema['~standard'] as S['~standard'] & {
    jsonSchema?: { input: JsonSchemaFn; output: JsonSchemaFn };
  };
  const original = std.jsonSchema;
  if (!original) return schema;
  const memo = new Map<string, Record<string, unknown>>();
  // A conversion done ahead of time (schema-snapshot.ts), under the same `${io}:${target}` key.
  if (opts.seed) memo.set(opts.seed.key, opts.seed.schema);
  const cached =
    (io: 'input' | 'output'): JsonSchemaFn =>
    (options) => {
      const key = `${io}:${options.target}`;
      let hit = memo.get(key);
      if (!hit) {
        hit = original[io](options);
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
