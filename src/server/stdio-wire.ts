// The stdio wire: newline-delimited JSON-RPC on stdin and stdout. A message over the size limit, a line that is not
// JSON or JSON that is not JSON-RPC is answered with a JSON-RPC error and the connection goes on; the end of stdin
// (or a broken stdout) closes it, and `closed` tells the process to shut down.
import type { Readable, Writable } from 'node:stream';
import { ProtocolErrorCode, type JSONRPCMessage, type Transport } from '@modelcontextprotocol/server';
import { LineSplitter } from '../line-splitter.js';
import { parseMessage } from './jsonrpc-shape.js';

/** The largest message a client may send on stdin (one line), in bytes. */
export const STDIO_MAX_MESSAGE_BYTES = 36 * 1024 * 1024;

type RpcId = string | number | null;

const ID = String.raw`(-?\d{1,16}|"(?:[^"\\]|\\.){0,200}")`;
/** `{"jsonrpc":"2.0","id":7,…` or `{"id":7,…`: the id among the first keys of the object. */
const ID_FIRST = new RegExp(
  String.raw`^\s*\{(?:\s*"(?:jsonrpc|method)"\s*:\s*"[^"\\]{0,200}"\s*,)*\s*"id"\s*:\s*${ID}\s*[,}]`,
);
/** `…,"id":7}`: the id as the object's last key (the SDKs write it there). */
const ID_LAST = new RegExp(String.raw`[,{]\s*"id"\s*:\s*${ID}\s*\}\s*$`);

/** The id of a message that was too large to read, from its first and last bytes; null when neither shows one. */
export function idOfDropped(head: string, tail: string): RpcId {
  const m = ID_FIRST.exec(head) ?? ID_LAST.exec(tail);
  if (!m?.[1]) return null;
  try {
    return JSON.parse(m[1]) as string | number;
  } catch {
    return null;
  }
}

function idOf(value: unknown): RpcId {
  const id = (value as { id?: unknown } | null)?.id;
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : null;
}

export class StdioWire implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport['onmessage'];
  /** Settles once the connection is closed, by either side. */
  readonly closed: Promise<void>;
  private markClosed!: () => void;
  private isClosed = false;
  private readonly splitter: LineSplitter;

  constructor(
    private readonly input: Readable = process.stdin,
    private readonly output: Writable = process.stdout,
    readonly maxMessageBytes = STDIO_MAX_MESSAGE_BYTES,
  ) {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.splitter = new LineSplitter(maxMessageBytes, {
      line: (text) => this.onLine(text),
      dropped: (bytes, head, tail) =>
        this.reject(
          idOfDropped(head, tail),
          ProtocolErrorCode.InvalidRequest,
          `the message (${bytes} bytes) is larger than the ${maxMessageBytes}-byte limit of one stdio message; ` +
            'it was not read. Send less per call (e.g. write large files in parts).',
          { limit_bytes: maxMessageBytes, bytes },
        ),
    });
  }

  async start(): Promise<void> {
    this.input.on('data', this.onData);
    this.input.on('end', this.onEnd);
    this.input.on('close', this.onEnd);
    this.input.on('error', this.onInputError);
    this.output.on('error', this.onOutputError);
    if (this.input.readableEnded || this.input.destroyed) setImmediate(this.onEnd);
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.isClosed) return Promise.reject(new Error('the stdio connection is closed'));
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        this.output.off('drain', onDrain);
        reject(err);
      };
      const onDrain = () => {
        this.output.off('error', onError);
        resolve();
      };
      this.output.once('error', onError);
      if (this.output.write(JSON.stringify(message) + '\n')) {
        this.output.off('error', onError);
        resolve();
      } else {
        this.output.once('drain', onDrain);
      }
    });
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.input.off('data', this.onData);
    this.input.off('end', this.onEnd);
    this.input.off('close', this.onEnd);
    this.input.off('error', this.onInputError);
    // A late write failure after the close must not become an unhandled 'error' event.
    this.output.off('error', this.onOutputError);
    this.output.on('error', () => undefined);
    this.input.pause();
    this.markClosed();
    this.onclose?.();
  }

  private readonly onData = (chunk: Buffer | string): void => this.splitter.push(chunk);
  private readonly onEnd = (): void => void this.close();
  private readonly onInputError = (err: Error): void => this.onerror?.(err);
  private readonly onOutputError = (err: Error): void => {
    this.onerror?.(err);
    void this.close(); // nobody reads our answers any more
  };

  private onLine(text: string): void {
    if (!text.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.reject(null, ProtocolErrorCode.ParseError, `Parse error: the line is not JSON (${String(err)})`);
      return;
    }
    let message: JSONRPCMessage;
    try {
      message = parseMessage(value);
    } catch {
      this.reject(
        idOf(value),
        ProtocolErrorCode.InvalidRequest,
        'Invalid Request: the line is not a JSON-RPC 2.0 request, notification or response',
      );
      return;
    }
    this.onmessage?.(message);
  }

  private reject(id: RpcId, code: number, message: string, data?: Record<string, unknown>): void {
    this.onerror?.(new Error(message));
    const error = { code, message, ...(data ? { data } : {}) };
    // JSON-RPC answers a message whose id cannot be read with a null id; the SDK's types want a request id.
    this.send({ jsonrpc: '2.0', id, error } as unknown as JSONRPCMessage).catch(() => undefined);
  }
}
