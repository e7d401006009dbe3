// Unit tests for artifact categorization: content sniffing first, the file name as fallback, plots by folder; never reads files, only byte fixtures.
import { crc32, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { categorize, categorizeByName, decodeUtf8, isPlotPath } from '../../src/workspace/categorize.js';

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A real 1×1 PNG. */
function png(): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0);
  ihdr.writeUInt32BE(1, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.from([0, 255, 0, 0]))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A stored (uncompressed) zip archive. */
function zip(entries: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of entries) {
    const data = Buffer.from(text);
    const nm = Buffer.from(name);
    const crc = crc32(data);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt32LE(crc, 14);
    h.writeUInt32LE(data.length, 18);
    h.writeUInt32LE(data.length, 22);
    h.writeUInt16LE(nm.length, 26);
    parts.push(h, nm, data);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(data.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(nm.length, 28);
    c.writeUInt32LE(offset, 42);
    central.push(c, nm);
    offset += 30 + nm.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cd, end]);
}

const JPEG = Buffer.concat([
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]),
  Buffer.from('JFIF\0', 'latin1'),
  Buffer.from([1, 1, 0, 0, 1, 0, 1, 0, 0, 0xff, 0xd9]),
]);
const PDF = Buffer.from(
  '%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n',
);
const HTML = Buffer.from('<!DOCTYPE html>\n<html><head><title>t</title></head><body>hi</body></html>\n');
const CSV = Buffer.from('name,value\na,1\nb,2\n');
const PY = Buffer.from('import math\nprint(math.pi)\n');

describe('categorize', () => {
  it.each([
    ['results/table.csv', CSV, 'data', 'text/csv'],
    ['x.dat', png(), 'images', 'image/png'],
    ['bundle.zip', zip([['a.txt', 'hello']]), 'archives', 'application/zip'],
    ['analysis.py', PY, 'code', 'text/x-python'],
    ['photo.jpg', JPEG, 'images', 'image/jpeg'],
    ['photo.bin', JPEG, 'images', 'image/jpeg'],
    ['report.pdf', PDF, 'documents', 'application/pdf'],
    ['site/index.html', HTML, 'web', 'text/html'],
    ['page.dat', HTML, 'web', 'text/html'],
    [
      'blob.dat',
      Buffer.from([0x00, 0x13, 0x37, 0xc0, 0xff, 0xee, 0x00, 0x01, 0xfe]),
      'other',
      'application/octet-stream',
    ],
  ])('%s → %s', async (path, bytes, category, mime) => {
    expect(await categorize(path, bytes, true)).toEqual({ category, mime });
  });

  it('lets content win over a misleading extension, but a known extension win over a container', async () => {
    expect((await categorize('chart.csv', png())).category).toBe('images');
    expect((await categorize('weights.pt', zip([['archive/data.pkl', 'x']]))).category).toBe('models');
    expect((await categorize('table.xlsx', zip([['xl/workbook.xml', '<x/>']]))).category).toBe('data');
    expect((await categorize('arrays.npz', zip([['a.npy', 'x']]))).category).toBe('data');
  });

  it('falls back to the extension for formats without a signature', async () => {
    expect(await categorize('model.onnx', Buffer.from([0x08, 0x07, 0x12, 0x04]))).toMatchObject({
      category: 'models',
    });
    expect(await categorize('clf.joblib', Buffer.from([0x80, 0x04, 0x95, 0x10]))).toMatchObject({
      category: 'models',
    });
    expect(await categorize('src/app.ts', Buffer.from('export {};\n'))).toEqual({
      category: 'code',
      mime: 'text/x-typescript',
    });
    expect((await categorize('notes.md', Buffer.from('# Notes\n'))).category).toBe('documents');
    expect((await categorize('style.css', Buffer.from('body{}'))).category).toBe('web');
    expect((await categorize('nb.ipynb', Buffer.from('{"cells": []}'))).category).toBe('code');
    expect((await categorize('Dockerfile', Buffer.from('FROM python:3.12\n'))).category).toBe('code');
  });

  it('calls text with an unknown name other/text/plain and an empty unknown file octet-stream', async () => {
    expect(await categorize('output.out', Buffer.from('hello\n'))).toEqual({
      category: 'other',
      mime: 'text/plain',
    });
    expect(await categorize('empty', new Uint8Array(0))).toEqual({
      category: 'other',
      mime: 'application/octet-stream',
    });
    expect((await categorize('empty.csv', new Uint8Array(0))).category).toBe('data');
  });

  it('makes an image a plot only under a plots folder', async () => {
    expect(await categorize('plots/fig-1.png', png())).toEqual({ category: 'plots', mime: 'image/png' });
    expect(
      (await categorize('results/plots/fig.svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')))
        .category,
    ).toBe('plots');
    expect((await categorize('images/fig.png', png())).category).toBe('images');
    expect((await categorize('plots/data.csv', CSV)).category).toBe('data');
    expect(isPlotPath('plots.png')).toBe(false);
  });

  it('does not mistake a UTF-8 character cut at the end of the head for binary', async () => {
    const text = Buffer.from('é'.repeat(10));
    const cut = text.subarray(0, text.length - 1);
    expect(decodeUtf8(cut)).toBe('é'.repeat(9));
    expect(decodeUtf8(cut, true)).toBeNull();
    expect(await categorize('notes.txt', cut)).toEqual({ category: 'documents', mime: 'text/plain' });
  });

  it('requires real bitmap structure before calling "BM…" text, or binary, an image', async () => {
    expect((await categorize('notes', Buffer.from('BMW is a car maker\n'))).category).toBe('other');
    const notBitmap = Buffer.from([0x42, 0x4d, 0xff, 0x00, 0x13, 0x37, 0x01, 0x00, 0x00, 0x00, 0xfe, 0xee]);
    expect(await categorize('blob', notBitmap)).toEqual({
      category: 'other',
      mime: 'application/octet-stream',
    });
  });

  it('knows the signatures file-type lacks: NumPy arrays, HDF5, pickles', async () => {
    const npy = Buffer.concat([
      Buffer.from([0x93]),
      Buffer.from("NUMPY\x01\x00v\x00{'descr': '<f8'}", 'latin1'),
    ]);
    expect(await categorize('a.bin', npy)).toEqual({ category: 'data', mime: 'application/x-npy' });
    const hdf5 = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00]);
    expect(await categorize('store', hdf5)).toEqual({ category: 'data', mime: 'application/x-hdf5' });
    // HDF5 is a container: a Keras model's .h5 name says more
    expect((await categorize('model.h5', hdf5)).category).toBe('models');
    const pickle = Buffer.from([0x80, 0x05, 0x95, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
    expect(await categorize('obj', pickle)).toEqual({
      category: 'models',
      mime: 'application/x-python-pickle',
    });
  });
});

describe('categorizeByName', () => {
  it('answers from the name alone, for entries whose content is not read', () => {
    expect(categorizeByName('results/table.csv')).toEqual({ category: 'data', mime: 'text/csv' });
    expect(categorizeByName('plots/fig.png')).toEqual({ category: 'plots', mime: 'image/png' });
    expect(categorizeByName('link-to-somewhere')).toEqual({
      category: 'other',
      mime: 'application/octet-stream',
    });
  });
});

describe('categorize with file-type', () => {
  it('uses file-type for containers with an unknown name (a .docx saved as .bin)', async () => {
    const docx = zip([
      [
        '[Content_Types].xml',
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
          '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
      ],
      ['word/document.xml', '<w:document/>'],
    ]);
    expect(await categorize('report.bin', docx)).toEqual({
      category: 'documents',
      mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    });
  });

  it('recognizes formats beyond the few signatures of its own (JPEG XL)', async () => {
    const jxl = Buffer.from([0xff, 0x0a, 0xfa, 0x7f, 0x01, 0x90, 0x08, 0x06, 0x01, 0x00]);
    expect(await categorize('image.bin', jxl)).toEqual({ category: 'images', mime: 'image/jxl' });
    expect(await categorize('plots/image.bin', jxl)).toEqual({ category: 'plots', mime: 'image/jxl' });
  });

  it('keeps the answer of signatures, text and known extensions over a generic container', async () => {
    expect(await categorize('x.dat', png())).toEqual({ category: 'images', mime: 'image/png' });
    expect(await categorize('a.csv', CSV)).toEqual({ category: 'data', mime: 'text/csv' });
    expect((await categorize('weights.pt', zip([['archive/data.pkl', 'x']]))).category).toBe('models');
  });
});
