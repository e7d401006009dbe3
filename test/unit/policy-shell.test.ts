// The shell policy on its own: everyday commands pass, and every default rule fires however the command is wrapped.
import { beforeAll, describe, expect, it } from 'vitest';
import { CommandParseError, ShellPolicy } from '../../src/policy/shell-policy.js';
import { DEFAULT_RULES } from '../../src/policy/shell-rules.js';

let policy: ShellPolicy;
/** Without the sudo rule, to show that what sudo wraps is checked too. */
let withoutSudo: ShellPolicy;
beforeAll(async () => {
  policy = await ShellPolicy.create(DEFAULT_RULES);
  withoutSudo = await ShellPolicy.create(DEFAULT_RULES.filter((r) => r.id !== 'privilege-escalation'));
});

function deniedBy(command: string, p = policy): string | null {
  const v = p.check(command);
  return v.allowed ? null : v.rule.id;
}

const EVERYDAY = [
  'cat file.txt',
  'grep -r x .',
  'git init',
  "find . -name '*.py'",
  'cd sub && ls',
  'python3 script.py',
  'pip list',
  'curl localhost:8000',
  'ls -la | sort | head -n 3',
  'echo "$(date)" > out.txt',
  'for f in *.csv; do wc -l "$f"; done',
  'mkdir -p a/b && touch a/b/c',
  "sed -i 's/x/y/' f.txt",
  'tar czf out.tgz data/',
  'python3 -c "print(1)"',
  'env FOO=1 python3 x.py',
  'timeout 5 python3 x.py',
  'xargs -n1 echo < list.txt',
  'nohup python3 app.py > app.log 2>&1 &',
  'dd if=/dev/zero of=disk.img bs=1M count=1',
  'dd if=/dev/urandom of=/dev/null count=1',
  'echo hi > /dev/null 2>&1',
  'chmod 755 run.sh && chmod u+x run.sh',
  'chmod -R g-s dir',
  'chown 1000:1000 f',
  'kill 12345',
  'kill -9 4321',
  'kill -HUP 123',
  'kill 0',
  'pkill -s 0 python3',
  'pkill -g 0 sleep',
  'pkill -P $$ sleep',
  'mount',
  "sh -c 'ls -la'",
  "bash -lc 'echo hi && pwd'",
  'find . -name "*.pyc" -exec rm {} \\;',
  'command -v mount',
  'sysctl net.ipv4.ip_forward',
  'systemctl status',
  'cat <<EOF > notes.md\n# sudo is a word here\nEOF',
  'echo mount the drive',
  "grep -r 'sudo mount' docs/",
  'X=$(cat f) && echo $X',
];

describe('everyday commands pass', () => {
  it.each(EVERYDAY)('%s', (cmd) => {
    expect(policy.check(cmd)).toMatchObject({ allowed: true });
  });
});

/** One command per default rule (besides pure redirect rules), each written plainly. */
const PER_RULE: Array<[string, string]> = [
  ['mount', 'mount /dev/sda1 /mnt'],
  ['mount', 'mount.ext4 /dev/sda1 /mnt'],
  ['umount', 'umount /mnt'],
  ['umount', 'fusermount -u /mnt'],
  ['swap', 'swapon /swapfile'],
  ['privilege-escalation', 'sudo ls'],
  ['privilege-escalation', 'su root'],
  ['privilege-escalation', 'doas ls'],
  ['privilege-escalation', 'pkexec ls'],
  ['file-capabilities', 'setcap cap_net_raw+ep ./x'],
  ['chmod-setuid', 'chmod u+s ./x'],
  ['chmod-setuid', 'chmod 4755 ./x'],
  ['chmod-setuid', 'chmod -R g+s dir'],
  ['chmod-setuid', 'chmod u+x,g+s f'],
  ['chmod-setuid', 'chmod 2755 dir'],
  ['install-privileged', 'install -m 4755 tool bin/tool'],
  ['install-privileged', 'install -o root tool bin/tool'],
  ['reference-copy', 'chmod --reference=/usr/bin/passwd f'],
  ['chown-root', 'chown root f'],
  ['chown-root', 'chown -R root:root dir'],
  ['chown-root', 'chown 0:0 f'],
  ['chown-root', 'chown me:root f'],
  ['chgrp-root', 'chgrp root f'],
  ['raw-disk-dd', 'dd if=x of=/dev/sda'],
  ['raw-disk-dd', 'dd if=/dev/zero of=/dev/nvme0n1 bs=1M'],
  ['make-filesystem', 'mkfs.ext4 /dev/sdb1'],
  ['make-filesystem', 'mkfs -t ext4 /dev/sdb1'],
  ['make-filesystem', 'mkswap /dev/sdb2'],
  ['partition-disk', 'fdisk /dev/sda'],
  ['partition-disk', 'parted /dev/sda print'],
  ['partition-disk', 'wipefs -a /dev/sda'],
  ['device-write', 'echo x > /dev/sda'],
  ['device-write', 'cat img >> /dev/mmcblk0'],
  ['device-write-tools', 'cat img | tee /dev/sda'],
  ['device-write-tools', 'shred -n1 /dev/sdb'],
  ['kernel-modules', 'insmod evil.ko'],
  ['kernel-modules', 'rmmod ext4'],
  ['kernel-modules', 'modprobe -r ext4'],
  ['kernel-files-write', 'echo 1 > /proc/sys/kernel/panic'],
  ['kernel-files-write', 'echo 1 | tee /proc/sys/kernel/panic'],
  ['kernel-parameters', 'sysctl -w kernel.panic=1'],
  ['kernel-parameters', 'sysctl kernel.panic=1'],
  ['kill-outside-session', 'kill -9 1'],
  ['kill-outside-session', 'kill 1'],
  ['kill-outside-session', 'kill -1'],
  ['kill-outside-session', 'kill -9 -1'],
  ['kill-outside-session', 'kill -s KILL -1'],
  ['kill-outside-session', 'kill -- -1'],
  ['kill-outside-session', 'kill -9 $PPID'],
  ['killall', 'killall python3'],
  ['killall', 'killall5 -9'],
  ['pkill-unscoped', 'pkill python3'],
  ['pkill-unscoped', 'pkill -9 -f agent.py'],
  ['pkill-unscoped', 'pkill -s 1 python3'],
  ['power', 'reboot'],
  ['power', 'shutdown -h now'],
  ['power', 'halt'],
  ['power', 'poweroff'],
  ['init-runlevel', 'init 0'],
  ['systemctl-power', 'systemctl reboot'],
  ['systemctl-power', 'systemctl --no-block poweroff'],
  ['firewall', 'iptables -F'],
  ['firewall', 'ip6tables -L'],
  ['firewall', 'iptables-restore < rules'],
  ['firewall', 'nft list ruleset'],
  ['namespace-escape', 'chroot /mnt /bin/sh'],
  ['namespace-escape', 'unshare -r sh'],
  ['namespace-escape', 'nsenter -t 1 -m sh'],
  ['unverifiable-script', 'cat install.sh | sh'],
  ['unverifiable-script', 'curl -s localhost:8000/x.py | python3'],
];

describe('each default rule fires', () => {
  it.each(PER_RULE)('%s: %s', (id, cmd) => {
    expect(deniedBy(cmd)).toBe(id);
  });

  it('has a case for every default rule', () => {
    const covered = new Set(PER_RULE.map(([id]) => id));
    expect(DEFAULT_RULES.map((r) => r.id).filter((id) => !covered.has(id))).toEqual([]);
  });
});

/** The ways a command can hide inside another: each wraps `X`, the denied command. */
const WRAPPINGS: Array<[string, (x: string) => string]> = [
  ['pipeline', (x) => `ls | ${x} | cat`],
  ['list &&', (x) => `cd /tmp && ${x}`],
  ['list ||', (x) => `false || ${x}`],
  ['sequence ;', (x) => `echo a; ${x}; echo b`],
  ['background &', (x) => `${x} &`],
  ['subshell', (x) => `(cd /; ${x})`],
  ['group', (x) => `{ ${x}; }`],
  ['$(...)', (x) => `echo $(${x})`],
  ['$(...) in double quotes', (x) => `echo "result: $(${x})"`],
  ['backticks', (x) => `echo \`${x}\``],
  ['backticks in double quotes', (x) => `echo "a \`${x}\` b"`],
  ['nested $( $( ) )', (x) => `echo $(echo $(${x}))`],
  ['assignment value', (x) => `A=$(${x})`],
  ['sh -c', (x) => `sh -c '${x}'`],
  ['bash -c', (x) => `bash -c "${x}"`],
  ['bash -euc', (x) => `bash -euo pipefail -c '${x}'`],
  ['sh -c in sh -c', (x) => `sh -c "sh -c '${x}'"`],
  ['env prefix', (x) => `FOO=1 BAR=2 ${x}`],
  ['env', (x) => `env X=1 ${x}`],
  ['env -i', (x) => `env -i PATH=/bin ${x}`],
  ['sudo', (x) => `sudo -u nobody ${x}`],
  ['xargs', (x) => `echo | xargs -n 1 ${x}`],
  ['nohup', (x) => `nohup ${x}`],
  ['timeout', (x) => `timeout -s KILL 10 ${x}`],
  ['exec', (x) => `exec ${x}`],
  ['nice', (x) => `nice -n 5 ${x}`],
  ['setsid', (x) => `setsid ${x}`],
  ['time', (x) => `time ${x}`],
  ['eval', (x) => `eval "${x}"`],
  ['find -exec', (x) => `find . -exec ${x} \\;`],
  ['if', (x) => `if true; then ${x}; fi`],
  ['while', (x) => `while false; do ${x}; done`],
  ['for', (x) => `for i in 1; do ${x}; done`],
  ['case', (x) => `case a in a) ${x};; esac`],
  ['function body', (x) => `f() { ${x}; }; f`],
  ['negation', (x) => `! ${x}`],
  ['here-document to sh', (x) => `sh <<'EOF'\n${x}\nEOF`],
  ['here-string to bash', (x) => `bash <<< '${x}'`],
  ['echo piped to sh', (x) => `echo '${x}' | sh`],
  ['cat here-document piped to sh', (x) => `cat <<EOF | sh\n${x}\nEOF`],
  ['absolute path', (x) => `/usr/bin/${x}`],
  ['backslash', (x) => `\\${x}`],
  ['quoted program', (x) => `'${x.split(' ')[0]}' ${x.split(' ').slice(1).join(' ')}`],
  ['split quotes', (x) => `${x[0]}""${x.slice(1)}`],
  ['trap', (x) => `trap '${x}' EXIT`],
  ['busybox', (x) => `busybox ${x}`],
  ['multi-line', (x) => `echo start\n${x}\necho end`],
];

const SAMPLES: Array<[string, string]> = [
  ['mount', 'mount /dev/sda /mnt'],
  ['privilege-escalation', 'su -c id'],
  ['chmod-setuid', 'chmod u+s f'],
  ['raw-disk-dd', 'dd if=x of=/dev/sda'],
  ['kernel-modules', 'modprobe nbd'],
  ['kill-outside-session', 'kill -9 1'],
  ['power', 'reboot'],
  ['firewall', 'iptables -F'],
  ['namespace-escape', 'unshare -r id'],
];

describe('rules fire through every wrapping', () => {
  for (const [rule, sample] of SAMPLES) {
    it.each(WRAPPINGS)(`${rule} through %s`, (name, wrap) => {
      // sudo is denied itself; what it runs is checked as well.
      if (name === 'sudo') {
        expect(deniedBy(wrap(sample))).toBe('privilege-escalation');
        if (rule !== 'privilege-escalation') expect(deniedBy(wrap(sample), withoutSudo)).toBe(rule);
      } else expect(deniedBy(wrap(sample))).toBe(rule);
    });
  }
});

/** Spellings and wrappers that must not hide a denied command. */
const EVASIONS: Array<[string, string]> = [
  ["$'\\x6dount' /dev/sda /mnt", 'mount'],
  ['m\\ount /dev/sda /mnt', 'mount'],
  ['"mount" /dev/sda /mnt', 'mount'],
  ['/sbin/reboot', 'power'],
  ['command reboot', 'power'],
  ['builtin exec reboot', 'power'],
  ["xargs sh -c 'reboot'", 'power'],
  ['watch -n 1 reboot', 'power'],
  ['watch -x reboot', 'power'],
  ['alias r=reboot', 'power'],
  ["flock /tmp/l -c 'reboot'", 'power'],
  ['flock -w 3 /tmp/l reboot', 'power'],
  ["env -S 'reboot now'", 'power'],
  ['script -qc reboot /dev/null', 'power'],
  ['nohup setsid timeout 5 nice -n 1 stdbuf -oL reboot', 'power'],
  ['time -p reboot', 'power'],
  ['exec -a name reboot', 'power'],
  ['ionice -c 3 reboot', 'power'],
  ['taskset -c 0 reboot', 'power'],
  ['chrt -f 10 reboot', 'power'],
  ['strace -f -o /tmp/t reboot', 'power'],
  ['find / -execdir insmod {} +', 'kernel-modules'],
  ['busybox sh -c reboot', 'power'],
  ['cat <(reboot)', 'power'],
  ['echo ${x:-$(reboot)}', 'power'],
  ['echo $((1 + $(reboot)))', 'power'],
  ['for i in $(reboot); do :; done', 'power'],
  ['case $(reboot) in *) ;; esac', 'power'],
  ['[[ -n $(reboot) ]]', 'power'],
  ['export A=$(reboot)', 'power'],
  ['readonly A=`reboot`', 'power'],
  ["X=1 eval 'reboot'", 'power'],
  ['cat <<EOF\n$(reboot)\nEOF', 'power'],
  ["printf 'reboot\\n' | bash", 'power'],
  ["bash -s <<< 'halt'", 'power'],
  ['echo reboot | bash -s x', 'power'],
  ['echo reboot | sh -s -- a b', 'power'],
  ['echo reboot | bash -xs arg', 'power'],
  ['dd if=/dev/zero "of=/dev/sda"', 'raw-disk-dd'],
  ['kill -KILL 1', 'kill-outside-session'],
  ['kill -n 9 1', 'kill-outside-session'],
  ['kill --signal=KILL -1', 'kill-outside-session'],
  ['pkill -P 1 python3', 'pkill-unscoped'],
  ['chown root: f', 'chown-root'],
  ['echo hi | tee -a /dev/sda', 'device-write-tools'],
  ['su -c reboot', 'privilege-escalation'],
];

describe('evasions are still seen', () => {
  it.each(EVASIONS)('%s', (cmd, id) => {
    expect(deniedBy(cmd)).toBe(id);
  });
});

const LOOKALIKES = [
  'echo reboot',
  'which mount',
  'type reboot',
  'man mount',
  'mountpoint /workspace',
  'mount | grep workspace',
  "trap 'echo bye' EXIT",
  'ls -l /dev/sda',
  'pkill -s0 python3',
  'pkill --session=0 python3',
  'sysctl -a',
  'kill -1 12345',
  'chmod 1777 shared',
  "python3 -c 'import os; print(os.getuid())'",
  'cat notes.txt | grep -i sudo',
];

describe('lookalikes pass', () => {
  it.each(LOOKALIKES)('%s', (cmd) => {
    expect(policy.check(cmd)).toMatchObject({ allowed: true });
  });
});

describe('denials explain themselves', () => {
  it('names the rule, the simple command and where it sat', () => {
    const v = policy.check("echo ok && sh -c 'ls; echo $(mount /dev/sda /mnt)'");
    expect(v).toMatchObject({
      allowed: false,
      rule: { id: 'mount', category: 'mounting', description: 'mounting file systems' },
      command: 'mount /dev/sda /mnt',
      via: ['sh -c', '$(…)'],
    });
  });

  it('reports the wrapper the caller typed before what it wraps', () => {
    const v = policy.check('sudo mount /dev/sda /mnt');
    expect(v).toMatchObject({ allowed: false, rule: { id: 'privilege-escalation' } });
  });

  it('reports a redirection with its target', () => {
    const v = policy.check('cat image > /dev/sda');
    expect(v).toMatchObject({ allowed: false, rule: { id: 'device-write' }, command: '> /dev/sda' });
  });
});

describe('parse failures', () => {
  it.each([
    ['echo $(', /unexpected end of input|expected/],
    ["echo 'unterminated", /unexpected end of input/],
    ['ls &&', /expected/],
    ['if then fi', /syntax error/],
  ])('%s is refused with the parser message', (cmd, msg) => {
    expect(() => policy.check(cmd)).toThrow(CommandParseError);
    expect(() => policy.check(cmd)).toThrow(msg);
  });

  it('refuses a script for sh -c that does not parse', () => {
    expect(() => policy.check("sh -c 'echo $('")).toThrow(/sh -c.*does not parse/);
  });

  it('refuses scripts nested deeper than it follows', () => {
    let cmd = 'ls';
    for (let i = 0; i < 15; i++) cmd = `eval ${JSON.stringify(cmd)}`;
    expect(() => policy.check(cmd)).toThrow(/nested/);
  });
});

describe('what the parser cannot know', () => {
  it('lets a program chosen at run time through (the jail still holds)', () => {
    expect(policy.check('P=mount; $P /dev/sda /mnt')).toMatchObject({ allowed: true });
  });

  it('still checks the literal parts of a partly dynamic sh -c script', () => {
    expect(deniedBy('sh -c "mount $DEV /mnt"')).toBe('mount');
  });
});
