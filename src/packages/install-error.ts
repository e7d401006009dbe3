// Turns a failed install attempt into the error an agent can act on: timeout, network_denied (with the hosts the
// installer tried), not_found, or the installer's own failure. Pure; it never hides the installer's output.
import { SandboxError } from '../errors.js';
import type { InstallRun } from './install-run.js';

const TAIL = 4000;

export function tail(text: string): string {
  return text.length > TAIL ? `…${text.slice(-TAIL)}` : text;
}

export function installError(r: InstallRun, requirement: string): SandboxError {
  const details = {
    requirement,
    stage: r.stage,
    exit_code: r.exitCode,
    index: r.plan.index,
    allowed_hosts: r.plan.networkRules,
    warnings: r.plan.warnings,
    output_tail: tail(r.output),
  };
  if (r.status === 'timeout' || r.status === 'interrupted') {
    return new SandboxError(
      'timeout',
      `installing ${requirement} did not finish within ${r.timeoutS} s`,
      details,
      'pass a larger timeout, or install a smaller set of packages',
    );
  }
  if (r.denials.length > 0) {
    const hosts = [...new Set(r.denials.map((d) => d.host))];
    return new SandboxError(
      'network_denied',
      `installing ${requirement} needed ${hosts.join(', ')}, which the install may not reach ` +
        `(only the configured index: ${r.plan.networkRules.join(', ') || 'none'})`,
      { ...details, denials: r.denials },
      "the index links to files on another host; the server's pip configuration (index-url, extra-index-url, " +
        'find-links) decides which hosts an install may reach',
    );
  }
  if (
    /No matching distribution|Could not find a version that satisfies|was not found in the package registry/i.test(
      r.output,
    )
  ) {
    return new SandboxError(
      'not_found',
      `no distribution matching ${requirement} was found in the configured index`,
      details,
      'check the name and version; list_installed_packages shows what is already installed',
    );
  }
  return new SandboxError(
    'runtime_error',
    r.exitCode < 0
      ? r.status === 'ok'
        ? `the install of ${requirement} printed no valid report`
        : `the install of ${requirement} ended early (${r.status})`
      : `the ${r.stage} step for ${requirement} failed with exit code ${r.exitCode}`,
    details,
    "read output_tail for the installer's message",
  );
}
