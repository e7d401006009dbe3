// Reading OpenSSH client configuration files (ssh-config's parser) as ssh reads them: the user's file, then the
// system's, `Include` expanded in place, and every directive's file and line kept for the messages that name it.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { minimatch } from 'minimatch';
import SSHConfig, { glob, LineType, type Directive, type Line, type Section } from 'ssh-config';

/** OpenSSH's limit on nested Include (READCONF_MAX_DEPTH). */
const MAX_DEPTH = 16;
/** A configuration file larger than this is refused rather than parsed. */
const MAX_BYTES = 1 << 20;

/** A config file to read: its path and the folder its relative `Include`s are in (~/.ssh or /etc/ssh). */
export interface ConfigFile {
  path: string;
  includeBase: string;
}

export class SshConfigError extends Error {}

/** Where each directive was read (`file:line`), for the messages naming a directive. */
export type Origins = WeakMap<Line, string>;

export interface ReadConfig {
  config: SSHConfig;
  origins: Origins;
  /** The files read, Includes among them. */
  files: string[];
}

function valueText(line: Directive): string {
  return Array.isArray(line.value) ? line.value.map((v) => v.val).join(' ') : line.value;
}

function valueList(line: Directive): string[] {
  return Array.isArray(line.value) ? line.value.map((v) => v.val) : [line.value];
}

/** The first line of `text` that the parser refuses, with its reason (the parser itself names no line). */
function badLine(text: string, err: unknown): string {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    try {
      SSHConfig.parse(lines[i]!);
    } catch (lineErr) {
      return `line ${i + 1}: ${lineErr instanceof Error ? lineErr.message : String(lineErr)}`;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

/** Records each line's `file:line` by counting the line breaks around the lines in document order. */
function number(config: SSHConfig, file: string, origins: Origins): void {
  let line = 1;
  const walk = (lines: Line[]): void => {
    for (const node of lines) {
      line += (node.before.match(/\n/g) ?? []).length;
      origins.set(node, `${file}:${line}`);
      line += (node.after.match(/\n/g) ?? []).length;
      if ('config' in node) walk(node.config);
    }
  };
  walk(config);
}

function parseFile(path: string, origins: Origins): SSHConfig {
  let text: string;
  try {
    // a FIFO or a device would block the server, a huge file fill its memory: only a bounded regular file is read
    const st = statSync(path);
    if (!st.isFile()) throw new SshConfigError(`the ssh config file ${path} is not a regular file`);
    if (st.size > MAX_BYTES)
      throw new SshConfigError(`the ssh config file ${path} is larger than ${MAX_BYTES} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof SshConfigError) throw err;
    throw new SshConfigError(`cannot read the ssh config file ${path}: ${(err as Error).message}`);
  }
  let config: SSHConfig;
  try {
    config = SSHConfig.parse(text);
  } catch (err) {
    throw new SshConfigError(`cannot parse the ssh config file ${path}, ${badLine(text, err)}`);
  }
  number(config, path, origins);
  return config;
}

/** The files a pattern names, sorted as glob(3) returns them; `~` is the home folder. */
function expandInclude(pattern: string, base: string, home: string): string[] {
  const path = pattern.startsWith('~/')
    ? join(home, pattern.slice(2))
    : isAbsolute(pattern)
      ? pattern
      : join(base, pattern);
  const parts = path.split('/').filter(Boolean);
  let found = ['/'];
  for (const part of parts) {
    const next: string[] = [];
    for (const dir of found) {
      if (!/[*?[]/.test(part)) {
        next.push(join(dir, part));
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names.sort()) if (minimatch(name, part, { dot: false })) next.push(join(dir, name));
    }
    found = next;
  }
  // no match is no error, as with ssh; a file that is there but cannot be read is named when it is read
  return found.filter((f) => existsSync(f));
}

function isSection(node: Line): node is Section {
  return node.type === LineType.DIRECTIVE && 'config' in node;
}

interface Ctx {
  base: string;
  home: string;
  /** The host as the URL gives it, which `Host` patterns match. */
  host: string;
  origins: Origins;
  files: string[];
}

/** The lines of the files an `Include` names, their own Includes expanded. */
function included(node: Directive, ctx: Ctx, depth: number): Line[] {
  if (depth >= MAX_DEPTH)
    throw new SshConfigError(`${ctx.origins.get(node)}: Include nested more than ${MAX_DEPTH} deep`);
  const out: Line[] = [];
  for (const pattern of valueList(node))
    for (const file of expandInclude(pattern, ctx.base, ctx.home)) out.push(...load(file, ctx, depth + 1));
  return out;
}

/** Inside a section: its own lines, with an Include's plain lines in place and its sections after it. */
function expandSection(section: Section, ctx: Ctx, depth: number): Line[] {
  const before = new SSHConfig();
  const tail: Line[] = [];
  let current = before;
  for (const child of section.config) {
    if (!(child.type === LineType.DIRECTIVE && /^include$/i.test(child.param))) {
      current.push(child);
      continue;
    }
    const lines = included(child, ctx, depth);
    const firstSection = lines.findIndex(isSection);
    current.push(...(firstSection < 0 ? lines : lines.slice(0, firstSection)));
    if (firstSection < 0) continue;
    if (/^match$/i.test(section.param))
      throw new SshConfigError(
        `${ctx.origins.get(child)}: an Include inside a Match block names files with Host or Match blocks of their own, which is not supported`,
      );
    // a Host block's Include: its Host and Match blocks count only when the enclosing block matches
    if (!glob(valueList(section), ctx.host)) continue;
    tail.push(...lines.slice(firstSection));
    const rest: Section = { ...section, config: new SSHConfig() };
    ctx.origins.set(rest, ctx.origins.get(section) ?? '');
    tail.push(rest);
    current = rest.config;
  }
  return [{ ...section, config: before } as Section, ...tail];
}

function load(path: string, ctx: Ctx, depth: number): Line[] {
  ctx.files.push(path);
  const out: Line[] = [];
  for (const node of parseFile(path, ctx.origins)) {
    if (node.type !== LineType.DIRECTIVE) continue;
    if (isSection(node)) {
      const parts = expandSection(node, ctx, depth);
      for (const p of parts) if (!ctx.origins.has(p)) ctx.origins.set(p, ctx.origins.get(node) ?? '');
      out.push(...parts);
    } else if (/^include$/i.test(node.param)) out.push(...included(node, ctx, depth));
    else out.push(node);
  }
  return out;
}

/**
 * The files in order, as one configuration: the first value of a directive wins, as with ssh. A file that does not
 * exist is skipped; one that cannot be read or parsed throws SshConfigError naming it (and the line).
 */
export function readSshConfig(files: ConfigFile[], host: string, home: string): ReadConfig {
  const origins: Origins = new WeakMap();
  const read: string[] = [];
  const config = new SSHConfig();
  for (const f of files) {
    if (!existsSync(f.path)) continue;
    config.push(...load(f.path, { base: f.includeBase, home, host, origins, files: read }, 0));
  }
  return { config, origins, files: read };
}

/** The first line of the configuration that sets `param` to `value` (where a computed value came from). */
export function originOf(read: ReadConfig, param: string, value: string): string | undefined {
  const find = (lines: Line[]): string | undefined => {
    for (const node of lines) {
      if (node.type !== LineType.DIRECTIVE) continue;
      if (node.param.toLowerCase() === param.toLowerCase() && valueText(node) === value)
        return read.origins.get(node);
      if ('config' in node) {
        const inner = find(node.config);
        if (inner) return inner;
      }
    }
    return undefined;
  };
  return find(read.config);
}
