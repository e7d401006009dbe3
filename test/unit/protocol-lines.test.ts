// Line framing and message checks shared by the stdio wire and the box channels: the cap on one line, the id of a
// dropped message, and the schema that refuses a malformed box line.
import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/line-splitter.js';
import { idOfDropped } from '../../src/server/stdio-wire.js';
import { AgentLineSchema, LaneMessageSchema, parseBoxLine } from '../../src/sandbox/protocol-schema.js';

function split(max: number, chunks: Array<string | Buffer>) {
  const events: string[] = [];
  const s = new LineSplitter(max, {
    line: (t) => events.push(`line:${t}`),
    overflow: () => events.push('overflow'),
    dropped: (bytes, head, tail) => events.push(`dropped:${bytes}:${head.slice(0, 3)}:${tail.slice(-3)}`),
  });
  for (const c of chunks) s.push(c);
  return events;
}

describe('LineSplitter', () => {
  it('joins lines across chunks and splits several in one', () => {
    expect(split(100, ['ab', 'c\nde', '\n\nf'])).toEqual(['line:abc', 'line:de', 'line:']);
  });

  it('keeps multi-byte characters split between chunks whole', () => {
    const euro = Buffer.from('€\n');
    expect(split(100, [euro.subarray(0, 1), euro.subarray(1)])).toEqual(['line:€']);
  });

  it('reports a line over the cap at once, drops the rest of it and goes on', () => {
    const events = split(10, ['0123456', '789abc', 'def']);
    expect(events).toEqual(['overflow']);
    const more = split(10, ['abc0123456789xyz\nok\n']);
    expect(more).toEqual(['overflow', 'dropped:16:abc:xyz', 'line:ok']);
  });

  it('a line of exactly the cap passes', () => {
    expect(split(4, ['ab', 'cd\n'])).toEqual(['line:abcd']);
  });
});

describe('idOfDropped', () => {
  it('finds the id written first or last at the top level', () => {
    expect(idOfDropped('{"jsonrpc":"2.0","id":7,"method":"x","params":{"a":"', '')).toBe(7);
    expect(idOfDropped('{"method":"x","params":{"a":"', 'aaa"}},"jsonrpc":"2.0","id":"r-1"}')).toBe('r-1');
  });

  it('takes no id from inside params or a string', () => {
    expect(idOfDropped('{"method":"x","params":{"id":3,"a":"', 'aa"}}')).toBeNull();
    expect(idOfDropped('{"params":"', 'a\\",\\"id\\":5}"}')).toBeNull();
  });
});

describe('box message schemas', () => {
  it('accepts what the kernel and agent send', () => {
    const done = {
      type: 'done',
      id: 'c1',
      status: 'ok',
      error: null,
      usage: null,
      cpu_total_ms: 3,
      unread_output: 0,
    };
    expect(parseBoxLine(LaneMessageSchema, JSON.stringify(done)).ok).toBe(true);
    const display = { type: 'display_data', id: null, data: { 'image/png': 123 }, metadata: {} };
    expect(parseBoxLine(LaneMessageSchema, JSON.stringify(display)).ok).toBe(true);
    const bad = { type: 'final', id: null, status: 'error', error: { code: 'bad_request', message: 'x' } };
    expect(parseBoxLine(AgentLineSchema, JSON.stringify(bad)).ok).toBe(true);
  });

  it('refuses and explains what does not fit', () => {
    const r = parseBoxLine(LaneMessageSchema, '{"type":"done","id":"c1","status":"nope","error":null}');
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/malformed 'done' message \(status: /) });
    expect(parseBoxLine(LaneMessageSchema, '{"type":"hello","gen":-1,"pid":1,"info":{}}').ok).toBe(false);
    expect(parseBoxLine(LaneMessageSchema, '[1]').ok).toBe(false);
    expect(parseBoxLine(AgentLineSchema, '{"type":"kernel_exit","gen":"1"}').ok).toBe(false);
    expect(parseBoxLine(AgentLineSchema, 'not json')).toEqual({
      ok: false,
      reason: expect.stringMatching(/not JSON/),
    });
  });
});
