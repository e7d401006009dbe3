// The JSON Schema cache wrapper: conversion once, copies out, and validation kept or skipped on request.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { withCachedJsonSchema } from '../../src/server/schema-cache.js';

const Shape = z.object({ n: z.number() });

describe('withCachedJsonSchema', () => {
  it('converts once and hands out copies', () => {
    const s = withCachedJsonSchema(Shape);
    const a = s['~standard'].jsonSchema.input({ target: 'draft-2020-12' });
    a['x-added'] = true;
    const b = s['~standard'].jsonSchema.input({ target: 'draft-2020-12' });
    expect(b).not.toHaveProperty('x-added');
    expect(b).toMatchObject({ type: 'object', properties: { n: { type: 'number' } } });
  });

  it('validates by default and skips only when asked', async () => {
    const checked = withCachedJsonSchema(Shape);
    const bad = await checked['~standard'].validate({ n: 'no' });
    expect('issues' in bad && bad.issues?.length).toBeTruthy();
    const unchecked = withCachedJsonSchema(Shape, { validate: false });
    expect(await unchecked['~standard'].validate({ n: 'no' })).toEqual({ value: { n: 'no' } });
    // Still a zod schema for everything else.
    expect(unchecked.safeParse({ n: 1 }).success).toBe(true);
  });
});
