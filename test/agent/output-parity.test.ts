// A shell command and a cell that print the same long output get the same result: same cut, marker, byte count,
// saved file and note (src/agent/output_rules.json holds the rules both follow).
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentClient, type StreamResult } from './agent-client.js';

const CAP = 1000;
// 20000 lines with a two-byte character in each: about 300 kB, cut inside a character on both sides.
const PRINT = "import sys\nsys.stdout.write(''.join('line %06d \\u00fc\\n' % i for i in range(20000)))";
const WHOLE = Buffer.from(
  Array.from({ length: 20000 }, (_, i) => `line ${String(i).padStart(6, '0')} ü\n`).join(''),
);

type Saved = StreamResult & { save_note?: string | null };

async function both(agent: AgentClient): Promise<{ cell: Saved; shell: Saved }> {
  const cell = (await agent.execute(PRINT, { output_cap: CAP })).final;
  const shell = (
    await agent.request('shell', {
      command: `/usr/bin/python3 -c "${PRINT.replace(/\n/g, '; ').replace(/"/g, '\\"')}"`,
      cwd: '',
      timeout_ms: 20_000,
      grace_ms: 1000,
      output_cap: CAP,
    }).reply
  ).final;
  expect(cell.status).toBe('ok');
  expect(shell.status).toBe('ok');
  return { cell: cell.stdout as Saved, shell: shell.stdout as Saved };
}

/** The result with its own file name taken out, to compare the rest. */
function shape(s: Saved): Record<string, unknown> {
  const path = s.saved_path;
  const note = path && s.save_note ? s.save_note.replace(path, '<saved>') : s.save_note;
  return { ...s, saved_path: path === null ? null : '<saved>', save_note: note };
}

describe('agent: shell commands and cells capture long output alike', () => {
  let agent: AgentClient | undefined;
  afterEach(async () => {
    await agent?.close();
    agent = undefined;
  });

  it('cuts, marks, counts and saves the same way', async () => {
    agent = await AgentClient.start();
    const { cell, shell } = await both(agent);
    expect(cell.truncated).toBe(true);
    expect(cell.bytes).toBe(WHOLE.length);
    expect(cell.text).toMatch(/\n…\[\d+ bytes omitted\]…\n/);
    expect(shape(shell)).toStrictEqual(shape(cell));
    expect(cell.saved_path).toMatch(/^\.sandbox\/outputs\/\d+\.stdout\.txt$/);
    expect(shell.saved_path).toMatch(/^\.sandbox\/outputs\/shell-\w+\.stdout\.txt$/);
    for (const s of [cell, shell])
      expect(readFileSync(join(agent.workspace, s.saved_path!)).equals(WHOLE)).toBe(true);
    // Only the two pairs of saved files: no temporary file is left behind.
    expect(
      readdirSync(join(agent.workspace, '.sandbox', 'outputs')).filter((n) => n.startsWith('.')),
    ).toEqual([]);
  });

  it('keeps the saved file to the box file-size limit and says so', async () => {
    const limit = 100_000;
    agent = await AgentClient.start({ saveLimitBytes: limit });
    const { cell, shell } = await both(agent);
    expect(cell.save_note).toBe(
      `${cell.saved_path} holds the first ${limit} bytes of stdout: the box's file-size limit`,
    );
    expect(shape(shell)).toStrictEqual(shape(cell));
    for (const s of [cell, shell]) {
      expect(readFileSync(join(agent.workspace, s.saved_path!)).equals(WHOLE.subarray(0, limit))).toBe(true);
    }
  });

  it('saves nothing through a symlinked outputs folder, and says the output was not saved', async () => {
    agent = await AgentClient.start();
    const elsewhere = mkdtempSync(join(tmpdir(), 'outputs-elsewhere-'));
    try {
      mkdirSync(join(agent.workspace, '.sandbox'), { recursive: true });
      symlinkSync(elsewhere, join(agent.workspace, '.sandbox', 'outputs'));
      const { cell, shell } = await both(agent);
      expect(readdirSync(elsewhere)).toEqual([]);
      for (const s of [cell, shell]) {
        expect(s.truncated).toBe(true);
        expect(s.saved_path).toBeNull();
        expect(s.save_note).toMatch(/^the whole output could not be saved \(.+\)$/);
      }
      expect(shell.text).toBe(cell.text);
      expect(lstatSync(join(agent.workspace, '.sandbox', 'outputs')).isSymbolicLink()).toBe(true);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
    expect(existsSync(elsewhere)).toBe(false);
  });
});
