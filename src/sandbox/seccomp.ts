// Generates the classic-BPF seccomp program bwrap loads into every box (a denylist of kernel attack surface Python never needs); it must never deny what ordinary Python, numpy or subprocesses use.
import { readFileSync } from 'node:fs';

export type SeccompArch = 'x86_64' | 'aarch64';

export interface SeccompSupport {
  ok: boolean;
  arch: string;
  reason?: string;
}

// Syscall numbers from the kernel's uapi headers (asm/unistd_64.h for x86_64, asm-generic/unistd.h for aarch64).
// A name missing for an arch does not exist there.
const SYSCALLS: Record<string, { x86_64?: number; aarch64?: number }> = {
  // filesystem namespace manipulation: the jail's mounts must stay as bwrap left them
  mount: { x86_64: 165, aarch64: 40 },
  umount2: { x86_64: 166, aarch64: 39 },
  pivot_root: { x86_64: 155, aarch64: 41 },
  chroot: { x86_64: 161, aarch64: 51 },
  open_tree: { x86_64: 428, aarch64: 428 },
  move_mount: { x86_64: 429, aarch64: 429 },
  fsopen: { x86_64: 430, aarch64: 430 },
  fsconfig: { x86_64: 431, aarch64: 431 },
  fsmount: { x86_64: 432, aarch64: 432 },
  fspick: { x86_64: 433, aarch64: 433 },
  mount_setattr: { x86_64: 442, aarch64: 442 },
  // namespaces: new ones are the classic way to regain capabilities over kernel code paths
  unshare: { x86_64: 272, aarch64: 97 },
  setns: { x86_64: 308, aarch64: 268 },
  // machine administration
  swapon: { x86_64: 167, aarch64: 224 },
  swapoff: { x86_64: 168, aarch64: 225 },
  reboot: { x86_64: 169, aarch64: 142 },
  sethostname: { x86_64: 170, aarch64: 161 },
  setdomainname: { x86_64: 171, aarch64: 162 },
  iopl: { x86_64: 172 },
  ioperm: { x86_64: 173 },
  create_module: { x86_64: 174 },
  init_module: { x86_64: 175, aarch64: 105 },
  finit_module: { x86_64: 313, aarch64: 273 },
  delete_module: { x86_64: 176, aarch64: 106 },
  get_kernel_syms: { x86_64: 177 },
  query_module: { x86_64: 178 },
  kexec_load: { x86_64: 246, aarch64: 104 },
  kexec_file_load: { x86_64: 320, aarch64: 294 },
  quotactl: { x86_64: 179, aarch64: 60 },
  quotactl_fd: { x86_64: 443, aarch64: 443 },
  nfsservctl: { x86_64: 180, aarch64: 42 },
  acct: { x86_64: 163, aarch64: 89 },
  settimeofday: { x86_64: 164, aarch64: 170 },
  clock_settime: { x86_64: 227, aarch64: 112 },
  clock_adjtime: { x86_64: 305, aarch64: 266 },
  _sysctl: { x86_64: 156 },
  uselib: { x86_64: 134 },
  vhangup: { x86_64: 153, aarch64: 58 },
  syslog: { x86_64: 103, aarch64: 116 },
  lookup_dcookie: { x86_64: 212, aarch64: 18 },
  // other processes' memory
  ptrace: { x86_64: 101, aarch64: 117 },
  process_vm_readv: { x86_64: 310, aarch64: 270 },
  process_vm_writev: { x86_64: 311, aarch64: 271 },
  process_madvise: { x86_64: 440, aarch64: 440 },
  pidfd_getfd: { x86_64: 438, aarch64: 438 },
  kcmp: { x86_64: 312, aarch64: 272 },
  // large, bug-prone kernel subsystems
  bpf: { x86_64: 321, aarch64: 280 },
  perf_event_open: { x86_64: 298, aarch64: 241 },
  userfaultfd: { x86_64: 323, aarch64: 282 },
  io_uring_setup: { x86_64: 425, aarch64: 425 },
  io_uring_enter: { x86_64: 426, aarch64: 426 },
  io_uring_register: { x86_64: 427, aarch64: 427 },
  fanotify_init: { x86_64: 300, aarch64: 262 },
  keyctl: { x86_64: 250, aarch64: 219 },
  add_key: { x86_64: 248, aarch64: 217 },
  request_key: { x86_64: 249, aarch64: 218 },
  // file handles bypass the mount tree (the "shocker" container escape)
  open_by_handle_at: { x86_64: 304, aarch64: 265 },
  name_to_handle_at: { x86_64: 303, aarch64: 264 },
};

// Calls that answer ENOSYS, as on a kernel built without them, so software falls back as it does there. Each draws on
// a limit shared beyond the box: kernel AIO contexts count against the host-wide fs.aio-max-nr, and inotify instances
// against the box uid's per-user limit (128 by default), which every box of the host (or an ordinary user's server,
// its desktop and its own file watch) shares: one box holding them all left none to anyone else.
const UNAVAILABLE: Record<string, { x86_64?: number; aarch64?: number }> = {
  io_setup: { x86_64: 206, aarch64: 0 },
  io_destroy: { x86_64: 207, aarch64: 1 },
  io_getevents: { x86_64: 208, aarch64: 4 },
  io_submit: { x86_64: 209, aarch64: 2 },
  io_cancel: { x86_64: 210, aarch64: 3 },
  io_pgetevents: { x86_64: 333, aarch64: 292 },
  inotify_init: { x86_64: 253 },
  inotify_init1: { x86_64: 294, aarch64: 26 },
};

// Socket families a box may open: local sockets, IPv4 and IPv6 (the network namespace decides what they reach), and
// netlink (glibc's getaddrinfo asks it which address families are configured). The others answer EAFNOSUPPORT: they
// reach past the network namespace (AF_VSOCK talks to the hypervisor whatever the namespace) or into large kernel
// subsystems a Python program never needs (AF_ALG, AF_PACKET, AF_BLUETOOTH, ...).
const SOCKET_CALLS = [
  { name: 'socket', x86_64: 41, aarch64: 198 },
  { name: 'socketpair', x86_64: 53, aarch64: 199 },
] as const;
/** AF_UNIX, AF_INET, AF_INET6, AF_NETLINK. */
export const ALLOWED_SOCKET_FAMILIES: readonly number[] = [1, 2, 10, 16];

// Calls that set a file's mode, with the index of their mode argument: a mode with setuid or setgid is refused, so no
// file the box makes can ever be setuid or setgid on the host, whichever uid the box maps to.
const MODE_SETTERS: Array<{ name: string; x86_64?: number; aarch64?: number; arg: number }> = [
  { name: 'chmod', x86_64: 90, arg: 1 },
  { name: 'fchmod', x86_64: 91, aarch64: 52, arg: 1 },
  { name: 'fchmodat', x86_64: 268, aarch64: 53, arg: 2 },
  { name: 'fchmodat2', x86_64: 452, aarch64: 452, arg: 2 },
  { name: 'open', x86_64: 2, arg: 2 },
  { name: 'openat', x86_64: 257, aarch64: 56, arg: 3 },
  { name: 'creat', x86_64: 85, arg: 1 },
  { name: 'mkdir', x86_64: 83, arg: 1 },
  { name: 'mkdirat', x86_64: 258, aarch64: 34, arg: 2 },
  { name: 'mknod', x86_64: 133, arg: 1 },
  { name: 'mknodat', x86_64: 259, aarch64: 33, arg: 2 },
];
const S_ISUID_ISGID = 0o6000;
// openat2's mode sits behind a pointer BPF cannot follow; libc and Python fall back to openat on ENOSYS
const OPENAT2 = { x86_64: 437, aarch64: 437 } as const;

/** The calls whose mode argument is checked for setuid/setgid bits. */
export const MODE_CHECKED_SYSCALLS: readonly string[] = MODE_SETTERS.map((m) => m.name);

const CLONE = { x86_64: 56, aarch64: 220 } as const;
const CLONE3 = { x86_64: 435, aarch64: 435 } as const;

/** Syscalls that fail with EPERM inside the box. clone with namespace flags fails too; clone3 fails with ENOSYS. */
export const DENIED_SYSCALLS: readonly string[] = Object.keys(SYSCALLS);

/** Syscalls that fail with ENOSYS inside the box (besides clone3 and openat2, whose arguments BPF cannot see). */
export const UNAVAILABLE_SYSCALLS: readonly string[] = Object.keys(UNAVAILABLE);

const AUDIT_ARCH = { x86_64: 0xc000003e, aarch64: 0xc00000b7 } as const;
const X32_SYSCALL_BIT = 0x40000000;
// CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET. CLONE_NEWTIME shares its bit with the exit signal in clone().
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

const BPF_LD_W_ABS = 0x20;
const BPF_JMP_JEQ_K = 0x15;
const BPF_JMP_JGE_K = 0x35;
const BPF_JMP_JSET_K = 0x45;
const BPF_RET_K = 0x06;

const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const EPERM = 1;
const ENOSYS = 38;
const EAFNOSUPPORT = 97;

// struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
const OFF_NR = 0;
const OFF_ARCH = 4;
const OFF_ARG0_LOW = 16; // little-endian on both supported arches

type Label = 'kill' | 'deny' | 'enosys' | 'eafnosupport' | 'allow';
// A jump target is a label, or a number of instructions to skip
type Insn =
  | { code: number; k: number; jt?: Label | number; jf?: Label | number; label?: undefined }
  | { label: Label; code: number; k: number; jt?: undefined; jf?: undefined };

function assemble(program: Insn[]): Buffer {
  const at = new Map<Label, number>();
  program.forEach((insn, i) => {
    if (insn.label !== undefined) at.set(insn.label, i);
  });
  const buf = Buffer.alloc(program.length * 8);
  program.forEach((insn, i) => {
    const rel = (target: Label | number | undefined): number => {
      if (target === undefined) return 0;
      if (typeof target === 'number') return target;
      const dest = at.get(target);
      if (dest === undefined) throw new Error(`seccomp: undefined label ${target}`);
      const off = dest - i - 1;
      // classic BPF jumps are forward-only u8 offsets
      if (off < 0 || off > 255) throw new Error(`seccomp: jump to ${target} out of range (${off})`);
      return off;
    };
    buf.writeUInt16LE(insn.code, i * 8);
    buf.writeUInt8(rel(insn.jt), i * 8 + 2);
    buf.writeUInt8(rel(insn.jf), i * 8 + 3);
    buf.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return buf;
}

/** The program as bwrap's --seccomp expects it: an array of struct sock_filter, native (little) endian. */
export function seccompProgram(arch: SeccompArch): Buffer {
  const numbers = (table: Record<string, { x86_64?: number; aarch64?: number }>): number[] =>
    Object.values(table)
      .map((nums) => nums[arch])
      .filter((n): n is number => n !== undefined);
  const denied = numbers(SYSCALLS);
  const p: Insn[] = [
    { code: BPF_LD_W_ABS, k: OFF_ARCH },
    // a foreign ABI (i386 via int 0x80, arm32 compat) has different numbers, so the denylist would not apply
    { code: BPF_JMP_JEQ_K, k: AUDIT_ARCH[arch], jf: 'kill' },
    { code: BPF_LD_W_ABS, k: OFF_NR },
  ];
  // x32 shares AUDIT_ARCH_X86_64 but numbers its syscalls above this bit
  if (arch === 'x86_64') p.push({ code: BPF_JMP_JGE_K, k: X32_SYSCALL_BIT, jt: 'kill' });
  for (const nr of denied) p.push({ code: BPF_JMP_JEQ_K, k: nr, jt: 'deny' });
  for (const nr of numbers(UNAVAILABLE)) p.push({ code: BPF_JMP_JEQ_K, k: nr, jt: 'enosys' });
  for (const call of SOCKET_CALLS) {
    // not this call: skip the family checks, the accumulator still holds the number
    p.push({ code: BPF_JMP_JEQ_K, k: call[arch], jf: 1 + ALLOWED_SOCKET_FAMILIES.length });
    p.push({ code: BPF_LD_W_ABS, k: OFF_ARG0_LOW });
    ALLOWED_SOCKET_FAMILIES.forEach((family, i) => {
      const last = i === ALLOWED_SOCKET_FAMILIES.length - 1;
      p.push({ code: BPF_JMP_JEQ_K, k: family, jt: 'allow', ...(last && { jf: 'eafnosupport' as const }) });
    });
  }
  for (const m of MODE_SETTERS) {
    const nr = m[arch];
    if (nr === undefined) continue;
    // not this call: skip its two checks, the accumulator still holds the number
    p.push({ code: BPF_JMP_JEQ_K, k: nr, jf: 2 });
    p.push({ code: BPF_LD_W_ABS, k: OFF_ARG0_LOW + 8 * m.arg });
    p.push({ code: BPF_JMP_JSET_K, k: S_ISUID_ISGID, jt: 'deny', jf: 'allow' });
  }
  p.push({ code: BPF_JMP_JEQ_K, k: OPENAT2[arch], jt: 'enosys' });
  // glibc falls back to clone() on ENOSYS; clone3's flags sit behind a pointer BPF cannot follow
  p.push({ code: BPF_JMP_JEQ_K, k: CLONE3[arch], jt: 'enosys' });
  p.push({ code: BPF_JMP_JEQ_K, k: CLONE[arch], jf: 'allow' });
  p.push({ code: BPF_LD_W_ABS, k: OFF_ARG0_LOW });
  p.push({ code: BPF_JMP_JSET_K, k: CLONE_NAMESPACE_FLAGS, jt: 'deny', jf: 'allow' });
  p.push({ label: 'allow', code: BPF_RET_K, k: SECCOMP_RET_ALLOW });
  p.push({ label: 'deny', code: BPF_RET_K, k: SECCOMP_RET_ERRNO | EPERM });
  p.push({ label: 'enosys', code: BPF_RET_K, k: SECCOMP_RET_ERRNO | ENOSYS });
  p.push({ label: 'eafnosupport', code: BPF_RET_K, k: SECCOMP_RET_ERRNO | EAFNOSUPPORT });
  p.push({ label: 'kill', code: BPF_RET_K, k: SECCOMP_RET_KILL_PROCESS });
  return assemble(p);
}

/** The seccomp architecture of this Node process, or null when no program exists for it. */
export function hostSeccompArch(): SeccompArch | null {
  if (process.arch === 'x64') return 'x86_64';
  if (process.arch === 'arm64') return 'aarch64';
  return null;
}

export function seccompSupported(): SeccompSupport {
  const arch = hostSeccompArch();
  if (process.platform !== 'linux') return { ok: false, arch: process.arch, reason: 'seccomp is Linux-only' };
  if (arch === null) {
    return {
      ok: false,
      arch: process.arch,
      reason: `no seccomp program for ${process.arch} (only x86_64 and aarch64)`,
    };
  }
  try {
    // The field exists only when the kernel was built with CONFIG_SECCOMP.
    if (!/^Seccomp:/m.test(readFileSync('/proc/self/status', 'utf8'))) {
      return { ok: false, arch, reason: 'kernel built without CONFIG_SECCOMP' };
    }
  } catch (err) {
    return { ok: false, arch, reason: `cannot read /proc/self/status: ${(err as Error).message}` };
  }
  return { ok: true, arch };
}
