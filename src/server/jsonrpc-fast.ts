// Verdicts of the SDK's JSON-RPC message schemas reached without running them, for the shapes nearly every message has
// (a request or a result without `_meta`, anything that lacks a field the schema requires): true or false only when
// the schema would say the same, undefined when it must decide. Pure: the build also puts these in front of the SDK's
// own guards (scripts/bundle.mjs), which run several times per call.

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every key the schema sees (zod walks them with for…in) is one of `allowed`, as a strict object requires. */
function onlyKeys(value: Json, allowed: ReadonlySet<string>): boolean {
  for (const key in value) if (!allowed.has(key)) return false;
  return true;
}

/** A string, or an integer zod's `.int()` takes (a safe one). */
function isRequestId(id: unknown): boolean {
  return typeof id === 'string' || Number.isSafeInteger(id);
}

/** params or result without `_meta` (which has a schema of its own) or `__proto__` (which a copy turns into a prototype). */
function isOpenObject(value: unknown): boolean {
  return isObject(value) && !Object.hasOwn(value, '_meta') && !Object.hasOwn(value, '__proto__');
}

const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);
const RESULT_RESPONSE_KEYS = new Set(['jsonrpc', 'id', 'result']);

/**
 * True for a request the SDK's request schema accepts without looking further (`jsonrpc` "2.0", a string method, a
 * string or safe-integer id, params absent or an open object); false when it cannot be one.
 */
export function requestVerdict(value: unknown): boolean | undefined {
  if (!isObject(value) || typeof value['method'] !== 'string') return false;
  if (!onlyKeys(value, REQUEST_KEYS) || value['jsonrpc'] !== '2.0' || !isRequestId(value['id']))
    return undefined;
  return !Object.hasOwn(value, 'params') || isOpenObject(value['params']) ? true : undefined;
}

/** False when the value cannot be a notification (no string method); the schema decides the rest. */
export function notificationVerdict(value: unknown): boolean | undefined {
  return !isObject(value) || typeof value['method'] !== 'string' ? false : undefined;
}

/** True for a plain result response (`{jsonrpc, id, result}`, the result an open object); false without a result. */
export function resultResponseVerdict(value: unknown): boolean | undefined {
  if (!isObject(value) || value['result'] === undefined) return false;
  return onlyKeys(value, RESULT_RESPONSE_KEYS) &&
    value['jsonrpc'] === '2.0' &&
    isRequestId(value['id']) &&
    isOpenObject(value['result'])
    ? true
    : undefined;
}

/** False when the value cannot be an error response (no error); the schema decides the rest. */
export function errorResponseVerdict(value: unknown): boolean | undefined {
  return !isObject(value) || value['error'] === undefined ? false : undefined;
}
