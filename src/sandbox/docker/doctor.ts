// `doctor`'s Docker section: starts a real Docker box (the same container settings sessions get) and checks from inside
// it what holds: memory, pids, CPU share, network none, read-only root, no capabilities, no-new-privileges, seccomp,
// a non-root user, no setuid files, and the engine's user-namespace remapping.
import { lstatSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SandboxError } from '../../errors.js';
import type { BoxLimits } from '../box.js';
import { DockerBox, type DockerSettings } from './docker-box.js';
import { connectEngine, type EngineFacts } from './engine.js';
import { workspaceMode } from './endpoint.js';

export interface DockerProtection {
  name: string;
  enforced: boolean;
  mechanism: string;
  detail: string;
  fix?: string;
}

export interface DockerDoctorReport {
  endpoint: string | null;
  /** The engine answered and a box ran. */
  available: boolean;
  engine?: EngineFacts;
  error?: string;
  protections: DockerProtection[];
  allEnforced: boolean;
  notes: string[];
}

const PROBE_LIMITS: BoxLimits = {
  memoryBytes: 256 * 1024 * 1024,
  pids: 64,
  fileSizeBytes: 16 * 1024 * 1024,
  openFiles: 256,
};

// Reads what the box sees of itself; prints one JSON object. Runs as a cell in the box's kernel.
const PROBE = String.raw`
import errno, json, os, socket
def first(paths):
    for p in paths:
        try:
            with open(p) as f:
                return f.read().strip()
        except OSError:
            pass
    return None
status = {}
with open('/proc/self/status') as f:
    for line in f:
        k, _, v = line.partition(':')
        status[k] = v.strip()
def writable(path):
    try:
        with open(path, 'w') as f:
            f.write('x')
        os.unlink(path)
        return True
    except OSError as e:
        return e.strerror
def connect_out():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(('1.1.1.1', 53))
        return True
    except OSError as e:
        return e.strerror or str(e)
    finally:
        s.close()
out = {
    'uid': os.getuid(), 'gid': os.getgid(),
    'cap_eff': status.get('CapEff'), 'cap_bnd': status.get('CapBnd'),
    'no_new_privs': status.get('NoNewPrivs'), 'seccomp': status.get('Seccomp'),
    'memory_max': first(['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']),
    'pids_max': first(['/sys/fs/cgroup/pids.max', '/sys/fs/cgroup/pids/pids.max']),
    'cpu_weight': first(['/sys/fs/cgroup/cpu.weight', '/sys/fs/cgroup/cpu/cpu.shares', '/sys/fs/cgroup/cpu,cpuacct/cpu.shares']),
    'interfaces': sorted(os.listdir('/sys/class/net')),
    'connect': connect_out(),
    'root_usr': writable('/usr/sandbox-probe'), 'root_etc': writable('/etc/sandbox-probe'),
    'workspace': writable('/workspace/.sandbox-probe'),
    'seccomp_filters': status.get('Seccomp_filters'),
}
def attempt(fn):
    try:
        fn()
        return 'ok'
    except OSError as e:
        return e.strerror or str(e)
open('/workspace/suid-chmod', 'w').close()
out['setuid_chmod'] = attempt(lambda: os.chmod('/workspace/suid-chmod', 0o4755))
out['setuid_create'] = attempt(lambda: os.close(os.open('/workspace/suid-create', os.O_CREAT | os.O_WRONLY, 0o6755)))
print(json.dumps(out))
`;

interface Probe {
  uid: number;
  gid: number;
  cap_eff: string | null;
  cap_bnd: string | null;
  no_new_privs: string | null;
  seccomp: string | null;
  memory_max: string | null;
  pids_max: string | null;
  cpu_weight: string | null;
  interfaces: string[];
  connect: true | string;
  root_usr: true | string;
  root_etc: true | string;
  workspace: true | string;
  seccomp_filters?: string | null;
  setuid_chmod: string;
  setuid_create: string;
}

/** The probe's files that sit on the host with a setuid or setgid bit. */
function setuidOnHost(workspace: string): string[] {
  return ['suid-chmod', 'suid-create'].filter((f) => {
    try {
      return (lstatSync(join(workspace, f)).mode & 0o6000) !== 0;
    } catch {
      return false;
    }
  });
}

function row(
  name: string,
  enforced: boolean,
  mechanism: string,
  detail: string,
  fix?: string,
): DockerProtection {
  return { name, enforced, mechanism, detail, ...(enforced || !fix ? {} : { fix }) };
}

function protections(p: Probe, engine: EngineFacts, suidOnHost: string[]): DockerProtection[] {
  const zeroCaps =
    p.cap_eff !== null && /^0+$/.test(p.cap_eff) && p.cap_bnd !== null && /^0+$/.test(p.cap_bnd);
  const mem = Number(p.memory_max);
  return [
    row(
      'memory_limit',
      mem === PROBE_LIMITS.memoryBytes,
      'container memory cgroup (Memory = MemorySwap)',
      `limit ${p.memory_max ?? 'unreadable'} bytes, asked ${PROBE_LIMITS.memoryBytes}`,
      'an engine with the memory cgroup controller',
    ),
    row(
      'pids_limit',
      p.pids_max === String(PROBE_LIMITS.pids),
      'container pids cgroup (PidsLimit)',
      `pids.max ${p.pids_max ?? 'unreadable'}`,
      'an engine with the pids cgroup controller',
    ),
    row(
      'cpu_share',
      p.cpu_weight !== null,
      'container cpu cgroup (CpuShares 1024; NanoCpus with --cpu-quota)',
      `share ${p.cpu_weight ?? 'unreadable'}`,
      'an engine with the cpu cgroup controller',
    ),
    row(
      'network_off',
      p.interfaces.every((i) => i === 'lo') && p.connect !== true,
      'network none',
      `interfaces ${p.interfaces.join(', ') || 'none'}; connect out: ${p.connect === true ? 'CONNECTED' : p.connect}`,
    ),
    row(
      'read_only_root',
      p.root_usr !== true && p.root_etc !== true && p.workspace === true,
      'ReadonlyRootfs; /workspace and /tmp writable',
      `/usr: ${p.root_usr === true ? 'WRITABLE' : p.root_usr}; /etc: ${p.root_etc === true ? 'WRITABLE' : p.root_etc}; /workspace: ${p.workspace === true ? 'writable' : p.workspace}`,
    ),
    row('no_capabilities', zeroCaps, 'CapDrop ALL', `CapEff ${p.cap_eff ?? '?'}, CapBnd ${p.cap_bnd ?? '?'}`),
    row(
      'no_new_privileges',
      p.no_new_privs === '1',
      'no-new-privileges',
      `NoNewPrivs ${p.no_new_privs ?? '?'}`,
    ),
    row(
      'seccomp',
      p.seccomp === '2',
      "the engine's seccomp profile, and the bubblewrap boxes' program on top (loaded by pid 1)",
      `Seccomp mode ${p.seccomp ?? '?'}, filters ${p.seccomp_filters ?? '?'}`,
      'an engine with seccomp (not --security-opt seccomp=unconfined)',
    ),
    row(
      'no_setuid',
      suidOnHost.length === 0 && p.setuid_chmod !== 'ok' && p.setuid_create !== 'ok',
      'seccomp refuses modes with setuid/setgid bits (chmod family, open/mkdir/mknod)',
      `chmod 4755 inside: ${p.setuid_chmod}; create with 6755: ${p.setuid_create}; setuid files on the host: ${suidOnHost.join(', ') || 'none'}`,
      'a box image whose pid 1 is docker_init.py, on x86_64 or arm64',
    ),
    row(
      'non_root_user',
      p.uid !== 0 && p.gid !== 0,
      'container user (the box uid)',
      `uid ${p.uid}, gid ${p.gid}`,
    ),
    row(
      'userns_remap',
      engine.usernsRemap || engine.rootless,
      engine.rootless ? 'rootless engine' : 'engine userns-remap',
      engine.usernsRemap || engine.rootless
        ? 'container uids map to unprivileged host uids'
        : 'not configured: the box uid is a host uid (never 0: the box runs as the box uid)',
      'dockerd --userns-remap=default (or a rootless engine)',
    ),
  ];
}

/** Notes that are facts, not failures: user-namespace remapping is optional (the box never runs as uid 0). */
const OPTIONAL = new Set(['userns_remap']);

export async function runDockerDoctor(
  settings: DockerSettings,
  agentDir: string,
  python = '/usr/bin/python3',
): Promise<DockerDoctorReport> {
  const endpoint = settings.endpoint?.host ?? null;
  let engine: EngineFacts;
  try {
    engine = (await connectEngine(settings.endpoint)).facts;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { endpoint, available: false, error: message, protections: [], allEnforced: false, notes: [] };
  }
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-mcp-doctor-'));
  let box: DockerBox | null = null;
  try {
    mkdirSync(join(dir, 'workspace'));
    mkdirSync(join(dir, 'mpl'));
    box = await DockerBox.start(
      {
        name: `doctor-${process.pid}`,
        workspace: join(dir, 'workspace'),
        mplConfigDir: join(dir, 'mpl'),
        agentDir,
        isolation: 'bwrap',
        bwrapPath: '',
        python,
        limits: PROBE_LIMITS,
        startTimeoutMs: 60_000,
      },
      settings,
    );
    const final = await box.request(
      {
        op: 'execute',
        code: PROBE,
        timeout_ms: 20_000,
        grace_ms: 1000,
        output_cap: 65_536,
        execution_count: 1,
      },
      undefined,
      40_000,
    ).done;
    const text = final.stdout?.text ?? '';
    if (final.status !== 'ok')
      throw new SandboxError('internal', `the probe failed: ${final.status} ${text}`);
    const rows = protections(JSON.parse(text) as Probe, engine, setuidOnHost(join(dir, 'workspace')));
    return {
      endpoint,
      available: true,
      engine,
      protections: rows,
      allEnforced: rows.every((r) => r.enforced || OPTIONAL.has(r.name)),
      notes: [
        `engine ${engine.serverVersion} (API ${engine.apiVersion}) on ${engine.os}, kernel ${engine.kernel}, cgroup v${engine.cgroupVersion}`,
        `the agent reaches the box only through the Engine API attach stream; workspaces are ${
          settings.endpoint && workspaceMode(settings.workspace ?? 'auto', settings.endpoint) === 'volume'
            ? 'volumes kept in step through the Engine API'
            : 'bind mounts of a local engine'
        }`,
      ],
    };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return {
      endpoint,
      available: false,
      engine,
      error: message,
      protections: [],
      allEnforced: false,
      notes: [],
    };
  } finally {
    await box?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatDockerDoctor(r: DockerDoctorReport): string {
  const lines = [
    `docker:     ${r.endpoint ?? 'no engine found'}${r.available ? '' : ` (not usable: ${r.error})`}`,
  ];
  if (r.protections.length > 0) {
    lines.push('');
    const w = Math.max(...r.protections.map((p) => p.name.length));
    const m = Math.max(...r.protections.map((p) => p.mechanism.length));
    for (const p of r.protections) {
      const mark = p.enforced ? 'yes' : OPTIONAL.has(p.name) ? 'no ' : 'NO ';
      lines.push(`${p.name.padEnd(w)}  ${mark}  ${p.mechanism.padEnd(m)}  ${p.detail}`);
    }
    const fixes = r.protections.filter((p) => !p.enforced && p.fix);
    if (fixes.length) lines.push('', 'To fix:', ...fixes.map((p) => `  ${p.name}: ${p.fix}`));
  }
  if (r.notes.length) lines.push('', 'Notes:', ...r.notes.map((n) => `  - ${n}`));
  if (r.available) {
    lines.push(
      r.allEnforced
        ? 'Docker boxes: all protections enforced.'
        : 'Docker boxes: some protections are NOT enforced.',
    );
  }
  return lines.join('\n');
}
