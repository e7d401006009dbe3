// The seccomp program a Docker box loads is chosen by the engine's CPU, not the server's: the name mapping, one program
// per architecture, and a clear refusal for a CPU without one.
import { describe, expect, it } from 'vitest';
import { SandboxError } from '../../src/errors.js';
import { boxSeccompProgram } from '../../src/sandbox/docker/container-spec.js';
import { engineSeccompArch } from '../../src/sandbox/docker/engine.js';
import { seccompProgram } from '../../src/sandbox/seccomp.js';

/** The AUDIT_ARCH value a classic-BPF program compares against, as the little-endian k field of an instruction. */
function checksArch(program: Buffer, audit: number): boolean {
  for (let at = 0; at + 8 <= program.length; at += 8) if (program.readUInt32LE(at + 4) === audit) return true;
  return false;
}
const AUDIT_X86_64 = 0xc000003e;
const AUDIT_AARCH64 = 0xc00000b7;

describe('seccomp architecture of a Docker engine', () => {
  it('maps the Engine API architecture names', () => {
    expect(engineSeccompArch('x86_64')).toBe('x86_64');
    expect(engineSeccompArch('amd64')).toBe('x86_64');
    expect(engineSeccompArch('aarch64')).toBe('aarch64');
    expect(engineSeccompArch('ARM64')).toBe('aarch64');
    expect(engineSeccompArch('armv7l')).toBeNull();
    expect(engineSeccompArch('s390x')).toBeNull();
    expect(engineSeccompArch('')).toBeNull();
  });

  it("builds the program for the engine's CPU whatever the server's, once per architecture", () => {
    const arm = boxSeccompProgram({ arch: 'aarch64', architecture: 'aarch64' });
    const x86 = boxSeccompProgram({ arch: 'x86_64', architecture: 'x86_64' });
    expect(checksArch(arm, AUDIT_AARCH64)).toBe(true);
    expect(checksArch(arm, AUDIT_X86_64)).toBe(false);
    expect(checksArch(x86, AUDIT_X86_64)).toBe(true);
    expect(arm.equals(seccompProgram('aarch64'))).toBe(true);
    expect(boxSeccompProgram({ arch: 'aarch64', architecture: 'arm64' })).toBe(arm);
    expect(boxSeccompProgram({ arch: 'x86_64', architecture: 'amd64' })).toBe(x86);
  });

  it('refuses a box on an engine whose CPU has no program, naming it', () => {
    let err: unknown;
    try {
      boxSeccompProgram({ arch: null, architecture: 'riscv64' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).code).toBe('isolation_unavailable');
    expect((err as SandboxError).message).toMatch(/riscv64/);
  });
});
