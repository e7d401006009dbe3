// JSON-RPC messages read without the SDK's zod schemas when they have the plain shape nearly every call has (a
// request with no `_meta`), and answered exactly as the SDK's schemas would: those parses cost more per call than
// the rest of reading it. Any other shape goes to the SDK's own parse, which decides.
import {
  isJSONRPCRequest,
  parseJSONRPCMessage,
  type JSONRPCMessage,
  type JSONRPCRequest,
} from '@modelcontextprotocol/server';
import { requestVerdict } from './jsonrpc-fast.js';

/** Whether the value is a JSON-RPC request, as the SDK's `isJSONRPCRequest` decides. */
export function isRequest(value: unknown): value is JSONRPCRequest {
  return requestVerdict(value) ?? isJSONRPCRequest(value);
}

/**
 * The value as the SDK's `parseJSONRPCMessage` returns it (a copy with the schema's key order), or its error thrown.
 */
export function parseMessage(value: unknown): JSONRPCMessage {
  if (requestVerdict(value) !== true) return parseJSONRPCMessage(value);
  const { id, method, params } = value as JSONRPCRequest;
  return params === undefined
    ? { jsonrpc: '2.0', id, method }
    : { jsonrpc: '2.0', id, method, params: { ...params } };
}

/** Whether an outgoing message is a response (a result or an error), which is all a request is answered with. */
export function isResponse(message: JSONRPCMessage): boolean {
  return !('method' in message) && ('result' in message || 'error' in message);
}
