// Lints every .py file under src/agent (or the files named on the command line) with ruff's WebAssembly build and
// the settings in ruff.toml; prints each finding and exits 1 when there is any.
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PositionEncoding, Workspace } from '@astral-sh/ruff-wasm-nodejs';

const ROOT = 'src/agent';

/** ruff.toml as ruff's options object. Only the TOML it uses is read (tables, keys, JSON-like values); anything else
 *  stops the lint, so a setting can never be dropped silently. */
function readSettings(text) {
  const settings = {};
  let table = settings;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/^\s*#.*$/, '').trim();
    if (!line) continue;
    const header = /^\[([\w.-]+)\]$/.exec(line);
    const pair = /^([\w-]+)\s*=\s*(.+)$/.exec(line);
    if (header) {
      table = settings;
      for (const key of header[1].split('.')) table = table[key] ??= {};
    } else if (pair) {
      try {
        table[pair[1]] = JSON.parse(pair[2]);
      } catch {
        throw new Error(`ruff.toml line ${i + 1}: a value this script cannot read: ${pair[2]}`);
      }
    } else {
      throw new Error(`ruff.toml line ${i + 1}: not a table header or key = value: ${raw}`);
    }
  }
  return settings;
}

function pythonFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === '__pycache__') return [];
    const path = join(dir, e.name);
    if (e.isDirectory()) return pythonFiles(path);
    return e.isFile() && e.name.endsWith('.py') ? [path] : [];
  });
}

const workspace = new Workspace(readSettings(readFileSync('ruff.toml', 'utf8')), PositionEncoding.Utf8);
const files = process.argv.length > 2 ? process.argv.slice(2) : pythonFiles(ROOT).sort();
const perFile = [];
for (const file of files) {
  const findings = workspace
    .check(readFileSync(file, 'utf8'))
    .sort(
      (a, b) =>
        a.start_location.row - b.start_location.row || a.start_location.column - b.start_location.column,
    );
  for (const d of findings) {
    const { row, column } = d.start_location;
    console.log(`${relative('.', file)}:${row}:${column}: ${d.code ?? 'syntax-error'} ${d.message}`);
  }
  if (findings.length > 0) perFile.push(`${relative('.', file)}: ${findings.length}`);
}
if (perFile.length > 0) {
  console.log(
    `ruff ${Workspace.version()}: findings in ${perFile.length} of ${files.length} files\n  ${perFile.join('\n  ')}`,
  );
  process.exit(1);
}
console.log(`ruff ${Workspace.version()}: ${files.length} files clean`);
