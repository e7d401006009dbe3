// Decides an artifact's category and MIME type from its first bytes (file-type's signatures, and the few it lacks), with the file name as fallback; must never touch the file system.
import mime from 'mime';
import type { Categorization, Category } from './categories.js';

/** How many leading bytes the callers should read: enough for file-type and for the tar header at 257. */
export const HEAD_BYTES = 4100;

interface Sniffed {
  category: Category;
  mime: string;
  /**
   * Containers (zip, gzip, HDF5, OLE2…) and loose or textual signatures: a known extension says more
   * (a zip named .xlsx is data, one named .pt is a model), so the extension wins over these.
   */
  weak?: boolean;
}

function at(head: Uint8Array, offset: number, sig: number[]): boolean {
  if (head.length < offset + sig.length) return false;
  for (let i = 0; i < sig.length; i++) if (head[offset + i] !== sig[i]) return false;
  return true;
}

/** Signatures file-type does not know: NumPy arrays, HDF5, and pickles of protocols 4 and 5. */
function sniffUnlisted(head: Uint8Array): Sniffed | null {
  if (at(head, 0, [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]))
    return { category: 'data', mime: 'application/x-npy' };
  if (at(head, 0, [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a])) {
    return { category: 'data', mime: 'application/x-hdf5', weak: true };
  }
  // Pickle protocols 4 and 5 open with PROTO then FRAME; older protocols are too ambiguous to sniff.
  if (at(head, 0, [0x80, 0x04, 0x95]) || at(head, 0, [0x80, 0x05, 0x95])) {
    return { category: 'models', mime: 'application/x-python-pickle', weak: true };
  }
  return null;
}

function bitmapStructure(head: Uint8Array): boolean {
  // "BM" alone matches ordinary text; the reserved zero bytes and a known DIB header size make it a bitmap.
  if (!at(head, 0, [0x42, 0x4d]) || head.length < 18) return false;
  if (head[6] !== 0 || head[7] !== 0 || head[8] !== 0 || head[9] !== 0) return false;
  const dib = head[14]! | (head[15]! << 8) | (head[16]! << 16) | (head[17]! << 24);
  return [12, 40, 52, 56, 64, 108, 124].includes(dib);
}

/** Formats that are text by nature: the only answers file-type may give for a head that decodes as UTF-8. */
const TEXT_FORMATS = new Set(['application/pdf', 'application/rtf', 'application/postscript']);

/** Containers and loose signatures, over which a known extension wins. */
const WEAK_MIMES = new Set([
  'application/zip',
  'application/gzip',
  'application/x-tar',
  'application/x-bzip2',
  'application/x-xz',
  'application/zstd',
  'application/x-hdf5',
  'application/x-cfb',
  'application/x-ole-storage',
  'application/x-sqlite3',
  'application/vnd.sqlite3',
  'application/postscript',
  'application/ogg',
  'audio/mpeg',
]);

/**
 * file-type's answer for the head. Text is never taken for a binary format (file-type would call "BMW…" a bitmap
 * and "ID3 tags…" audio), and "BM" needs a real bitmap header.
 */
async function sniffFileType(head: Uint8Array, text: boolean): Promise<Sniffed | null> {
  if (head.length === 0) return null;
  let found: { mime: string } | undefined;
  try {
    // Loaded on first use: importing file-type costs ~100 ms of server start-up.
    const { fileTypeFromBuffer } = await import('file-type');
    found = await fileTypeFromBuffer(head);
  } catch {
    found = undefined;
  }
  if (!found || (text && !TEXT_FORMATS.has(found.mime))) return null;
  if (found.mime === 'image/bmp' && !bitmapStructure(head)) return null;
  const category = categoryOfMime(found.mime);
  // an answer of category `other` (an executable, say) says less than a known name
  return { category, mime: found.mime, weak: WEAK_MIMES.has(found.mime) || category === 'other' };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes to drop at the end so a UTF-8 sequence cut by the head limit does not look like binary. */
export function incompleteTail(head: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, head.length); back++) {
    const byte = head[head.length - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead byte
    if ((byte & 0x80) === 0) return 0;
    const need = (byte & 0xe0) === 0xc0 ? 2 : (byte & 0xf0) === 0xe0 ? 3 : (byte & 0xf8) === 0xf0 ? 4 : 0;
    return need > back ? back : 0;
  }
  return 0;
}

/**
 * The bytes as UTF-8 text, or null when they are not text (a NUL byte or an invalid sequence). Unless
 * `complete` says the bytes are the whole file, a sequence cut at the end is dropped rather than refused.
 */
export function decodeUtf8(bytes: Uint8Array, complete = false): string | null {
  if (bytes.includes(0)) return null;
  const cut = complete ? 0 : incompleteTail(bytes);
  try {
    return utf8.decode(cut ? bytes.subarray(0, bytes.length - cut) : bytes);
  } catch {
    return null;
  }
}

export function looksLikeText(head: Uint8Array, complete = false): boolean {
  return decodeUtf8(head, complete) !== null;
}

function sniffText(head: Uint8Array): Sniffed | null {
  const start = new TextDecoder()
    .decode(head.subarray(0, 512))
    .replace(/^\uFEFF/, '')
    .trimStart()
    .toLowerCase();
  if (start.startsWith('<!doctype html') || start.startsWith('<html')) {
    return { category: 'web', mime: 'text/html', weak: true };
  }
  if (start.startsWith('<svg') || (start.startsWith('<?xml') && start.includes('<svg'))) {
    return { category: 'images', mime: 'image/svg+xml', weak: true };
  }
  if (start.startsWith('#!')) {
    const line = start.split('\n', 1)[0] ?? '';
    const python = line.includes('python');
    return { category: 'code', mime: python ? 'text/x-python' : 'text/x-shellscript', weak: true };
  }
  return null;
}

type ExtEntry = [Category, string?];

function entries(
  category: Category,
  exts: string,
  mimeOf: Record<string, string> = {},
): Array<[string, ExtEntry]> {
  return exts.split(' ').map((e) => [e, [category, mimeOf[e]]]);
}

/** Extension → category, with a MIME type where the `mime` package has none or a wrong one (.ts is not video). */
const EXTENSIONS = new Map<string, ExtEntry>([
  ...entries('images', 'png jpg jpeg jpe gif webp bmp tif tiff svg ico heic heif avif psd jxl'),
  ...entries('videos', 'mp4 m4v mov avi mkv webm flv wmv mpeg mpg ogv 3gp'),
  ...entries('audio', 'mp3 wav flac ogg oga opus m4a aac aif aiff mid midi wma'),
  ...entries(
    'data',
    'csv tsv json jsonl ndjson geojson parquet feather arrow orc avro xlsx xls xlsm ods sqlite sqlite3 db duckdb ' +
      'npy npz hdf5 hdf he5 nc mat rds rdata dta sav sas7bdat xml yaml yml',
    {
      jsonl: 'application/jsonl',
      ndjson: 'application/x-ndjson',
      parquet: 'application/vnd.apache.parquet',
      feather: 'application/vnd.apache.arrow.file',
      arrow: 'application/vnd.apache.arrow.file',
      sqlite: 'application/vnd.sqlite3',
      sqlite3: 'application/vnd.sqlite3',
      db: 'application/vnd.sqlite3',
      npy: 'application/x-npy',
      npz: 'application/x-npz',
      hdf5: 'application/x-hdf5',
      hdf: 'application/x-hdf5',
      he5: 'application/x-hdf5',
    },
  ),
  ...entries(
    'code',
    'py pyi pyx pxd ipynb js mjs cjs ts tsx jsx sh bash zsh fish r jl c h cc cpp cxx hpp java go rs rb php pl ' +
      'lua sql scala kt swift cs ps1 bat toml ini cfg',
    {
      py: 'text/x-python',
      pyi: 'text/x-python',
      pyx: 'text/x-cython',
      pxd: 'text/x-cython',
      ts: 'text/x-typescript',
      tsx: 'text/x-typescript',
      jsx: 'text/javascript',
      r: 'text/x-r',
      jl: 'text/x-julia',
      sql: 'application/sql',
      go: 'text/x-go',
      rs: 'text/x-rust',
      ps1: 'text/plain',
      cfg: 'text/plain',
    },
  ),
  ...entries('documents', 'pdf doc docx odt rtf md markdown rst txt text log tex epub ppt pptx odp ps', {
    rst: 'text/x-rst',
  }),
  ...entries('web', 'html htm xhtml css'),
  ...entries('models', 'pkl pickle pt pth onnx h5 keras joblib safetensors ckpt pb tflite gguf mlmodel', {
    pkl: 'application/x-python-pickle',
    pickle: 'application/x-python-pickle',
    onnx: 'application/onnx',
    h5: 'application/x-hdf5',
    keras: 'application/zip',
  }),
  ...entries('archives', 'zip tar gz tgz bz2 tbz2 xz txz 7z rar zst tzst lz4 lzma', {
    tgz: 'application/gzip',
    tbz2: 'application/x-bzip2',
    txz: 'application/x-xz',
    zst: 'application/zstd',
    tzst: 'application/zstd',
    lz4: 'application/x-lz4',
  }),
]);

/** Names that mean something without an extension. */
const BASENAMES = new Map<string, ExtEntry>([
  ['dockerfile', ['code', 'text/plain']],
  ['makefile', ['code', 'text/x-makefile']],
  ['procfile', ['code', 'text/plain']],
  ['requirements.txt', ['code', 'text/plain']],
  ['readme', ['documents', 'text/plain']],
  ['license', ['documents', 'text/plain']],
]);

function nameEntry(relPath: string): ExtEntry | null {
  const base = (relPath.split('/').pop() ?? relPath).toLowerCase();
  const named = BASENAMES.get(base);
  if (named) return named;
  const dot = base.lastIndexOf('.');
  if (dot < 0) return null;
  return EXTENSIONS.get(base.slice(dot + 1)) ?? null;
}

/** A figure the kernel captured: an image anywhere under a folder named `plots`. */
export function isPlotPath(relPath: string): boolean {
  return relPath.split('/').slice(0, -1).includes('plots');
}

function withPlots(relPath: string, c: Categorization): Categorization {
  return c.category === 'images' && isPlotPath(relPath) ? { category: 'plots', mime: c.mime } : c;
}

/** Category and MIME type from the file name alone, for entries whose content is not read (symlinks, unreadable files). */
export function categorizeByName(relPath: string): Categorization {
  const named = nameEntry(relPath);
  if (!named) return { category: 'other', mime: 'application/octet-stream' };
  return withPlots(relPath, {
    category: named[0],
    mime: named[1] ?? mime.getType(relPath) ?? 'application/octet-stream',
  });
}

/**
 * Category and MIME type from the leading bytes (signatures first), then the name. `head` should be the first
 * HEAD_BYTES bytes; pass `complete` when it is the whole file so a cut UTF-8 sequence is not excused.
 */
export async function categorize(
  relPath: string,
  head: Uint8Array,
  complete = false,
): Promise<Categorization> {
  const text = looksLikeText(head, complete);
  const sniffed = sniffUnlisted(head) ?? (await sniffFileType(head, text)) ?? (text ? sniffText(head) : null);
  const named = nameEntry(relPath);
  if (sniffed && (!sniffed.weak || !named))
    return withPlots(relPath, { category: sniffed.category, mime: sniffed.mime });
  if (named) {
    const guessed = named[1] ?? mime.getType(relPath) ?? (text ? 'text/plain' : 'application/octet-stream');
    return withPlots(relPath, { category: named[0], mime: guessed });
  }
  if (text && head.length > 0) return { category: 'other', mime: 'text/plain' };
  return { category: 'other', mime: 'application/octet-stream' };
}

const DOCUMENT_MIMES =
  /^application\/(pdf|rtf|postscript|epub\+zip|msword|vnd\.ms-powerpoint|vnd\.openxmlformats-officedocument\.(wordprocessingml|presentationml)|vnd\.oasis\.opendocument\.(text|presentation))/;
const DATA_MIMES =
  /^application\/(vnd\.ms-excel|vnd\.openxmlformats-officedocument\.spreadsheetml|vnd\.oasis\.opendocument\.spreadsheet|vnd\.sqlite3|x-sqlite3|vnd\.apache\.|x-parquet|x-npy|x-hdf5)/;
const ARCHIVE_MIMES =
  /^application\/(zip|gzip|x-tar|x-bzip2|x-xz|zstd|x-7z-compressed|vnd\.rar|x-rar-compressed|x-lzip|x-lz4|x-compress|x-cpio|x-rpm|vnd\.debian\.binary-package|x-unix-archive|x-archive|x-lzh-compressed|x-arj|x-ace-compressed|x-apple-diskimage|x-iso9660-image)/;

/** The category of a MIME type reported by file-type. */
export function categoryOfMime(m: string): Category {
  if (m.startsWith('image/')) return 'images';
  if (m.startsWith('video/')) return 'videos';
  if (m.startsWith('audio/')) return 'audio';
  if (m === 'text/html' || m === 'application/xhtml+xml') return 'web';
  if (DOCUMENT_MIMES.test(m)) return 'documents';
  if (DATA_MIMES.test(m)) return 'data';
  if (ARCHIVE_MIMES.test(m)) return 'archives';
  if (m === 'application/wasm' || m === 'application/x-python-bytecode') return 'code';
  return 'other';
}
