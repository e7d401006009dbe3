// Checks of HTTP token handling: where tokens come from, the stored token file, comparison and the client snippet. Never touch a real data dir.
import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import {
  bearerToken,
  clientConfigSnippet,
  clientKeyForToken,
  createTokenChecker,
  loadOrCreateToken,
  TOKEN_FILE_NAME,
} from '../../src/server/auth.js';

const GOOD = 'given-token-0123456789';
const OTHER = 'other-token-0123456789';

describe('loadOrCreateToken', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-auth-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a private random token on first start and reuses it afterwards', () => {
    const dataDir = join(dir, 'nested', 'data');
    const first = loadOrCreateToken(dataDir);
    expect(first.generated).toBe(true);
    expect(first.primary).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.tokens).toEqual([first.primary]);
    const file = join(dataDir, TOKEN_FILE_NAME);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.primary);
    expect(readdirSync(dataDir)).toEqual([TOKEN_FILE_NAME]);

    const second = loadOrCreateToken(dataDir);
    expect(second).toEqual({ tokens: [first.primary], generated: false, primary: first.primary });
  });

  it('uses given tokens, comma-separated, without touching the data dir', () => {
    const loaded = loadOrCreateToken(dir, ` ${GOOD} , ${OTHER},,${GOOD}`);
    expect(loaded).toEqual({ tokens: [GOOD, OTHER], generated: false, primary: GOOD });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('takes SANDBOX_MCP_TOKEN through the configuration; --token wins over it', () => {
    const env = { SANDBOX_MCP_TOKEN: `${OTHER},${GOOD}` };
    expect(loadOrCreateToken(dir, loadConfig({ dataDir: dir }, env).token).tokens).toEqual([OTHER, GOOD]);
    expect(loadOrCreateToken(dir, loadConfig({ dataDir: dir, token: GOOD }, env).token).tokens).toEqual([
      GOOD,
    ]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses short tokens and ones that cannot travel in a header', () => {
    expect(() => loadOrCreateToken(dir, 'short')).toThrow(/shorter than/);
    expect(() => loadOrCreateToken(dir, `${GOOD},bad token with spaces`)).toThrow(/token #2/);
    expect(() => loadOrCreateToken(dir, 'tökén-0123456789abcdef')).toThrow(/HTTP header/);
  });

  it('tightens a stored token file that others can read', () => {
    const file = join(dir, TOKEN_FILE_NAME);
    writeFileSync(file, `${GOOD}\n`);
    chmodSync(file, 0o644);
    expect(loadOrCreateToken(dir).primary).toBe(GOOD);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('agrees on one token when several processes start at once', async () => {
    // Separate processes are the only way to race the file creation; they load the compiled module.
    const built = fileURLToPath(new URL('../../dist/src/server/auth.js', import.meta.url));
    const source = fileURLToPath(new URL('../../src/server/auth.ts', import.meta.url));
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(source).mtimeMs) {
      throw new Error(
        'dist/src/server/auth.js is missing or older than its source: run `npm run build` first',
      );
    }
    const script = `import(${JSON.stringify(built)}).then((m) => process.stdout.write(m.loadOrCreateToken(process.argv[1]).primary))`;
    const run = promisify(execFile);
    const outputs = await Promise.all(
      Array.from({ length: 4 }, () => run(process.execPath, ['-e', script, join(dir, 'race')], { env: {} })),
    );
    const tokens = new Set(outputs.map((o) => o.stdout));
    expect(tokens.size).toBe(1);
    expect(readFileSync(join(dir, 'race', TOKEN_FILE_NAME), 'utf8').trim()).toBe([...tokens][0]);
    expect(readdirSync(join(dir, 'race'))).toEqual([TOKEN_FILE_NAME]);
  });

  it('refuses a token file that is a symlink', () => {
    const target = join(dir, 'elsewhere');
    writeFileSync(target, `${GOOD}\n`);
    symlinkSync(target, join(dir, TOKEN_FILE_NAME));
    expect(() => loadOrCreateToken(dir)).toThrow(/not a regular file/);
  });
});

describe('token comparison', () => {
  it('derives a stable 32-hex-char clientKey per token', () => {
    expect(clientKeyForToken(GOOD)).toMatch(/^[0-9a-f]{32}$/);
    expect(clientKeyForToken(GOOD)).toBe(clientKeyForToken(GOOD));
    expect(clientKeyForToken(GOOD)).not.toBe(clientKeyForToken(OTHER));
    expect(clientKeyForToken(GOOD)).not.toContain(GOOD);
  });

  it('parses Bearer headers', () => {
    expect(bearerToken(`Bearer ${GOOD}`)).toBe(GOOD);
    expect(bearerToken(`bearer   ${GOOD} `)).toBe(GOOD);
    expect(bearerToken(`Basic ${GOOD}`)).toBeUndefined();
    expect(bearerToken(`Bearer ${GOOD} extra`)).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });

  it('maps each accepted token to its own clientKey', () => {
    const check = createTokenChecker([GOOD, OTHER]);
    expect(check(`Bearer ${GOOD}`)).toEqual({ ok: true, clientKey: clientKeyForToken(GOOD) });
    expect(check(`Bearer ${OTHER}`)).toEqual({ ok: true, clientKey: clientKeyForToken(OTHER) });
    expect(check(`Bearer ${GOOD}0`)).toEqual({ ok: false, reason: 'invalid' });
    expect(check(undefined)).toEqual({ ok: false, reason: 'missing' });
    expect(check('Bearer')).toEqual({ ok: false, reason: 'missing' });
    expect(() => createTokenChecker([])).toThrow();
  });
});

describe('clientConfigSnippet', () => {
  it('is JSON an MCP client can use for Streamable HTTP with the bearer header', () => {
    const snippet = JSON.parse(clientConfigSnippet('http://127.0.0.1:8765/mcp', GOOD)) as {
      mcpServers: Record<string, { type: string; url: string; headers: Record<string, string> }>;
    };
    expect(snippet.mcpServers['sandbox-mcp']).toEqual({
      type: 'http',
      url: 'http://127.0.0.1:8765/mcp',
      headers: { Authorization: `Bearer ${GOOD}` },
    });
  });
});
