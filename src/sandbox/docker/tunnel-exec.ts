// An exec stream into a running Docker box: a script of the image's read-only agent folder run as the box user with
// `python3 -I -S`, its stdin and stdout carried over one hijacked Engine API connection (Tty off), and the reader of
// Docker's stream headers on what comes back (stdout passed on, a bounded tail of stderr kept).
import type { Duplex } from 'node:stream';
import type Dockerode from 'dockerode';

/** Where the box image keeps the agent (assets/Dockerfile.agent). */
export const BOX_AGENT_DIR = '/opt/sandbox-agent';
const STDERR_TAIL = 2048;

export interface ExecTarget {
  container: Dockerode.Container;
  user: { uid: number; gid: number };
}

/** Starts `python3 -I -S <agent>/<script> ...args` in the box with stdin attached; resolves with the raw stream. */
export async function openExec(target: ExecTarget, script: string, args: string[]): Promise<Duplex> {
  const exec = await target.container.exec({
    Cmd: ['/usr/bin/python3', '-I', '-S', `${BOX_AGENT_DIR}/${script}`, ...args],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    User: `${target.user.uid}:${target.user.gid}`,
    WorkingDir: '/',
  });
  const raw = (await exec.start({ hijack: true, stdin: true })) as Duplex;
  raw.on('error', () => undefined); // its end is seen through 'close'
  return raw;
}

/**
 * Docker's stream headers (one byte of stream, three zero, four of length) taken off an exec's output. The headers
 * come from the engine, the payloads from the box. onOut answers false to ask for a pause.
 */
export class DockerDemux {
  private buf = Buffer.alloc(0);
  private stream = -1;
  private left = 0;
  stderr = '';

  constructor(private readonly onOut: (chunk: Buffer) => boolean | void) {}

  /** False when a consumer asked for a pause. */
  push(chunk: Buffer): boolean {
    let go = true;
    let data = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.buf = Buffer.alloc(0);
    while (data.length > 0) {
      if (this.left === 0) {
        if (data.length < 8) {
          this.buf = Buffer.from(data);
          break;
        }
        this.stream = data.readUInt8(0);
        this.left = data.readUInt32BE(4);
        data = data.subarray(8);
        continue;
      }
      const part = data.subarray(0, this.left);
      data = data.subarray(part.length);
      this.left -= part.length;
      if (this.stream === 2) this.stderr = (this.stderr + part.toString('utf8')).slice(-STDERR_TAIL);
      else if (this.onOut(part) === false) go = false;
    }
    return go;
  }
}
