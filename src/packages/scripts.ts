// The Python programs the packages service runs in a throwaway box: create the venv and install, and list the
// installed distributions. They run inside the jail only; their arguments arrive as one JSON literal, never spliced.

/** Prefix of the one stdout line that carries a script's JSON report. */
export const REPORT_MARKER = '__SANDBOX_PACKAGES_REPORT__ ';

/** Python source that binds `A` to args (a JSON string literal is also a valid Python string literal). */
function withArgs(args: object, body: string): string {
  return `import json as _json\nA = _json.loads(${JSON.stringify(JSON.stringify(args))})\n${body}`;
}

const INSTALL_BODY = String.raw`
import os, subprocess, sys

def _run(cmd):
    # Lines go to stdout as they come, so the server can send them as progress.
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=A['cwd'])
    for line in iter(p.stdout.readline, b''):
        sys.stdout.write(line.decode('utf-8', 'replace'))
        sys.stdout.flush()
    return p.wait()

def _report(**kw):
    sys.stdout.write('\n' + A['marker'] + _json.dumps(kw) + '\n')
    sys.stdout.flush()

py = A['venv_python']
created = False
stage = 'venv'
rc = 0
if not os.path.exists(py):
    print('creating the virtual environment %s (system site-packages stay visible)' % A['venv'], flush=True)
    if A['uv']:
        rc = _run([A['uv'], 'venv', '--system-site-packages', '--python', A['base_python'], A['venv']])
    else:
        rc = _run([A['base_python'], '-I', '-m', 'venv', '--system-site-packages', '--without-pip', A['venv']])
    created = rc == 0
if rc == 0 and not A['uv'] and subprocess.run([py, '-I', '-c', 'import pip'], capture_output=True).returncode != 0:
    # Debian's pip is visible through the system site-packages; without it, the venv gets its own.
    stage = 'ensurepip'
    rc = _run([py, '-I', '-m', 'ensurepip', '--default-pip'])
installed = None
if rc == 0:
    stage = 'install'
    rc = _run(A['argv'])
if rc == 0 and A['name']:
    probe = (
        'import importlib.metadata as m, json, os, sys\n'
        'd = m.distribution(sys.argv[1])\n'
        'loc = os.path.realpath(str(d.locate_file("")))\n'
        'venv = os.path.realpath(sys.prefix)\n'
        'print(json.dumps({"name": d.metadata["Name"], "version": d.version,'
        ' "source": "venv" if loc.startswith(venv + os.sep) else "system"}))\n'
    )
    r = subprocess.run([py, '-I', '-c', probe, A['name']], capture_output=True, text=True, cwd=A['cwd'])
    if r.returncode == 0:
        installed = _json.loads(r.stdout.strip().splitlines()[-1])
_report(exit_code=rc, stage=stage, venv_created=created, installed=installed)
`;

const LIST_BODY = String.raw`
import importlib.metadata as md, os, re, sys
in_venv = sys.prefix != sys.base_prefix
venv = os.path.realpath(sys.prefix) + os.sep if in_venv else None
seen = set()
out = []
for d in md.distributions():
    name = d.metadata['Name']
    if not name:
        continue
    key = re.sub(r'[-_.]+', '-', name).lower()
    if key in seen:
        continue  # an earlier sys.path entry shadows this one, as import does
    seen.add(key)
    try:
        loc = os.path.realpath(str(d.locate_file('')))
    except Exception:
        loc = ''
    out.append({'name': name, 'version': d.version, 'source': 'venv' if venv and (loc + os.sep).startswith(venv) else 'system'})
out.sort(key=lambda p: p['name'].lower())
sys.stdout.write(A['marker'] + _json.dumps({'python': sys.executable, 'version': sys.version.split()[0], 'venv': sys.prefix if in_venv else None, 'packages': out}) + '\n')
`;

export interface InstallScriptArgs {
  venv: string;
  venv_python: string;
  base_python: string;
  uv: string | null;
  argv: string[];
  /** Normalized distribution name to look up afterwards, when the spec names one. */
  name: string | null;
  cwd: string;
}

export function installScript(args: InstallScriptArgs): string {
  return withArgs({ ...args, marker: REPORT_MARKER }, INSTALL_BODY);
}

export function listScript(): string {
  return withArgs({ marker: REPORT_MARKER }, LIST_BODY);
}

/** The JSON report a script printed last, or null when it printed none (it crashed or was killed). */
export function readReport(stdout: string): Record<string, unknown> | null {
  const at = stdout.lastIndexOf(REPORT_MARKER);
  if (at < 0) return null;
  const line = stdout.slice(at + REPORT_MARKER.length).split('\n', 1)[0] ?? '';
  try {
    const parsed: unknown = JSON.parse(line);
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
