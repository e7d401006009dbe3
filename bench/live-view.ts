// Live-view benchmark: warm execute latency over HTTP with the status page's live view open (a viewer on its event
// stream, polling the summary as the page does) and with no viewer, in interleaved blocks on one server and session.
// Prints JSON and a table and writes .bench/live-view.json; it only talks to loopback and its own temp data dir.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { summarize, table, type Summary } from './stats.js';
import { listeningUrl } from './listening-url.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'bin', 'sandbox-mcp.js');
const ROUNDS = Number(process.env.BENCH_LIVE_ROUNDS ?? 12);
const PER_BLOCK = Number(process.env.BENCH_LIVE_CALLS ?? 40);
const CODE = 'x = sum(range(1000))\nprint(x)';
/** What the page does besides its stream: the summary every 5 s, and 600 ms after a call ends (debounced). */
const POLL_MS = 5000;
const AFTER_END_MS = 600;

async function startServer(dataDir: string, token: string) {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--port', '0', '--token', token, '--data-dir', dataDir, '--pool-size', '1'],
    {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dataDir, SANDBOX_MCP_LOG_LEVEL: 'error' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const url = await listeningUrl(child);
  return { child, url };
}

/** A viewer as the page is one: the session's event stream, read and parsed, and the summary polls. */
function openViewer(base: string, token: string, sessionId: string) {
  const abort = new AbortController();
  const headers = { Authorization: `Bearer ${token}` };
  let ends = 0;
  let polls = 0;
  let after: NodeJS.Timeout | undefined;
  const poll = () =>
    void fetch(`${base}/status/data`, { headers, signal: abort.signal })
      .then((r) => r.json())
      .then(() => polls++)
      .catch(() => undefined);
  const every = setInterval(poll, POLL_MS);
  poll();
  const reading = (async () => {
    const res = await fetch(`${base}/status/events?session=${sessionId}`, { headers, signal: abort.signal });
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const event = /^event: (\w+)/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (data) JSON.parse(data);
        if (event === 'end') {
          ends++;
          clearTimeout(after);
          after = setTimeout(poll, AFTER_END_MS);
        }
      }
    }
  })().catch(() => undefined);
  return {
    close: async () => {
      clearInterval(every);
      clearTimeout(after);
      abort.abort();
      await reading;
      return { ends, polls };
    },
  };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-live-view-'));
  const token = 'bench-live-' + Math.random().toString(36).slice(2) + '-abcdefgh';
  const { child, url } = await startServer(dataDir, token);
  const base = url.replace(/\/mcp$/, '');
  const client = new Client({ name: 'bench-live-view', version: '1' });
  try {
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    const created = await client.callTool({ name: 'create_session', arguments: {} });
    const sessionId = (created.structuredContent as { session_id: string }).session_id;
    const execute = async (): Promise<number> => {
      const t = performance.now();
      const r = await client.callTool({ name: 'execute', arguments: { session_id: sessionId, code: CODE } });
      if (r.isError) throw new Error(JSON.stringify(r.content).slice(0, 300));
      return performance.now() - t;
    };
    for (let i = 0; i < 30; i++) await execute(); // warm: box, kernel, connection
    const samples: Record<'no_page' | 'page_open', number[]> = { no_page: [], page_open: [] };
    let ends = 0;
    let polls = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating which goes first, so a drift of the machine weighs on both alike.
      const order =
        round % 2 === 0 ? (['no_page', 'page_open'] as const) : (['page_open', 'no_page'] as const);
      for (const mode of order) {
        const viewer = mode === 'page_open' ? openViewer(base, token, sessionId) : null;
        if (viewer) await new Promise((r) => setTimeout(r, 200)); // connected, snapshot read
        for (let i = 0; i < PER_BLOCK; i++) samples[mode].push(await execute());
        if (viewer) {
          await new Promise((r) => setTimeout(r, 100)); // the last end event read
          const seen = await viewer.close();
          ends += seen.ends;
          polls += seen.polls;
        }
      }
    }
    const none = summarize(samples.no_page);
    const open = summarize(samples.page_open);
    const ratio = (a: Summary, b: Summary, k: 'p50' | 'mean') => Math.round((b[k] / a[k]) * 1000) / 1000;
    const result = {
      code: CODE,
      rounds: ROUNDS,
      calls_per_block: PER_BLOCK,
      no_page: none,
      page_open: open,
      page_over_no_page: { p50: ratio(none, open, 'p50'), mean: ratio(none, open, 'mean') },
      within_5_percent: ratio(none, open, 'p50') <= 1.05,
      viewer_saw: { end_events: ends, summary_polls: polls, calls_while_open: samples.page_open.length },
    };
    mkdirSync(join(ROOT, '.bench'), { recursive: true });
    writeFileSync(join(ROOT, '.bench', 'live-view.json'), JSON.stringify(result, null, 2));
    console.log(JSON.stringify(result, null, 2));
    console.log(
      table(
        (['no_page', 'page_open'] as const).map((m) => ({
          'warm execute': m.replace('_', ' '),
          n: result[m].n,
          'p50 ms': result[m].p50,
          'p95 ms': result[m].p95,
          'mean ms': result[m].mean,
        })),
      ),
    );
    console.log(
      `page open / no page: p50 ×${result.page_over_no_page.p50}, mean ×${result.page_over_no_page.mean}` +
        ` (viewer saw ${ends} end events for ${samples.page_open.length} calls)`,
    );
  } finally {
    await client.close().catch(() => undefined);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
