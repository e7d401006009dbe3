// Test-only crash hook: SANDBOX_MCP_FAULT_AT=<step> makes the process SIGKILL itself at that step; inert otherwise, and must never do anything else.

export function faultPoint(step: string): void {
  if (process.env.SANDBOX_MCP_FAULT_AT === step) process.kill(process.pid, 'SIGKILL');
}
