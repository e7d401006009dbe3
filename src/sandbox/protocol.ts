// Types of the JSON-lines protocol between the server and the in-box agent and kernel (docs/AGENT_PROTOCOL.md).

export type MimeBundle = Record<string, unknown>;

export interface StreamCapture {
  text: string;
  truncated: boolean;
  bytes: number;
  saved_path: string | null;
  /** Why the saved file is missing or holds less than the whole output (a full disk, the file-size limit). */
  save_note?: string | null;
}

export interface AgentErrorBody {
  code: 'syntax_error' | 'truncated_code' | 'import_error' | 'runtime_error';
  ename: string;
  evalue: string;
  message: string;
  traceback: string[];
  hint?: string;
  line?: number | null;
  column?: number | null;
  excerpt?: string | null;
  module?: string | null;
  sys_path?: string[];
  reason?: string;
  [key: string]: unknown;
}

export type AgentEvent =
  | { type: 'stream'; id: string; name: 'stdout' | 'stderr'; text: string }
  | { type: 'display_data'; id: string; data: MimeBundle; metadata?: Record<string, unknown> }
  | {
      type: 'execute_result';
      id: string;
      execution_count: number;
      data: MimeBundle;
      metadata?: Record<string, unknown>;
    }
  | { type: 'error'; id: string; error: AgentErrorBody };

export type FinalStatus = 'ok' | 'error' | 'timeout' | 'interrupted' | 'killed';

export interface AgentUsage {
  cpu_user_ms: number;
  cpu_system_ms: number;
  max_rss_kb: number;
}

export interface AgentFinal {
  type: 'final';
  id: string;
  status: FinalStatus;
  execution_count?: number;
  duration_ms?: number;
  stdout?: StreamCapture;
  stderr?: StreamCapture;
  state_preserved?: boolean;
  kernel_restarted?: boolean;
  signal?: number | null;
  usage?: AgentUsage;
  error?: AgentErrorBody | null;
  info?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface AgentReady {
  type: 'ready';
  pid: number;
  kernel_pid: number;
  python: string;
}

/** The agent's report of a kernel that is gone, with its whole life's usage. */
export interface KernelExit {
  type: 'kernel_exit';
  gen: number;
  pid: number;
  killed: boolean;
  ready: boolean;
  signal: number | null;
  exit_code: number | null;
  cpu_user_ms: number | null;
  cpu_system_ms: number | null;
  max_rss_kb: number | null;
}

export type AgentMessage = AgentEvent | AgentFinal | AgentReady | KernelExit;

export type AgentRequest =
  | {
      op: 'execute';
      code: string;
      timeout_ms: number;
      grace_ms: number;
      output_cap: number;
      execution_count: number;
      /** Ask for the workspace listing with the cell's `done` (a Docker volume box). */
      list_workspace?: boolean;
    }
  | { op: 'interrupt'; target: string }
  | { op: 'info' }
  | { op: 'ping' }
  | { op: 'shutdown' }
  | {
      op: 'shell';
      command: string;
      cwd: string;
      timeout_ms: number;
      grace_ms: number;
      output_cap: number;
    }
  | { op: 'clear_cache'; important_only: boolean }
  | { op: 'kernel_interrupt' }
  | { op: 'kernel_kill' }
  | { op: 'kernel_strays' };
