// End-to-end: the interface catalog resource shows the same tool schemas clients get from tools/list.
import { describe, expect, it } from 'vitest';
import { startStdio } from './harness.js';

describe('interface catalog', () => {
  it('lists every tool with exactly the input and output schemas of tools/list', async () => {
    const h = await startStdio();
    try {
      const listed = (await h.client.listTools()).tools;
      const res = await h.client.readResource({ uri: 'sandbox://catalog/interfaces' });
      const text = (res.contents[0] as { text: string }).text;
      const catalog = JSON.parse(text) as {
        tools: Array<{ name: string; inputSchema: unknown; outputSchema: unknown }>;
      };
      const byName = new Map(catalog.tools.map((t) => [t.name, t]));
      expect(listed.length).toBeGreaterThan(20);
      for (const t of listed) {
        expect(byName.get(t.name)?.inputSchema, t.name).toEqual(t.inputSchema);
        expect(byName.get(t.name)?.outputSchema, t.name).toEqual(t.outputSchema);
      }
      // Read twice, the same text (it is built once).
      const again = await h.client.readResource({ uri: 'sandbox://catalog/interfaces' });
      expect((again.contents[0] as { text: string }).text).toBe(text);
    } finally {
      await h.close();
    }
  });
});
