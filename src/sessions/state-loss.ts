// Why a session's Python state was lost: the notice each cause puts on the session's next result (with its flags
// state_preserved:false and kernel_restarted:true, and an execution count that starts over).

export const SERVER_RESTART_NOTICE =
  'the server restarted since the last call: Python variables and imports were reset; workspace files are kept';

export const BOX_RESTART_NOTICE =
  'the sandbox had stopped and was restarted: Python state was reset; workspace files are kept';

export const KERNEL_EXITED_NOTICE =
  'the Python process ended since the last call (killed or crashed) and was restarted: variables and imports were reset; workspace files are kept';

export const KERNEL_LOST_IN_CALL_NOTICE =
  'the Python process was restarted during this call: variables and imports were reset; workspace files are kept';

/** The session sat unused past --idle-ttl: its processes were stopped, and this call started them again. */
export function reapedNotice(idleTtlS: number): string {
  return (
    `the session was unused for ${idleTtlS} s (--idle-ttl), so its processes were stopped (Python, shell commands, ` +
    'web apps) and started again for this call: Python variables and imports were reset; workspace files, ' +
    'backups and history are kept'
  );
}
