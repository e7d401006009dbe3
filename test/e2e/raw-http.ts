// Test helper: one HTTP request through node:http, which (unlike fetch) sends any Host, Origin or Cookie header it is
// given. It only ever talks to the loopback address it is handed.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RawRequest {
  host: string;
  port: number | string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export function rawRequest(r: RawRequest): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: r.host, port: r.port, path: r.path, method: r.method ?? 'GET', headers: r.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}
