// The shell policy against respellings of denied commands: line continuations, globs, printf/echo text, backticks
// inside ${…}, path and number forms, and option spellings; ordinary commands stay allowed.
import { beforeAll, describe, expect, it } from 'vitest';
import { ShellPolicy } from '../../src/policy/shell-policy.js';
import { DEFAULT_RULES } from '../../src/policy/shell-rules.js';

let policy: ShellPolicy;
/** As an operator who disabled the rule on piped scripts: what piped text says is still checked where it can be. */
let trustingPipes: ShellPolicy;
beforeAll(async () => {
  policy = await ShellPolicy.create(DEFAULT_RULES);
  trustingPipes = await ShellPolicy.create(DEFAULT_RULES.filter((r) => r.id !== 'unverifiable-script'));
});

function deniedBy(command: string, p = policy): string | null {
  const v = p.check(command);
  return v.allowed ? null : v.rule.id;
}

/** The respellings that passed the policy before it normalized words. */
const REPORTED: Array<[string, string]> = [
  ['un\\\nshare -U true', 'namespace-escape'],
  ['/usr/bin/unshar? -U true', 'namespace-escape'],
  ['/usr/bin/u[n]share', 'namespace-escape'],
  ["printf '\\165nshare -U true\\n' | sh", 'namespace-escape'],
  ['echo "${a:-`unshare -U true`}"', 'namespace-escape'],
  ['chmod =4755 f', 'chmod-setuid'],
  ['chmod --reference=/usr/bin/passwd f', 'reference-copy'],
  ['install -m 4755 tool /workspace/bin/tool', 'install-privileged'],
  ['chown --reference=/usr/bin/passwd f', 'reference-copy'],
  ['chown +0:+0 f', 'chown-root'],
  ['dd if=img of=//dev/sda', 'raw-disk-dd'],
  ['cat img > /dev/./sda', 'device-write'],
  ['echo 1 > /proc/sys/kernel/sysrq', 'kernel-files-write'],
  ['kill -9 -01', 'kill-outside-session'],
];

describe('reported respellings are denied', () => {
  it.each(REPORTED)('%s', (cmd, id) => {
    expect(deniedBy(cmd)).toBe(id);
  });

  it('reads printf text piped into sh even where piped scripts are allowed', () => {
    expect(deniedBy("printf '\\165nshare -U true\\n' | sh", trustingPipes)).toBe('namespace-escape');
  });
});

/** More of the same kinds: each passed before as well. */
const SPELLINGS: Array<[string, string]> = [
  // line continuations, wherever the shell joins them
  ['mo\\\nunt /dev/sda /mnt', 'mount'],
  ['echo x > /dev/s\\\nda', 'device-write'],
  ['ki\\\nll -9 1', 'kill-outside-session'],
  ["sh -c 're\\\nboot'", 'power'],
  ['sh <<EOF\nre\\\nboot\nEOF', 'power'],
  // globs in the program name, quoted parts and rule globs included
  ["'un'sha* -U true", 'namespace-escape'],
  ['/sbin/reb??t', 'power'],
  ['/usr/sbin/mk?s.ext4 /dev/sdb1', 'make-filesystem'],
  ['/sbin/[r]eboot', 'power'],
  ['/usr/bin/unsh[!x]re -r id', 'namespace-escape'],
  ["/bin/s[h] -c 'reboot'", 'power'],
  ['env /usr/bin/unshar? -r id', 'namespace-escape'],
  // text the policy can compute: echo, printf and arithmetic
  ['$(echo unshare) -U true', 'namespace-escape'],
  ["$(printf '\\165nshare') -U true", 'namespace-escape'],
  ['`printf "\\x72eboot"`', 'power'],
  ['sh -c "$(printf \'\\165nshare -U true\')"', 'namespace-escape'],
  ['eval "$(printf \'un%s\' share) -r id"', 'namespace-escape'],
  ["echo '\\0162eboot' | sh", 'power'],
  ["printf '%b\\n' '\\0162eboot' | bash", 'power'],
  ["printf '%s%s\\n' re boot | sh", 'power'],
  // substitutions tree-sitter leaves as text inside ${…}
  ['echo ${a:-`reboot`}', 'power'],
  ['echo "${a:=`reboot`}"', 'power'],
  ['echo "${a#`reboot`}"', 'power'],
  ['echo "${a%%$(reboot)}"', 'power'],
  ['echo "${a:-x `reboot` y}"', 'power'],
  ['echo "${a:-${b:-`reboot`}}"', 'power'],
  // modes
  ['chmod -x+s f', 'chmod-setuid'],
  ['chmod u-x+s f', 'chmod-setuid'],
  ['chmod +4000 f', 'chmod-setuid'],
  ['chmod -w,u+s f', 'chmod-setuid'],
  ['install -Dm4755 tool bin/tool', 'install-privileged'],
  ['install --mode=u+s tool bin/tool', 'install-privileged'],
  ['install --mo=4755 tool bin/tool', 'install-privileged'],
  ['install --own root tool bin/tool', 'install-privileged'],
  ['install -m =6755 tool bin/tool', 'install-privileged'],
  ['install -o root tool bin/tool', 'install-privileged'],
  ['install -g 0 tool bin/tool', 'install-privileged'],
  ['mkdir -m 4755 d', 'install-privileged'],
  ['chmod --ref=/usr/bin/passwd f', 'reference-copy'],
  ['chgrp --reference /usr/bin/passwd f', 'reference-copy'],
  // owners as numbers
  ['chown 00:00 f', 'chown-root'],
  ['chown 1000:+0 f', 'chown-root'],
  ['chgrp +0 f', 'chgrp-root'],
  ['chgrp 000 f', 'chgrp-root'],
  // paths
  ['dd if=x of=/tmp/../dev/sda', 'raw-disk-dd'],
  ['dd if=x of=/proc/self/root/dev/sda', 'raw-disk-dd'],
  ['cd /dev && dd if=x of=sda', 'raw-disk-dd'],
  ['cd /dev; echo x > sda', 'device-write'],
  ['cat img > ../../../../dev/sda', 'device-write'],
  ['cat img | tee //dev/sda', 'device-write-tools'],
  ['echo x > /dev//mem', 'device-write'],
  ['echo b > /proc/sysrq-trigger', 'kernel-files-write'],
  ['echo 1 | tee /proc/sys/kernel/panic', 'kernel-files-write'],
  ['echo 1 >> /proc/./sys/kernel/panic', 'kernel-files-write'],
  ['dd if=v of=/proc/sys/vm/drop_caches', 'kernel-files-write'],
  ['echo mem > /sys/power/state', 'kernel-files-write'],
  // numbers
  ['kill -9 +1', 'kill-outside-session'],
  ['kill -9 001', 'kill-outside-session'],
  ["kill -9 ' 1'", 'kill-outside-session'],
  ['kill -s KILL -0001', 'kill-outside-session'],
  ['kill -9 $((-1))', 'kill-outside-session'],
  ['kill -9 $((0x1))', 'kill-outside-session'],
  ['kill -9 $((2-3))', 'kill-outside-session'],
  ['kill -TERM $((PPID))', 'kill-outside-session'],
  ['kill -01', 'kill-outside-session'],
  // a descriptor tree-sitter reads as an argument: `sh 0< …` still reads the stream
  ['sh 0< <(echo reboot)', 'unverifiable-script'],
];

describe('more respellings are denied', () => {
  it.each(SPELLINGS)('%s', (cmd, id) => {
    expect(deniedBy(cmd)).toBe(id);
  });

  it('reads a mode written as an option anywhere among the arguments', () => {
    expect(deniedBy('chmod 644 f -s')).toBe(null); // -s clears the bits
    expect(deniedBy('chmod 644 f -g+s')).toBe('chmod-setuid');
  });
});

/** Ordinary work that must stay allowed, however the rules tighten. */
const HARMLESS = [
  'ls -la',
  "python3 -c 'print(1)'",
  '/usr/bin/python3 -c "print(1)"',
  'pip list',
  'chmod 755 f',
  'chmod 0755 f',
  'chmod =755 f',
  'chmod -R u+rwX,go-w dir',
  'chmod g-s dir',
  'chmod -x f',
  'chmod 1777 shared',
  'echo hi | cat',
  'kill -9 1234',
  'kill -9 10',
  'kill -- -12345',
  'kill -9 $!',
  'kill $(cat srv.pid)',
  'install -m 755 tool bin/tool',
  'install -Dm644 a.conf etc/a.conf',
  'mkdir -m 700 private',
  'chown 1000:1000 f',
  'chown 10:100 f',
  'chgrp 100 f',
  'dd if=/dev/zero of=disk.img bs=1M count=1',
  'dd if=img of=/dev/null',
  'echo x > /dev/null',
  'echo x > ./out.txt',
  'cd /tmp && echo x > out.txt',
  'cat /proc/sys/kernel/ostype',
  'sysctl kernel.ostype',
  'ls /usr/bin/py*',
  'ls *.py',
  'rm -f build/*.o',
  'echo $((1 + 2))',
  'echo "${HOME:-/tmp}"',
  'echo "${a:-$(date)}"',
  'echo "${a:-`date`}"',
  'printf "%s\\n" a b | sort',
  'ps aux | grep python',
  'git log --oneline | head -5',
  'find . -name "*.py" | xargs wc -l',
  'echo "a\\\\\nb"',
  "echo 'a\\\nb'",
  'ls \\\n  -la',
  '# a comment \\\nls',
];

describe('ordinary commands stay allowed', () => {
  it.each(HARMLESS)('%s', (cmd) => {
    expect(policy.check(cmd)).toMatchObject({ allowed: true });
  });
});

describe('what the words become is what is reported', () => {
  it('reports a joined line continuation as the shell reads it', () => {
    expect(policy.check('un\\\nshare -U true')).toMatchObject({
      allowed: false,
      rule: { id: 'namespace-escape' },
      command: 'unshare -U true',
    });
  });

  it('reports where a substitution inside ${…} sat', () => {
    expect(policy.check('echo "${a:-`unshare -U true`}"')).toMatchObject({
      allowed: false,
      command: 'unshare -U true',
      via: ['`…`'],
    });
  });
});
