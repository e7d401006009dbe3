// The stderr logger: level threshold, line shape, and fields that cannot be serialized.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';

describe('createLogger', () => {
  it('writes one JSON line per entry at or above the level', () => {
    const lines: string[] = [];
    const log = createLogger('info', (l) => lines.push(l));
    log.debug('hidden');
    log.info({ session: 's_1' }, 'box started');
    log.warn('careful');
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.endsWith('\n'))).toBe(true);
    const first = JSON.parse(lines[0]!);
    expect(first).toMatchObject({ level: 30, name: 'sandbox-mcp', session: 's_1', msg: 'box started' });
    expect(typeof first.time).toBe('number');
    expect(JSON.parse(lines[1]!)).toMatchObject({ level: 40, msg: 'careful' });
  });

  it('silent writes nothing; an unknown level means info; a cyclic field still logs the message', () => {
    const lines: string[] = [];
    const silent = createLogger('silent', (l) => lines.push(l));
    silent.error('nothing');
    expect(lines).toHaveLength(0);
    const log = createLogger('bogus', (l) => lines.push(l));
    log.debug('no');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    log.error({ cyclic }, 'still here');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, msg: 'still here' });
  });
});
