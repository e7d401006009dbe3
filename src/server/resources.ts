// Workspace files as MCP resources: sandbox://sessions/{session_id}/files/{path}, listable and readable by
// their owner only. Anything outside the workspace is refused by the artifacts service's path check.
import {
  McpServer,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  ResourceTemplate,
} from '@modelcontextprotocol/server';
import { SandboxError } from '../errors.js';
import type { JSONRPCRequest, ReadResourceResult, ServerContext } from '@modelcontextprotocol/server';
import { atLeast, requestVersion } from './protocol-version.js';
import type { ClientContext } from './client-context.js';
import { sessionScope, type Services } from './services.js';
import { pageResourceList } from './resources-list.js';

export const FILE_URI_TEMPLATE = 'sandbox://sessions/{session_id}/files/{+path}';
const MAX_READ_BYTES = 10 * 1024 * 1024;

export function registerResources(server: McpServer, services: Services, client: ClientContext): void {
  server.registerResource(
    'workspace-file',
    // Listed in pages by resources-list.ts, not all at once through the template.
    new ResourceTemplate(FILE_URI_TEMPLATE, { list: undefined }),
    {
      title: 'Workspace file',
      description:
        "A file in one of your sessions' /workspace folders (text, or base64 blob for binary files).",
    },
    async (uri, variables) => {
      const sessionId = String(variables['session_id'] ?? '');
      const raw = variables['path'];
      const path = decodeURIComponent(Array.isArray(raw) ? raw.join('/') : String(raw ?? ''));
      const r = await notFoundAsResourceError(uri, async () => {
        const scope = await sessionScope(services, client.clientKey, sessionId);
        return await services.artifacts.readFile(scope, path, { maxBytes: MAX_READ_BYTES });
      });
      const contents =
        r.encoding === 'utf8'
          ? [{ uri: uri.href, mimeType: r.mime, text: r.text }]
          : [{ uri: uri.href, mimeType: r.mime, blob: r.base64 }];
      return { contents };
    },
  );
  pageResourceList(server, services, client);
  keepResourceNotFoundCode(server);
}

/**
 * An unknown session or a missing file is "resource not found" (`data.uri` and nothing else, so the SDK's clients
 * decode it as ResourceNotFoundError; the hint goes in the message). Any other refusal is a structured error with the
 * body in `data.error`: invalid params for a bad path (one out of the workspace, say), never a bare internal error.
 */
async function notFoundAsResourceError<T>(uri: URL, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (!(err instanceof SandboxError)) throw err;
    if (err.code === 'not_found') {
      const hint = err.hint ? ` (${err.hint})` : '';
      throw new ResourceNotFoundError(uri.href, `Resource not found: ${err.message}${hint}`);
    }
    const invalid = err.code === 'invalid_argument' || err.code === 'policy_denied';
    throw new ProtocolError(
      invalid ? ProtocolErrorCode.InvalidParams : ProtocolErrorCode.InternalError,
      err.message,
      { uri: uri.href, error: err.toBody() },
    );
  }
}

/** The version whose spec answers "resource not found" with -32602; the versions before it define -32002. */
const NOT_FOUND_AS_INVALID_PARAMS = '2026-07-28';

interface WireCodec {
  era: string;
  encodeErrorCode(code: number): number;
}

type ReadHandler = (request: JSONRPCRequest, ctx: ServerContext) => Promise<ReadResourceResult>;

const codecsKeepingNotFound = new WeakMap<WireCodec, WireCodec>();

/**
 * Answers "resource not found" to a 2025-era client with -32002 and the URI in data, the code its spec versions
 * (2024-11-05 to 2025-11-25) define. The SDK raises it as -32602, 2026-07-28's code, for every version, and its 2025
 * codec turns a -32002 into -32602 too; a 2026-07-28 exchange keeps the SDK's way. Call after the resources are
 * registered (the SDK installs its resources/read handler with the first one).
 */
export function keepResourceNotFoundCode(server: McpServer): void {
  const low = server.server as unknown as {
    _negotiatedWireCodec(): WireCodec;
    _getRequestHandler(method: string): ReadHandler | undefined;
  };
  // Private SDK methods: where a release no longer has them, the SDK's own codes stand (never a failed start).
  if (typeof low._negotiatedWireCodec !== 'function' || typeof low._getRequestHandler !== 'function') return;
  const negotiated = low._negotiatedWireCodec.bind(low);
  low._negotiatedWireCodec = () => {
    const codec = negotiated();
    if (atLeast(codec.era, NOT_FOUND_AS_INVALID_PARAMS)) return codec;
    let kept = codecsKeepingNotFound.get(codec);
    if (!kept) {
      kept = Object.assign(Object.create(codec) as WireCodec, {
        encodeErrorCode: (code: number) =>
          code === ProtocolErrorCode.ResourceNotFound ? code : codec.encodeErrorCode(code),
      });
      codecsKeepingNotFound.set(codec, kept);
    }
    return kept;
  };
  const read = low._getRequestHandler('resources/read');
  if (!read) return;
  server.server.setRequestHandler('resources/read', async (request, ctx) => {
    try {
      return await read(request as unknown as JSONRPCRequest, ctx);
    } catch (err) {
      if (
        err instanceof ResourceNotFoundError &&
        !atLeast(requestVersion(server, ctx), NOT_FOUND_AS_INVALID_PARAMS)
      )
        throw new ProtocolError(ProtocolErrorCode.ResourceNotFound, err.message, { uri: err.uri });
      throw err;
    }
  });
}
