// The server's logger: pino to stderr, because stdout carries the stdio protocol.
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({ name: 'sandbox-mcp', level }, pino.destination(2));
}
