// Smaller truths: an image that is not one is not sent as one, an unknown session's file resource is not found
// (not an internal error), an os._exit is reported with its exit code, the logging capability is advertised only
// when log messages come, and the execute description says what the server's network default really is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResourceNotFoundError, type CallToolResult } from '@modelcontextprotocol/client';
import { start, type Harness } from './harness.js';

describe('smaller truths', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start('stdio');
  });
  afterAll(async () => {
    await h?.close();
  });
  const sessionId = async () =>
    ((await h.sc('list_sessions')).sessions as Array<{ session_id: string; is_default: boolean }>).find(
      (s) => s.is_default,
    )!.session_id;

  it('does not send junk bytes from _repr_png_ as image/png, and says why in a notice', async () => {
    const r = await h.call('execute', {
      code: 'class Junk:\n    def _repr_png_(self):\n        return b"this is not a png"\nJunk()',
    });
    const sc = r.structuredContent as Record<string, any>;
    expect(r.content.some((c) => c.type === 'image')).toBe(false);
    expect(sc.result['image/png']).toBeUndefined();
    expect(sc.result['text/plain']).toMatch(/Junk object/);
    expect(sc.notices.join('\n')).toMatch(
      /image\/png was not sent as an image: its bytes do not start with the PNG signature/,
    );
  });

  it('still sends a real PNG as an image', async () => {
    const png =
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    const r = await h.call('execute', {
      code: `import base64\nclass Dot:\n    def _repr_png_(self):\n        return base64.b64decode("${png}")\nDot()`,
    });
    const image = r.content.find((c) => c.type === 'image') as { data: string; mimeType: string } | undefined;
    expect(image?.mimeType).toBe('image/png');
    expect(image?.data).toBe(png);
  });

  it('answers a file resource of an unknown session with resource not found, not an internal error', async () => {
    // A 2025 client gets -32002 with data.uri (resource-not-found.test.ts reads the wire codes), which the SDK v2
    // client decodes as ResourceNotFoundError; an internal error (-32603) is what must not come.
    const uri = 'sandbox://sessions/s_doesnotexist0000000000/files/a.txt';
    const read = h.client.readResource({ uri });
    await expect(read).rejects.toBeInstanceOf(ResourceNotFoundError);
    await expect(read).rejects.toMatchObject({ data: { uri } });
    await expect(read).rejects.toThrow(
      /Resource not found: session 's_doesnotexist0000000000' does not exist/,
    );
    const missingFile = h.client.readResource({
      uri: uri.replace('s_doesnotexist0000000000', await sessionId()),
    });
    await expect(missingFile).rejects.toBeInstanceOf(ResourceNotFoundError);
  });

  it('reports os._exit(3) with its exit code, not as a signal', async () => {
    const r: CallToolResult = await h.call('execute', { code: 'import os\nos._exit(3)' });
    const sc = r.structuredContent as Record<string, any>;
    expect(sc.status).toBe('killed');
    expect(sc.error.message).toMatch(/exited with code 3/);
    expect(sc.error.message).not.toMatch(/signal unknown/);
    expect(sc.error.details.exit_code).toBe(3);
    // The session goes on with a new Python process.
    const next = (await h.call('execute', { code: '1 + 1' })).structuredContent as Record<string, any>;
    expect(next.result['text/plain']).toBe('2');
  });

  it('advertises the logging capability only when log messages are sent', async () => {
    const messages: unknown[] = [];
    h.client.setNotificationHandler('notifications/message', (n) => void messages.push(n.params));
    const advertised = h.client.getServerCapabilities()?.logging !== undefined;
    if (advertised) await h.client.setLoggingLevel('debug');
    await h.call('execute', { code: 'import os\nos._exit(4)' });
    await h.call('read_file', { path: 'missing.txt' });
    await new Promise((r) => setTimeout(r, 300));
    expect(messages.length > 0).toBe(advertised);
  });
});

describe('the execute description tells the server network default', () => {
  const description = async (args: string[]) => {
    const h = await start('stdio', { args });
    try {
      const { tools } = await h.client.listTools();
      return tools.find((t) => t.name === 'execute')!.description ?? '';
    } finally {
      await h.close();
    }
  };

  it('does not say "No network." on a server whose sessions get the allowlist by default', async () => {
    const text = await description(['--network-default', 'allowlist', '--network-allowlist', 'pypi.org']);
    expect(text).not.toMatch(/No network\./);
    expect(text).toMatch(/only allowlisted domains/);
    expect(text).toMatch(/get_sandbox_limitations/);
  });

  it('says no network on a server with the default policy', async () => {
    expect(await description([])).toMatch(/for new sessions on this server: no network/);
  });
});
