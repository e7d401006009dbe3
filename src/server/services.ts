// The set of services a tool handler may call; built once per server process and shared by all clients.
import type { Config } from '../config.js';
import type { SessionService } from '../sessions/service.js';

export interface Services {
  config: Config;
  sessions: SessionService;
}
