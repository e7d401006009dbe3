// The policy file: merging with the defaults, and refusing a file that would be half-applied.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPolicyFile, mergePolicy, PolicyFileSchema } from '../../src/policy/shell-policy-file.js';
import { ShellPolicy } from '../../src/policy/shell-policy.js';
import { DEFAULT_RULES } from '../../src/policy/shell-rules.js';

const dir = mkdtempSync(join(tmpdir(), 'policy-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(content: unknown): string {
  const p = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

const ids = (rules: readonly { id: string }[]) => rules.map((r) => r.id);

describe('merging', () => {
  it('uses the defaults without a file', () => {
    const p = loadPolicyFile(undefined);
    expect(p.source).toBe('built-in defaults');
    expect(ids(p.rules)).toEqual(ids(DEFAULT_RULES));
  });

  it('drops disabled defaults, replaces by id, and appends new rules', () => {
    const p = mergePolicy(
      PolicyFileSchema.parse({
        disable: ['killall'],
        rules: [
          { id: 'mount', description: 'no mounting at all', programs: ['mount'] },
          { id: 'no-curl', description: 'no curl', programs: ['curl'] },
        ],
      }),
      'p.json',
    );
    expect(ids(p.rules)).not.toContain('killall');
    expect(p.rules.find((r) => r.id === 'mount')?.description).toBe('no mounting at all');
    expect(ids(p.rules).at(-1)).toBe('no-curl');
    expect(p.rules.find((r) => r.id === 'no-curl')?.category).toBe('custom');
  });

  it('starts from nothing with defaults: false', () => {
    const p = mergePolicy(
      PolicyFileSchema.parse({ defaults: false, rules: [{ id: 'a', description: 'a', programs: ['a'] }] }),
    );
    expect(ids(p.rules)).toEqual(['a']);
  });

  it('applies a custom rule with conditions', async () => {
    const p = mergePolicy(
      PolicyFileSchema.parse({
        defaults: false,
        rules: [
          {
            id: 'git-push',
            description: 'pushing',
            programs: ['git'],
            when: { first_operand: ['push'] },
            options_with_value: ['-C', '-c'],
          },
        ],
      }),
    );
    const policy = await ShellPolicy.create(p.rules, p.source);
    expect(policy.check('git -C repo push origin main')).toMatchObject({
      allowed: false,
      rule: { id: 'git-push' },
    });
    expect(policy.check('git -C push status')).toMatchObject({ allowed: true });
    expect(policy.check('mount /dev/sda /mnt')).toMatchObject({ allowed: true });
  });
});

describe('piped scripts and condition lists', () => {
  it('lets an operator allow piped scripts, while what the piped text says is still checked', async () => {
    const policy = await ShellPolicy.fromSource(loadPolicyFile(file({ disable: ['unverifiable-script'] })));
    const piped = 'curl -s localhost:8000/install.sh | sh';
    expect(policy.check(piped)).toMatchObject({ allowed: true });
    expect(policy.check("printf '\\165nshare -U true\\n' | sh")).toMatchObject({
      allowed: false,
      rule: { id: 'namespace-escape' },
    });
    const strict = await ShellPolicy.fromSource(loadPolicyFile(undefined));
    expect(strict.check(piped)).toMatchObject({ allowed: false, rule: { id: 'unverifiable-script' } });
  });

  it('takes script_from_stdin and a list of conditions in its own rules', async () => {
    const p = loadPolicyFile(
      file({
        defaults: false,
        rules: [
          {
            id: 'no-piped-python',
            description: 'python reading its program from a pipe',
            programs: ['python*'],
            when: { script_from_stdin: true },
          },
          {
            id: 'git-remote',
            description: 'talking to remotes',
            programs: ['git'],
            when: [{ first_operand: ['push'] }, { first_operand: ['fetch', 'pull'] }],
          },
        ],
      }),
    );
    const policy = await ShellPolicy.fromSource(p);
    expect(policy.check('cat x.py | python3')).toMatchObject({
      allowed: false,
      rule: { id: 'no-piped-python' },
    });
    expect(policy.check('cat x.sh | sh')).toMatchObject({ allowed: true });
    expect(policy.check('cat data | python3 x.py')).toMatchObject({ allowed: true });
    expect(policy.check('git fetch origin')).toMatchObject({ allowed: false, rule: { id: 'git-remote' } });
    expect(policy.check('git push')).toMatchObject({ allowed: false, rule: { id: 'git-remote' } });
    expect(policy.check('git status')).toMatchObject({ allowed: true });
  });
});

describe('refusals', () => {
  it.each([
    ['a missing file', () => loadPolicyFile(join(dir, 'missing.json')), /cannot read policy file/],
    ['bad JSON', () => loadPolicyFile(file('{ nope')), /cannot read policy file/],
    ['an unknown key', () => loadPolicyFile(file({ rulez: [] })), /invalid policy file.*rulez/],
    [
      'a rule without programs or redirect_to',
      () => loadPolicyFile(file({ rules: [{ id: 'x', description: 'x' }] })),
      /names neither/,
    ],
    [
      'a bad regular expression',
      () =>
        loadPolicyFile(
          file({ rules: [{ id: 'x', description: 'x', programs: ['a'], when: { any_arg: ['['] } }] }),
        ),
      /rule 'x': bad regular expression/,
    ],
    ['disabling an unknown rule', () => loadPolicyFile(file({ disable: ['nope'] })), /unknown rules: nope/],
    [
      'an empty list of conditions',
      () => loadPolicyFile(file({ rules: [{ id: 'x', description: 'x', programs: ['a'], when: [] }] })),
      /invalid policy file.*rules\.0\.when/,
    ],
    [
      'two rules with one id',
      () =>
        loadPolicyFile(
          file({
            rules: [
              { id: 'x', description: 'x', programs: ['a'] },
              { id: 'x', description: 'y', programs: ['b'] },
            ],
          }),
        ),
      /share an id/,
    ],
  ])('%s', (_what, load, message) => {
    expect(load).toThrow(message);
  });
});

describe('the example in docs/SHELL_POLICY.md', () => {
  it('loads and behaves as documented', async () => {
    const doc = readFileSync(new URL('../../docs/SHELL_POLICY.md', import.meta.url), 'utf8');
    const json = /```json\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(json).toBeTruthy();
    const p = loadPolicyFile(file(json as string));
    expect(p.compiled.map((c) => c.rule)).toEqual(p.rules);
    const policy = await ShellPolicy.fromSource(p);
    expect(policy.check('git -C repo push')).toMatchObject({ allowed: false, rule: { id: 'git-push' } });
    expect(policy.check('curl -s localhost:8000')).toMatchObject({ allowed: true });
    expect(policy.check('wget https://example.com/x')).toMatchObject({
      allowed: false,
      rule: { id: 'no-downloads' },
    });
    expect(policy.check('killall python3')).toMatchObject({ allowed: true });
  });
});
