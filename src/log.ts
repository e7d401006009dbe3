// The server's logger: one JSON object per line on stderr (stdout carries the stdio protocol), in pino's line
// shape ({level, time, pid, name, msg, ...fields}); small enough that start-up does not pay for a logging library.
const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, silent: Infinity } as const;

export type LogLevel = keyof typeof LEVELS;

export interface LogFn {
  (msg: string): void;
  (fields: Record<string, unknown>, msg?: string): void;
}

export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

export function createLogger(
  level: string,
  write: (line: string) => void = (line) => void process.stderr.write(line),
): Logger {
  const threshold = LEVELS[level as LogLevel] ?? LEVELS.info;
  const at =
    (name: Exclude<LogLevel, 'silent'>): LogFn =>
    (first: string | Record<string, unknown>, msg?: string) => {
      const value = LEVELS[name];
      if (value < threshold) return;
      const fields = typeof first === 'string' ? {} : first;
      const text = typeof first === 'string' ? first : msg;
      let line: string;
      try {
        line = JSON.stringify({
          level: value,
          time: Date.now(),
          pid: process.pid,
          name: 'sandbox-mcp',
          ...fields,
          msg: text,
        });
      } catch {
        line = JSON.stringify({
          level: value,
          time: Date.now(),
          pid: process.pid,
          name: 'sandbox-mcp',
          msg: text,
        });
      }
      write(line + '\n');
    };
  return { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
