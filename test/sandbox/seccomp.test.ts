// Unit tests of the seccomp program, run through a small classic-BPF interpreter; the real kernel check is in jail.test.ts. Never loads a filter into the test process.
import { describe, expect, it } from 'vitest';
import {
  DENIED_SYSCALLS,
  hostSeccompArch,
  seccompProgram,
  seccompSupported,
  type SeccompArch,
} from '../../src/sandbox/seccomp.js';

const AUDIT = { x86_64: 0xc000003e, aarch64: 0xc00000b7 } as const;
const ALLOW = 0x7fff0000;
const EPERM = 0x00050001;
const ENOSYS = 0x00050026;
const EAFNOSUPPORT = 0x00050061;
const AF = {
  UNIX: 1,
  INET: 2,
  INET6: 10,
  NETLINK: 16,
  PACKET: 17,
  ALG: 38,
  VSOCK: 40,
  BLUETOOTH: 31,
} as const;
const KILL_PROCESS = 0x80000000;

/** Evaluates a classic-BPF seccomp program against one syscall, as the kernel would (only the opcodes it may use). */
function run(program: Buffer, data: { nr: number; arch: number; args?: number[] }): number {
  const mem = Buffer.alloc(64);
  mem.writeUInt32LE(data.nr >>> 0, 0);
  mem.writeUInt32LE(data.arch >>> 0, 4);
  (data.args ?? []).forEach((a, i) => mem.writeBigUInt64LE(BigInt(a), 16 + 8 * i));
  let acc = 0;
  for (let pc = 0; pc < program.length / 8;) {
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    switch (code) {
      case 0x20: // ld [k]
        acc = mem.readUInt32LE(k);
        pc++;
        break;
      case 0x15: // jeq
        pc += 1 + (acc === k ? jt : jf);
        break;
      case 0x35: // jge
        pc += 1 + (acc >= k ? jt : jf);
        break;
      case 0x45: // jset
        pc += 1 + ((acc & k) !== 0 ? jt : jf);
        break;
      case 0x06: // ret k
        return k;
      default:
        throw new Error(`unexpected opcode ${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error('fell off the end of the program');
}

const NR = {
  x86_64: {
    read: 0,
    write: 1,
    openat: 257,
    mmap: 9,
    futex: 202,
    execve: 59,
    wait4: 61,
    clone: 56,
    clone3: 435,
    mount: 165,
    ptrace: 101,
    unshare: 272,
    bpf: 321,
    keyctl: 250,
    io_uring_setup: 425,
    kexec_load: 246,
    setns: 308,
    io_setup: 206,
    io_submit: 209,
    inotify_init1: 294,
    socket: 41,
    socketpair: 53,
  },
  aarch64: {
    read: 63,
    write: 64,
    openat: 56,
    mmap: 222,
    futex: 98,
    execve: 221,
    wait4: 260,
    clone: 220,
    clone3: 435,
    mount: 40,
    ptrace: 117,
    unshare: 97,
    bpf: 280,
    keyctl: 219,
    io_uring_setup: 425,
    kexec_load: 104,
    setns: 268,
    io_setup: 0,
    io_submit: 2,
    inotify_init1: 26,
    socket: 198,
    socketpair: 199,
  },
} as const;

const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNET = 0x40000000;
const SIGCHLD = 17;
// what glibc passes for fork() and pthread_create()
const FORK_FLAGS = 0x01200000 | SIGCHLD;
const THREAD_FLAGS = 0x003d0f00;

describe.each(['x86_64', 'aarch64'] as SeccompArch[])('seccompProgram(%s)', (arch) => {
  const program = seccompProgram(arch);
  const nr = NR[arch];
  const call = (n: number, args?: number[]) =>
    run(program, { nr: n, arch: AUDIT[arch], ...(args ? { args } : {}) });

  it('is an array of 8-byte sock_filter entries within the kernel limit', () => {
    expect(program.length % 8).toBe(0);
    expect(program.length / 8).toBeLessThan(4096);
    // first instruction loads the arch field
    expect(program.readUInt16LE(0)).toBe(0x20);
    expect(program.readUInt32LE(4)).toBe(4);
  });

  it('allows what Python, numpy and subprocesses need', () => {
    for (const n of [nr.read, nr.write, nr.openat, nr.mmap, nr.futex, nr.execve, nr.wait4])
      expect(call(n)).toBe(ALLOW);
    expect(call(nr.clone, [FORK_FLAGS])).toBe(ALLOW);
    expect(call(nr.clone, [THREAD_FLAGS])).toBe(ALLOW);
  });

  it('fails denied syscalls with EPERM', () => {
    for (const n of [
      nr.mount,
      nr.ptrace,
      nr.unshare,
      nr.bpf,
      nr.keyctl,
      nr.io_uring_setup,
      nr.kexec_load,
      nr.setns,
    ])
      expect(call(n)).toBe(EPERM);
  });

  it('denies clone with namespace flags, even combined with ordinary ones', () => {
    expect(call(nr.clone, [CLONE_NEWUSER | SIGCHLD])).toBe(EPERM);
    expect(call(nr.clone, [FORK_FLAGS | CLONE_NEWNET])).toBe(EPERM);
  });

  it('answers clone3 with ENOSYS so libc falls back to clone', () => {
    expect(call(nr.clone3)).toBe(ENOSYS);
  });

  it('answers ENOSYS to kernel AIO and inotify, which draw on limits shared beyond the box', () => {
    for (const n of [nr.io_setup, nr.io_submit, nr.inotify_init1]) expect(call(n)).toBe(ENOSYS);
    if (arch === 'x86_64') expect(call(253 /* inotify_init */)).toBe(ENOSYS);
  });

  it('opens local, IPv4, IPv6 and netlink sockets only', () => {
    for (const family of [AF.UNIX, AF.INET, AF.INET6, AF.NETLINK]) {
      expect(call(nr.socket, [family, 1, 0])).toBe(ALLOW);
      expect(call(nr.socketpair, [family, 1, 0, 0])).toBe(ALLOW);
    }
    for (const family of [AF.VSOCK, AF.ALG, AF.PACKET, AF.BLUETOOTH, 0, 255]) {
      expect(call(nr.socket, [family, 1, 0])).toBe(EAFNOSUPPORT);
      expect(call(nr.socketpair, [family, 1, 0, 0])).toBe(EAFNOSUPPORT);
    }
    // the family is an int: high bits of the register do not change the verdict
    expect(call(nr.socket, [AF.VSOCK + 2 ** 32, 1, 0])).toBe(EAFNOSUPPORT);
  });

  it('kills the process on a foreign architecture', () => {
    const other = arch === 'x86_64' ? AUDIT.aarch64 : AUDIT.x86_64;
    expect(run(program, { nr: nr.read, arch: other })).toBe(KILL_PROCESS);
    expect(run(program, { nr: 0, arch: 0x40000003 /* i386 */ })).toBe(KILL_PROCESS);
  });
});

describe('seccomp program details', () => {
  it('kills x32 syscalls on x86_64, which share the arch value but not the numbers', () => {
    const x32Read = 0x40000000;
    expect(run(seccompProgram('x86_64'), { nr: x32Read, arch: AUDIT.x86_64 })).toBe(KILL_PROCESS);
    expect(run(seccompProgram('x86_64'), { nr: x32Read + 165, arch: AUDIT.x86_64 })).toBe(KILL_PROCESS);
  });

  it('names the syscalls the brief requires in its denylist', () => {
    for (const name of [
      'mount',
      'umount2',
      'pivot_root',
      'swapon',
      'swapoff',
      'reboot',
      'kexec_load',
      'kexec_file_load',
      'init_module',
      'finit_module',
      'delete_module',
      'bpf',
      'perf_event_open',
      'userfaultfd',
      'keyctl',
      'add_key',
      'request_key',
      'ptrace',
      'process_vm_readv',
      'process_vm_writev',
      'open_by_handle_at',
      'name_to_handle_at',
      'unshare',
      'setns',
      'acct',
      'settimeofday',
      'clock_settime',
      'lookup_dcookie',
      'iopl',
      'ioperm',
      'vhangup',
      'quotactl',
      'nfsservctl',
    ]) {
      expect(DENIED_SYSCALLS).toContain(name);
    }
  });

  it('reports support on this host', () => {
    expect(hostSeccompArch()).toBe('x86_64');
    expect(seccompSupported()).toEqual({ ok: true, arch: 'x86_64' });
  });
});
