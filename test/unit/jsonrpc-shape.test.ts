// The JSON-RPC reading done without zod gives what the SDK's own schemas give: the same verdict, the same value (key
// order included) and the same refusals, on plain requests and on every one-field change of one.
import { describe, expect, it } from 'vitest';
import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  parseJSONRPCMessage,
  type JSONRPCMessage,
} from '@modelcontextprotocol/server';
import { isRequest, isResponse, parseMessage } from '../../src/server/jsonrpc-shape.js';
import {
  errorResponseVerdict,
  notificationVerdict,
  requestVerdict,
  resultResponseVerdict,
} from '../../src/server/jsonrpc-fast.js';

const BASE = {
  jsonrpc: '2.0',
  id: 7,
  method: 'tools/call',
  params: { name: 'execute', arguments: { code: 'x += 1' } },
};

const RESULT = {
  jsonrpc: '2.0',
  id: 7,
  result: { content: [{ type: 'text', text: 'ok' }], structuredContent: { stdout: '' } },
};

const ODD_VALUES: unknown[] = [
  undefined,
  null,
  true,
  0,
  -0,
  -3,
  1.5,
  2 ** 53,
  -(2 ** 53),
  Number.MAX_SAFE_INTEGER,
  '',
  '2.0',
  '1.0',
  'x',
  [],
  [1],
  {},
  { _meta: {} },
  { _meta: { progressToken: 1 } },
  { _meta: { progressToken: 1.5 } },
  { _meta: null },
  { a: 1 },
];

/** A base request and result and each change of one field (removed, or an odd value), plus hostile spellings. */
function corpus(): unknown[] {
  const out: unknown[] = [BASE, { ...BASE, params: undefined }, RESULT];
  for (const base of [BASE, RESULT]) {
    for (const key of ['jsonrpc', 'id', 'method', 'params', 'result', 'error', 'extra']) {
      const { [key]: _gone, ...without } = base as Record<string, unknown>;
      out.push(without);
      for (const v of ODD_VALUES) out.push({ ...base, [key]: v });
    }
  }
  const { params: _p, ...bare } = BASE;
  out.push(
    bare,
    { method: 'ping', id: 'a', jsonrpc: '2.0' },
    { params: {}, method: 'm', jsonrpc: '2.0', id: -1 },
  );
  // Keys as JSON.parse makes them: "__proto__" is an own key there.
  out.push(JSON.parse('{"jsonrpc":"2.0","id":1,"method":"m","__proto__":{"x":1}}'));
  out.push(JSON.parse('{"jsonrpc":"2.0","id":1,"method":"m","params":{"__proto__":{"x":1}}}'));
  out.push(JSON.parse('{"jsonrpc":"2.0","id":1,"method":"m","params":{"b":1,"a":{"c":[1,2]}}}'));
  out.push({ jsonrpc: '2.0', id: 1, method: 'm', params: { _meta: undefined } });
  out.push({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } });
  out.push(
    { jsonrpc: '2.0', id: 1, result: {} },
    { jsonrpc: '2.0', id: 1, error: { code: -1, message: 'm' } },
  );
  out.push(null, 1, 'x', [], [BASE], Object.create(null));
  return out;
}

function sdkParse(value: unknown): { ok: true; json: string } | { ok: false } {
  try {
    return { ok: true, json: JSON.stringify(parseJSONRPCMessage(value)) };
  } catch {
    return { ok: false };
  }
}

function ownParse(value: unknown): { ok: true; json: string } | { ok: false } {
  try {
    return { ok: true, json: JSON.stringify(parseMessage(value)) };
  } catch {
    return { ok: false };
  }
}

describe('JSON-RPC messages read without zod', () => {
  const cases = corpus();

  it('parse as the SDK parses, value and key order alike, and refuse what it refuses', () => {
    for (const value of cases) expect(ownParse(value), JSON.stringify(value)).toEqual(sdkParse(value));
  });

  it('tell requests as the SDK tells them', () => {
    for (const value of cases) expect(isRequest(value), JSON.stringify(value)).toBe(isJSONRPCRequest(value));
  });

  it('never hand back the object they were given, so nothing of it is shared', () => {
    const value = JSON.parse(JSON.stringify(BASE)) as typeof BASE;
    const parsed = parseMessage(value) as typeof BASE;
    expect(parsed).not.toBe(value);
    expect(parsed.params).not.toBe(value.params);
  });

  it('decide only where the SDK guards decide the same, and decide the usual request and result', () => {
    const pairs = [
      [requestVerdict, isJSONRPCRequest],
      [notificationVerdict, isJSONRPCNotification],
      [resultResponseVerdict, isJSONRPCResultResponse],
      [errorResponseVerdict, isJSONRPCErrorResponse],
    ] as const;
    for (const value of cases) {
      for (const [fast, sdk] of pairs) {
        const verdict = fast(value);
        if (verdict !== undefined) expect(verdict, `${fast.name} ${JSON.stringify(value)}`).toBe(sdk(value));
      }
    }
    expect([requestVerdict(BASE), resultResponseVerdict(RESULT)]).toEqual([true, true]);
    expect([resultResponseVerdict(BASE), errorResponseVerdict(BASE), notificationVerdict(RESULT)]).toEqual([
      false,
      false,
      false,
    ]);
  });

  it('take results and errors as responses, never requests or notifications', () => {
    const messages = cases.filter((m) => sdkParse(m).ok) as JSONRPCMessage[];
    expect(messages.length).toBeGreaterThan(5);
    for (const m of messages) {
      expect(isResponse(m), JSON.stringify(m)).toBe(isJSONRPCResultResponse(m) || isJSONRPCErrorResponse(m));
    }
  });
});
