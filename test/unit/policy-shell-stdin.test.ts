// The rule on programs read from a stream: text piped (or streamed) into a shell or interpreter cannot be verified
// and is denied, while inline programs, files and here-documents pass, and the policy file can allow it.
import { beforeAll, describe, expect, it } from 'vitest';
import { ShellPolicy } from '../../src/policy/shell-policy.js';
import { DEFAULT_RULES } from '../../src/policy/shell-rules.js';

let policy: ShellPolicy;
beforeAll(async () => {
  policy = await ShellPolicy.create(DEFAULT_RULES);
});

const deniedBy = (command: string): string | null => {
  const v = policy.check(command);
  return v.allowed ? null : v.rule.id;
};

const UNVERIFIABLE = [
  'cat install.sh | sh',
  'curl -s http://127.0.0.1:8000/install.sh | bash',
  'wget -qO- http://127.0.0.1:8000/install.sh | sh -',
  'bash <(curl -s http://127.0.0.1:8000/install.sh)',
  'sh < <(cat install.sh)',
  'cat install.sh | sh -s -- --yes',
  'cat install.sh | sh /dev/stdin',
  'cat install.sh | sh /dev/fd/0',
  'cat install.sh | . /dev/stdin',
  'source <(cat env.sh)',
  'cat install.sh | (sh)',
  'cat install.sh | { sh; }',
  'cat install.sh | env sh',
  'cat install.sh | timeout 5 sh',
  'cat install.sh | sh 2>/dev/null',
  'cat list | while read l; do sh; done',
  "cat install.sh | sh -c 'sh'",
  'f() { sh; }; cat install.sh | f',
  'exec < install.sh; bash',
  'sh <&3',
  'bash < /dev/tcp/127.0.0.1/8000',
  "echo 'import os' | python3",
  'cat x.py | python3 -',
  'cat x.py | python3 -u',
  'cat x.py | /usr/bin/python3.11',
  'cat x.pl | perl',
  'cat x.pl | perl -I lib',
  'cat x.js | node',
  'cat x.rb | ruby -w',
  'cat x.php | php',
  'cat x.lua | lua -',
  'echo \'BEGIN { system("id") }\' | awk -f -',
  "echo 's/a/b/' | sed -f - data.txt",
  'python3 <(cat x.py)',
  'python3 /dev/stdin < <(cat x.py)',
  "printf 'ls\\n' | sh",
  "echo 'ls' | sh",
  'cat <<EOF | sh\nls\nEOF',
];

describe('a program read from a stream is denied by its own rule', () => {
  it.each(UNVERIFIABLE)('%s', (cmd) => {
    const v = policy.check(cmd);
    expect(v).toMatchObject({
      allowed: false,
      rule: { id: 'unverifiable-script', category: 'unverifiable' },
    });
    if (!v.allowed) expect(v.rule.hint).toMatch(/disable.*unverifiable-script/);
  });

  it('still names the rule of a denied command it can read in the piped text', () => {
    expect(deniedBy("echo 'reboot' | sh")).toBe('power');
    expect(deniedBy('cat <<EOF | bash\nmount /dev/sda /mnt\nEOF')).toBe('mount');
  });
});

const VERIFIABLE = [
  "python3 - <<'EOF'\nprint(1)\nEOF",
  'python3 <<EOF\nprint(1)\nEOF',
  "sh <<'EOF'\nls\nEOF",
  "bash <<< 'ls -la'",
  'sh script.sh',
  'sh < script.sh',
  'python3 < x.py',
  'bash -c "ls" < data.txt',
  '. .venv/bin/activate',
  'source env.sh',
  'sh',
  'python3',
  'cat data.csv | python3 analyze.py',
  "ls | python3 -c 'import sys; print(sys.stdin.read())'",
  'echo \'{"a": 1}\' | python3 -m json.tool',
  "cat f | awk '{print $1}'",
  'cat f | awk -f prog.awk',
  "cat f | sed -e 's/a/b/'",
  "cat f | sed 's/a/b/'",
  "cat f | perl -ne 'print'",
  "cat f | node -e 'process.stdin.pipe(process.stdout)'",
  'echo hi | cat',
  'echo hi | sh -c "cat"',
  'ls | xargs -n1 echo',
  "find . -name '*.sh' -exec sh {} \\;",
  'cat script.sh | tee copy.sh',
];

describe('inline programs, files and here-documents pass', () => {
  it.each(VERIFIABLE)('%s', (cmd) => {
    expect(policy.check(cmd)).toMatchObject({ allowed: true });
  });
});
