// The calls of the client matrix: for every tool, arguments that pass its input schema but fail (an unknown
// session, a missing file, a policy denial…) with the error code expected, and cheap valid calls.
import type { CallToolResult } from '@modelcontextprotocol/client';

/** A well-formed session id that no session has. */
export const UNKNOWN_SESSION = 's_' + 'A'.repeat(22);

export interface MatrixCase {
  tool: string;
  args: Record<string, unknown>;
  /** The error code the call must end with; absent for a call that must succeed. */
  code?: string;
  /** An error that comes without a hint (a failed cell: its traceback says what went wrong). */
  noHint?: true;
  /** The tool whose valid call this one reads the result of, in the same owner's default session: it runs later. */
  after?: string;
}

const noSession = (tool: string, args: Record<string, unknown> = {}): MatrixCase => ({
  tool,
  args: { ...args, session_id: UNKNOWN_SESSION },
  code: 'not_found',
});
const ok = (tool: string, args: Record<string, unknown> = {}): MatrixCase => ({ tool, args });

/** Every tool of the full profile; a tool missing here fails the matrix, so new tools get cases. */
export const CASES: Record<string, MatrixCase[]> = {
  create_session: [
    { tool: 'create_session', args: { network: 'full' }, code: 'policy_denied' },
    ok('create_session', { name: 'matrix' }),
  ],
  list_sessions: [ok('list_sessions')],
  close_session: [noSession('close_session')],
  execute: [
    noSession('execute', { code: '1 + 1' }),
    { tool: 'execute', args: { code: '1 / 0' }, code: 'runtime_error', noHint: true },
    ok('execute', { code: '6 * 7' }),
  ],
  execute_with_artifacts: [noSession('execute_with_artifacts', { code: '1' })],
  get_execution_info: [noSession('get_execution_info'), ok('get_execution_info')],
  write_file: [
    noSession('write_file', { path: 'a.txt', text: 'x' }),
    { tool: 'write_file', args: { path: '../outside.txt', text: 'x' }, code: 'invalid_argument' },
    ok('write_file', { path: 'matrix.txt', text: 'hello' }),
  ],
  read_file: [
    { tool: 'read_file', args: { path: 'no-such-file.txt' }, code: 'not_found' },
    { ...ok('read_file', { path: 'matrix.txt' }), after: 'write_file' },
  ],
  list_artifacts: [noSession('list_artifacts'), ok('list_artifacts')],
  get_artifact_report: [noSession('get_artifact_report'), ok('get_artifact_report')],
  categorize_artifacts: [noSession('categorize_artifacts'), ok('categorize_artifacts')],
  cleanup_artifacts_by_type: [noSession('cleanup_artifacts_by_type', { artifact_type: 'images' })],
  cleanup_artifacts: [noSession('cleanup_artifacts')],
  export_notebook: [noSession('export_notebook')],
  backup_current_artifacts: [noSession('backup_current_artifacts')],
  list_artifact_backups: [noSession('list_artifact_backups'), ok('list_artifact_backups')],
  get_backup_details: [
    { tool: 'get_backup_details', args: { backup_name: 'no-such-backup' }, code: 'not_found' },
  ],
  rollback_to_backup: [
    { tool: 'rollback_to_backup', args: { backup_name: 'no-such-backup' }, code: 'not_found' },
  ],
  cleanup_old_backups: [noSession('cleanup_old_backups')],
  verify_backup: [{ tool: 'verify_backup', args: { backup_name: 'no-such-backup' }, code: 'not_found' }],
  restore_file: [
    { tool: 'restore_file', args: { backup_name: 'no-such-backup', path: 'a.txt' }, code: 'not_found' },
  ],
  diff_backups: [{ tool: 'diff_backups', args: { a: 'no-such-a', b: 'no-such-b' }, code: 'not_found' }],
  shell_execute: [
    noSession('shell_execute', { command: 'true' }),
    { tool: 'shell_execute', args: { command: 'mount -t tmpfs none /mnt' }, code: 'policy_denied' },
  ],
  clear_cache: [noSession('clear_cache')],
  get_sandbox_limitations: [noSession('get_sandbox_limitations'), ok('get_sandbox_limitations')],
  get_audit_log: [noSession('get_audit_log'), ok('get_audit_log')],
  start_web_app: [noSession('start_web_app', { app_type: 'flask', code: 'import flask' })],
  list_web_apps: [ok('list_web_apps')],
  stop_web_app: [{ tool: 'stop_web_app', args: { app_id: 'no-such-app' }, code: 'not_found' }],
  get_web_app_logs: [{ tool: 'get_web_app_logs', args: { app_id: 'no-such-app' }, code: 'not_found' }],
  export_web_app: [{ tool: 'export_web_app', args: { app_id: 'no-such-app' }, code: 'not_found' }],
  list_web_app_exports: [ok('list_web_app_exports')],
  get_export_details: [
    { tool: 'get_export_details', args: { export_name: 'no-such-export' }, code: 'not_found' },
  ],
  cleanup_web_app_export: [
    { tool: 'cleanup_web_app_export', args: { export_name: 'no-such-export' }, code: 'not_found' },
  ],
  build_docker_image: [
    { tool: 'build_docker_image', args: { export_name: 'no-such-export' }, code: 'not_found' },
  ],
  install_package: [noSession('install_package', { package: 'requests' })],
  list_installed_packages: [noSession('list_installed_packages'), ok('list_installed_packages')],
};

/** All the text a client shows an agent. */
export function shownText(r: CallToolResult): string {
  return r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}
