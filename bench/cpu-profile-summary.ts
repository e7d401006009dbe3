// Reads a V8 .cpuprofile (node --cpu-prof, as BENCH_CPU_PROF writes them) and prints where the time went: self time by
// function and by source file (bundle positions mapped back through the bundle's source map), and inclusive time of
// the project's own functions.
import { readFileSync, existsSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { table } from './stats.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const maps = new Map<string, SourceMap | null>();
/**
 * The dist/ folder the profiled server ran from, when it is not the one its profile names (a copy of the build, as
 * the tree's dist/ may have been rebuilt since): source maps are read from there.
 */
const PROFILED_DIST = process.env.BENCH_PROF_DIST;

/** The source map beside a bundled file, or null. */
function mapFor(url: string): SourceMap | null {
  if (!maps.has(url)) {
    let map: SourceMap | null = null;
    if (url.startsWith('file://')) {
      let file = `${fileURLToPath(url)}.map`;
      if (PROFILED_DIST !== undefined) file = file.replace(/^.*?\/dist\//, `${resolve(PROFILED_DIST)}/`);
      if (existsSync(file)) map = new SourceMap(JSON.parse(readFileSync(file, 'utf8')));
    }
    maps.set(url, map);
  }
  return maps.get(url)!;
}

/** Where a frame came from: the original file (through the source map) and its display name. */
function place(frame: CallFrame): { file: string; name: string } {
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return { file: `(${name})`, name };
  const map = mapFor(frame.url);
  if (map !== null) {
    const entry = map.findEntry(frame.lineNumber, frame.columnNumber) as { originalSource?: string };
    if (entry.originalSource !== undefined) {
      const file = entry.originalSource.replace(/^.*?(node_modules\/|src\/)/, '$1');
      return { file, name: `${name} (${file})` };
    }
  }
  const file = frame.url.replace(/^.*?(node_modules\/|dist\/|node:)/, '$1');
  return { file, name: `${name} (${file})` };
}

/**
 * Sums of one profile from `skipMs` after its start: self ms by function and file, inclusive ms of ours (src/),
 * total sampled ms, and the self time of files matching `blame` charged to the first caller outside them.
 */
export function summarizeProfile(
  profile: Profile,
  skipMs = 0,
  blame?: RegExp,
): {
  totalMs: number;
  idleMs: number;
  byFunction: Map<string, number>;
  byFile: Map<string, number>;
  inclusiveOurs: Map<string, number>;
  blamed: Map<string, number>;
} {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfMs = new Map<number, number>();
  let at = 0;
  profile.samples.forEach((id, i) => {
    const delta = (profile.timeDeltas[i] ?? 0) / 1000;
    at += delta;
    if (at >= skipMs) selfMs.set(id, (selfMs.get(id) ?? 0) + delta);
  });
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const inclusiveOurs = new Map<string, number>();
  const blamed = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  let totalMs = 0;
  let idleMs = 0;
  for (const [id, ms] of selfMs) {
    const node = nodes.get(id)!;
    totalMs += ms;
    if (node.callFrame.functionName === '(idle)') idleMs += ms;
    const p = place(node.callFrame);
    add(byFunction, p.name, ms);
    add(byFile, p.file, ms);
    if (blame !== undefined) {
      // Functions without a URL (code a library compiles at run time, as zod does) count as their caller's file.
      let matched = false;
      let cur: number | undefined = id;
      for (; cur !== undefined; cur = parent.get(cur)) {
        const frame = nodes.get(cur)!.callFrame;
        if (blame.test(place(frame).file)) matched = true;
        else if (frame.url !== '' || cur === id) break;
      }
      if (matched) add(blamed, cur === undefined ? '(root)' : place(nodes.get(cur)!.callFrame).name, ms);
    }
    // Inclusive: each of our functions on the stack once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const q = place(nodes.get(cur)!.callFrame);
      if (q.file.startsWith('src/') && !seen.has(q.name)) {
        seen.add(q.name);
        add(inclusiveOurs, q.name, ms);
      }
    }
  }
  return { totalMs, idleMs, byFunction, byFile, inclusiveOurs, blamed };
}

function top(m: Map<string, number>, n: number, total: number, key: string) {
  return [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, ms]) => ({ [key]: k.slice(0, 110), ms: ms.toFixed(1), pct: ((100 * ms) / total).toFixed(1) }));
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error(
      'usage: node dist/bench/cpu-profile-summary.js <file.cpuprofile>… (BENCH_TOP=n rows, BENCH_SKIP_S=s from the' +
        ' start, BENCH_BLAME=regexp of files whose self time goes to their first caller outside them, BENCH_PROF_DIST=the' +
        ' dist/ the server ran from when not the one the profile names)',
    );
    process.exit(2);
  }
  const n = Number(process.env.BENCH_TOP ?? 40);
  const skipMs = Number(process.env.BENCH_SKIP_S ?? 0) * 1000;
  const blame = process.env.BENCH_BLAME === undefined ? undefined : new RegExp(process.env.BENCH_BLAME);
  for (const file of files) {
    const s = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile, skipMs, blame);
    const busy = s.totalMs - s.idleMs;
    console.log(
      `\n## ${file}: ${s.totalMs.toFixed(0)} ms sampled, ${busy.toFixed(0)} ms busy (percent of busy)`,
    );
    s.byFunction.delete('(idle)');
    s.byFile.delete('((idle))');
    console.log(table(top(s.byFunction, n, busy, 'self, by function')));
    console.log(table(top(s.byFile, n, busy, 'self, by file')));
    console.log(table(top(s.inclusiveOurs, n, busy, 'inclusive, src/ functions')));
    if (blame !== undefined)
      console.log(table(top(s.blamed, n, busy, `self time of ${blame.source}, by caller`)));
  }
}
