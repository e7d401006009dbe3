// The JSON Schema cache wrapper: conversion once, copies out, and validation kept or skipped on request.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { withCachedJsonSchema } from '../../src/server/schema-cache.js';
import { SCHEMA_TARGET } from '../../src/server/schema-snapshot.js';

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

  it('answers from a build-time conversion for the SDK target, and converts anything else', () => {
    const s = withCachedJsonSchema(Shape, { prebuilt: { input: { 'x-prebuilt': true } } });
    expect(s['~standard'].jsonSchema.input({ target: SCHEMA_TARGET })).toEqual({ 'x-prebuilt': true });
    expect(s['~standard'].jsonSchema.output({ target: SCHEMA_TARGET })).toMatchObject({ type: 'object' });
    expect(s['~standard'].jsonSchema.input({ target: 'draft-07' })).toMatchObject({ type: 'object' });
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
