// Tests of `doctor`: on this machine every protection is seen to hold, and without bwrap or a usable python nothing is claimed. Never leaves its probe cgroup behind.
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostCgroupLayout } from '../../src/sandbox/cgroups.js';
import { PROTECTIONS, formatDoctorReport, runDoctor, type DoctorReport } from '../../src/sandbox/doctor.js';
import { boxCgroupCandidates, liveBoxCgroupCount } from '../e2e/box-cgroups.js';

const hasBwrap = existsSync('/usr/bin/bwrap');
const agentDir = resolve(import.meta.dirname, '../../src/agent');

describe('runDoctor', () => {
  it('reports every protection as not enforced, with the install fix, when bwrap is missing', async () => {
    const report = await runDoctor({ bwrapPath: '/nonexistent/bwrap', python: '/usr/bin/python3', agentDir });
    expect(report.bwrap).toEqual({ path: null, version: null });
    expect(report.protections.map((p) => p.name)).toEqual(PROTECTIONS);
    for (const p of report.protections) {
      expect(p.enforced).toBe(false);
      expect(p.fix).toMatch(/apt-get install bubblewrap/);
    }
    expect(report.allEnforced).toBe(false);
    expect(report.notes.join(' ')).toMatch(/--isolation none/);
    const text = formatDoctorReport(report);
    expect(text).toMatch(/bubblewrap: not found/);
    // the same advice for all eight protections is printed once
    expect(text.match(/apt-get install bubblewrap/g)).toHaveLength(1);
  });

  it.skipIf(!hasBwrap)('sees every protection hold on this machine, by the expected mechanism', async () => {
    const report = await runDoctor({ python: '/usr/bin/python3', agentDir });
    // the cgroup version this machine has, found as the server finds it: v1 here, v2 on most current systems
    const layout = hostCgroupLayout();
    expect(layout, 'memory and pids limits need a cgroup hierarchy').not.toBeNull();
    const v = layout!.version;
    const by = Object.fromEntries(report.protections.map((p) => [p.name, p]));
    expect(report.protections.map((p) => p.name)).toEqual(PROTECTIONS);
    for (const p of report.protections)
      expect({ name: p.name, enforced: p.enforced, fix: p.fix }).toEqual({
        name: p.name,
        enforced: true,
        fix: undefined,
      });
    expect(report.allEnforced).toBe(true);
    expect(report.bwrap.version).toMatch(/^bubblewrap \d/);
    expect(report.cgroup).toMatchObject({ version: v, memory: true, pids: true });
    expect(by.memory_limit?.mechanism).toBe(
      `memory cgroup (v${v}, ${v === 2 ? 'memory.max' : 'memory.limit_in_bytes'})`,
    );
    expect(by.pids_limit?.mechanism).toBe(`pids cgroup (v${v}, pids.max)`);
    expect(report.notes.some((n) => n.startsWith('cgroup v1 hierarchy'))).toBe(v === 1);
    expect(by.memory_limit?.detail).toMatch(/killed .*oom kills [1-9]/);
    expect(by.pids_limit?.detail).toMatch(/EAGAIN/);
    expect(by.network_off?.detail).toMatch(/ECONNREFUSED; interfaces inside: lo$/);
    expect(by.filesystem?.detail).toMatch(/\/etc\/shadow: ENOENT/);
    expect(by.seccomp?.detail).toMatch(/ptrace inside: EPERM/);
    // what it cannot enforce is said, not skipped
    expect(report.notes.join('\n')).toMatch(/workspace size: no per-session quota/);
    // its probe cgroup is gone (named after this process, so concurrent doctors do not interfere) from the folders
    // it was made in: one per controller under v1, one under v2
    const probe = `doctor-${process.pid}`;
    const candidates = (['memory', 'pids'] as const).flatMap((c) => boxCgroupCandidates(probe, c));
    const parents = [...new Set(candidates.map((d) => dirname(d)))].filter((d) => existsSync(d));
    expect(parents.length).toBeGreaterThanOrEqual(liveBoxCgroupCount());
    for (const parent of parents) expect(readdirSync(parent)).not.toContain(probe);
  });

  it.skipIf(!hasBwrap)('claims nothing when the jailed probe cannot run', async () => {
    const report = await runDoctor({ python: '/usr/bin/no-such-python', agentDir });
    for (const p of report.protections) {
      expect(p.enforced).toBe(false);
      expect(p.detail).toMatch(/did not run: .*no-such-python/);
      expect(p.fix).toMatch(/--python/);
    }
  });

  it.skipIf(!hasBwrap)(
    'claims nothing, and names the folder, when the agent folder lacks the probe',
    async () => {
      const empty = mkdtempSync(join(tmpdir(), 'doctor-agent-'));
      chmodSync(empty, 0o755); // the box's user must reach it, as it reaches the real agent folder
      try {
        const report = await runDoctor({ python: '/usr/bin/python3', agentDir: empty });
        expect(report.allEnforced).toBe(false);
        for (const p of report.protections) {
          expect(p.enforced).toBe(false);
          expect(p.detail).toMatch(/did not run: .*doctor_probe\.py/);
          expect(p.fix).toContain(empty);
        }
      } finally {
        rmSync(empty, { recursive: true, force: true });
      }
    },
  );
});

describe('formatDoctorReport', () => {
  it('prints one aligned row per protection, then fixes and notes', () => {
    const report: DoctorReport = {
      bwrap: { path: '/usr/bin/bwrap', version: 'bubblewrap 0.8.0' },
      python: '/usr/bin/python3',
      cgroup: { version: 2, memory: false, pids: true, reason: 'no memory controller' },
      seccomp: { ok: true, arch: 'x86_64' },
      protections: PROTECTIONS.map((name) =>
        name === 'memory_limit'
          ? {
              name,
              enforced: false,
              mechanism: 'none',
              detail: 'no usable memory cgroup',
              fix: 'delegate the memory controller',
            }
          : { name, enforced: true, mechanism: 'm', detail: `d-${name}` },
      ),
      allEnforced: false,
      notes: ['a note'],
    };
    const text = formatDoctorReport(report);
    const lines = text.split('\n');
    const header = lines.find((l) => l.startsWith('PROTECTION'))!;
    expect(header).toMatch(/^PROTECTION\s+ENFORCED\s+MECHANISM\s+DETAIL$/);
    const rows = lines.filter((l) => PROTECTIONS.some((p) => l.startsWith(p + ' ')));
    expect(rows).toHaveLength(PROTECTIONS.length);
    // columns line up with the header
    for (const r of rows)
      expect(r.indexOf(r.includes(' NO ') ? 'NO' : 'yes')).toBe(header.indexOf('ENFORCED'));
    expect(lines.find((l) => l.startsWith('memory_limit'))).toMatch(/NO\s+none\s+no usable memory cgroup/);
    expect(text).toContain('memory_limit: delegate the memory controller');
    expect(text).toContain('cgroups:    v2 (memory no, pids yes)');
    expect(text).toContain('  - a note');
    expect(text).toMatch(/NOT enforced/);
  });
});
