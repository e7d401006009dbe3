// The shape of shell deny rules and the built-in defaults; plain data, so a policy file can add, replace or disable
// them. Rules describe what the sandbox user must not attempt; they must never be the only thing that stops it (the jail is).

export interface ArgCondition {
  /** Some argument (after the program) matches one of these regular expressions, matched against the whole argument. */
  any_arg?: string[];
  /** Some operand (an argument that is not an option; `--` ends the options) matches. */
  operand?: string[];
  /** The first operand matches. */
  first_operand?: string[];
  /** An option is given with a matching value: `-s 0`, `-s0`, `--session 0` and `--session=0` all count. */
  option_value?: Array<{ names: string[]; value: string }>;
  /** A process that `kill` would signal matches (the signal option is skipped the way kill skips it). */
  kill_target?: string[];
  /** The command has no arguments at all. */
  no_args?: boolean;
  /**
   * The program is a shell or interpreter known to the policy (sh, bash, python, perl, node, awk -f…) and reads
   * the program it runs from a pipe, a process substitution, /dev/stdin or /dev/fd/N, or a standard input the
   * policy cannot see: text it cannot verify. A here-document, a here-string or a file redirected in does not count.
   */
  script_from_stdin?: boolean;
}

export interface ShellRule {
  id: string;
  description: string;
  category: string;
  /** Shown to the caller with the denial: what to do instead. */
  hint?: string;
  /** Program names or globs, matched against the basename (`/usr/bin/mount` is `mount`). */
  programs?: string[];
  /** Every field given must hold (a list: any one of the conditions); absent: every call of the programs is denied. */
  when?: ArgCondition | ArgCondition[];
  /** The rule does not apply when any one of these holds. */
  unless?: ArgCondition[];
  /** Options that take the next argument as their value, so it is not mistaken for an operand. */
  options_with_value?: string[];
  /** Regular expressions on the file a redirection (`>`, `>>`, `&>`…) writes to, for any program. */
  redirect_to?: string[];
}

// Block devices and kernel memory; /dev/null, /dev/zero, /dev/stdout and friends are everyday targets.
const DEVICE =
  '/dev/(?:(?:sd|hd|vd|xvd)[a-z].*|nvme[0-9].*|mmcblk[0-9].*|loop[0-9].*|dm-[0-9].*|md[0-9].*|sr[0-9].*|mapper/.*|disk/.*|block/.*|mem|kmem|port)';

const NO_ROOT_HINT = 'commands already run as the sandbox user, and there is no root account to switch to';

/** A long option as GNU programs read it: any prefix of at least `min` letters (`--ref` is `--reference`). */
function longOption(name: string, min: number): string {
  let tail = '';
  for (let i = name.length - 1; i >= min; i--) tail = `(?:${name[i]}${tail})?`;
  return `--${name.slice(0, min)}${tail}`;
}

/** root, or uid/gid 0 however written (`0`, `00`, `+0`: GNU chown and chgrp read `+N` as a number). */
const ROOT_ID = '(?:root|\\+?0+)';

/** Numeric modes with a setuid/setgid bit: 4755, 04755, and `=4755`/`+6000` (GNU chmod takes = and + before digits). */
const SETID_NUMERIC = '[=+]?0*[2-7][0-7]{3}';

/** Symbolic modes that add s in some clause: u+s, g=rwxs, +s, a+rwx,g+s, u-x+s, and the option-like -x+s. */
const SETID_SYMBOLIC = '(?:[^,]*,)*[ugoa]*(?:[-+=][rwxXstugo]*)*[+=][rwxXtugo]*s[^,]*(?:,.*)?';

/** Kernel settings: writing them changes the machine, not the sandbox. */
const KERNEL_FILES = '/proc/sys/.+|/proc/sysrq-trigger|/sys/.+';

export const DEFAULT_RULES: readonly ShellRule[] = [
  {
    id: 'mount',
    category: 'mounting',
    description: 'mounting file systems',
    programs: ['mount', 'mount.*'],
    unless: [{ no_args: true }],
    hint: 'the sandbox cannot mount anything; work with files under /workspace (`cat /proc/mounts` lists mounts)',
  },
  {
    id: 'umount',
    category: 'mounting',
    description: 'unmounting file systems',
    programs: ['umount', 'umount.*', 'fusermount', 'fusermount3'],
  },
  {
    id: 'swap',
    category: 'mounting',
    description: 'enabling or disabling swap',
    programs: ['swapon', 'swapoff'],
  },
  {
    id: 'privilege-escalation',
    category: 'privilege',
    description: 'switching to another user or gaining privileges',
    programs: ['sudo', 'su', 'doas', 'pkexec', 'runuser', 'sg', 'newgrp', 'setpriv', 'capsh'],
    hint: NO_ROOT_HINT,
  },
  {
    id: 'file-capabilities',
    category: 'privilege',
    description: 'granting capabilities to a file',
    programs: ['setcap'],
    hint: NO_ROOT_HINT,
  },
  {
    id: 'chmod-setuid',
    category: 'privilege',
    description: 'setting the setuid or setgid bit',
    programs: ['chmod'],
    // GNU chmod also takes a mode written like an option (`chmod -x+s f`), anywhere among its arguments.
    when: [{ first_operand: [SETID_NUMERIC] }, { any_arg: [SETID_SYMBOLIC] }],
    hint: 'ordinary permissions (chmod 755, chmod u+x) are fine; set-id bits give nothing in the sandbox',
  },
  {
    id: 'install-privileged',
    category: 'privilege',
    description: 'creating files or directories setuid, setgid or owned by root',
    programs: ['install', 'mkdir', 'mkfifo', 'mknod'],
    when: [
      { option_value: [{ names: ['-m', '--mode'], value: `${SETID_NUMERIC}|${SETID_SYMBOLIC}` }] },
      { option_value: [{ names: ['-o', '--owner', '-g', '--group'], value: `${ROOT_ID}` }] },
    ],
    hint: 'install -m 755 and mkdir -m 755 are fine; set-id bits and root ownership give nothing in the sandbox',
  },
  {
    id: 'reference-copy',
    category: 'privilege',
    description: 'copying the mode or owner of another file, which the policy cannot see',
    programs: ['chmod', 'chown', 'chgrp'],
    when: { any_arg: [`${longOption('reference', 3)}(?:=.*)?`] },
    hint: 'give the mode or owner explicitly (chmod 755 f, chown 1000:1000 f)',
  },
  {
    id: 'chown-root',
    category: 'privilege',
    description: 'giving files to root',
    programs: ['chown'],
    when: { first_operand: [`${ROOT_ID}(?:[:.].*)?`, `[^:.]*[:.]${ROOT_ID}`] },
    options_with_value: ['--from'],
    hint: NO_ROOT_HINT,
  },
  {
    id: 'chgrp-root',
    category: 'privilege',
    description: "giving files to root's group",
    programs: ['chgrp'],
    when: { first_operand: [ROOT_ID] },
    hint: NO_ROOT_HINT,
  },
  {
    id: 'raw-disk-dd',
    category: 'raw-disk',
    description: 'writing to a device with dd',
    programs: ['dd'],
    when: { any_arg: ['of=/dev/(?!(?:null|zero|full|stdout|stderr|tty|fd/.*|shm/.*)$).+'] },
    hint: 'dd into a file under /workspace works (of=disk.img)',
  },
  {
    id: 'make-filesystem',
    category: 'raw-disk',
    description: 'creating file systems or swap areas',
    programs: ['mkfs', 'mkfs.*', 'mke2fs', 'mkswap', 'mkdosfs', 'mkntfs', 'mkexfatfs', 'mformat'],
  },
  {
    id: 'partition-disk',
    category: 'raw-disk',
    description: 'partitioning, wiping or mapping block devices',
    programs: [
      'fdisk',
      'sfdisk',
      'cfdisk',
      'gdisk',
      'sgdisk',
      'cgdisk',
      'parted',
      'partprobe',
      'wipefs',
      'blkdiscard',
      'losetup',
      'dmsetup',
      'cryptsetup',
      'mdadm',
    ],
  },
  {
    id: 'device-write',
    category: 'raw-disk',
    description: 'writing to a block device or kernel memory through a redirection',
    redirect_to: [DEVICE],
  },
  {
    id: 'device-write-tools',
    category: 'raw-disk',
    description: 'copying to or from, wiping or truncating a block device or kernel memory',
    programs: ['tee', 'shred', 'truncate', 'cp', 'mv', 'install'],
    when: { operand: [DEVICE] },
  },
  {
    id: 'kernel-modules',
    category: 'kernel',
    description: 'loading or removing kernel modules, or loading a new kernel',
    programs: ['insmod', 'rmmod', 'modprobe', 'depmod', 'kmod', 'kexec'],
  },
  {
    id: 'kernel-parameters',
    category: 'kernel',
    description: 'changing kernel parameters',
    programs: ['sysctl'],
    when: { any_arg: ['-w', '--write', '-p.*', '--load.*', '--system', '[^-].*=.*'] },
    hint: 'reading them works: sysctl NAME, or cat /proc/sys/...',
  },
  {
    id: 'kernel-files-write',
    category: 'kernel',
    description: 'writing kernel settings under /proc/sys or /sys, or to /proc/sysrq-trigger',
    redirect_to: [KERNEL_FILES],
    programs: ['tee', 'truncate', 'dd'],
    when: [{ operand: [KERNEL_FILES] }, { any_arg: [`of=(?:${KERNEL_FILES})`] }],
    hint: 'reading them works (cat /proc/sys/...); kernel settings cannot be changed from the sandbox',
  },
  {
    id: 'kill-outside-session',
    category: 'signals',
    description: "signalling pid 1, every process (-1) or the sandbox's supervisor ($PPID)",
    programs: ['kill'],
    // Any target written with PPID ($PPID, "${PPID}", $((PPID))); numbers are read as numbers (-01 is -1).
    when: { kill_target: ['-?1', '.*PPID.*'] },
    hint: "signal the processes you started by their pid, or use `kill 0` for this command's own process group",
  },
  {
    id: 'killall',
    category: 'signals',
    description: 'signalling every process with a name, including the sandbox supervisor and Python kernel',
    programs: ['killall', 'killall5'],
    hint: "use pkill -s 0 NAME (only this command's processes) or kill PID",
  },
  {
    id: 'pkill-unscoped',
    category: 'signals',
    description: "pkill without limiting it to this command's own processes",
    programs: ['pkill'],
    unless: [
      { option_value: [{ names: ['-s', '--session'], value: '0' }] },
      { option_value: [{ names: ['-g', '--pgroup'], value: '0' }] },
      { option_value: [{ names: ['-P', '--parent'], value: '\\$\\$' }] },
    ],
    hint: "add -s 0 (this command's session), -g 0 (its process group) or -P $$ (children of this shell); `python` alone would also match the session's own kernel",
  },
  {
    id: 'power',
    category: 'power',
    description: 'rebooting, halting or powering off',
    programs: ['reboot', 'shutdown', 'halt', 'poweroff', 'telinit'],
  },
  {
    id: 'init-runlevel',
    category: 'power',
    description: 'changing the runlevel',
    programs: ['init'],
    when: { first_operand: ['[0-6sSqQuU]'] },
  },
  {
    id: 'systemctl-power',
    category: 'power',
    description: "changing the machine's power state through systemctl",
    programs: ['systemctl'],
    when: {
      operand: [
        'reboot',
        'soft-reboot',
        'poweroff',
        'halt',
        'kexec',
        'suspend',
        'hibernate',
        'hybrid-sleep',
        'suspend-then-hibernate',
        'emergency',
        'rescue',
      ],
    },
    options_with_value: [
      '-H',
      '--host',
      '-M',
      '--machine',
      '-t',
      '--type',
      '-p',
      '--property',
      '-s',
      '--signal',
      '-o',
      '--output',
      '-n',
      '--lines',
      '--root',
    ],
  },
  {
    id: 'firewall',
    category: 'network',
    description: 'changing firewall rules',
    programs: [
      'iptables',
      'iptables-*',
      'ip6tables',
      'ip6tables-*',
      'xtables-*',
      'nft',
      'ebtables',
      'arptables',
      'ufw',
      'firewall-cmd',
    ],
    hint: "the session's network is set by its network policy (create_session(network=...)), not from inside",
  },
  {
    id: 'namespace-escape',
    category: 'isolation',
    description: 'changing the root directory or entering or creating namespaces',
    programs: ['chroot', 'unshare', 'nsenter', 'pivot_root', 'switch_root'],
    hint: 'the sandbox already has namespaces of its own; nothing needs entering or creating',
  },
  {
    id: 'unverifiable-script',
    category: 'unverifiable',
    description:
      'a shell or interpreter running a program it reads from a pipe or another stream, which the policy cannot read',
    // Only the shells and interpreters the policy knows set the condition (see docs/SHELL_POLICY.md).
    programs: ['*', '.'],
    when: { script_from_stdin: true },
    hint:
      "pass the program as an argument (sh -c '…', python3 -c '…'), as a file (sh x.sh, python3 x.py) or as a " +
      'here-document (python3 - <<\'EOF\' … EOF); an operator can allow this with "disable": ["unverifiable-script"] in the policy file',
  },
];
