import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataCodewords, formatBits, penalty, qrMatrix, qrSvg, reedSolomonEcc, versionBits, type QrEcl } from './qr.ts';

// The decoder is a real one: zbarimg from Debian's zbar-tools (script/bootstrap --test).
const ZBARIMG = Bun.which('zbarimg');
const dir = mkdtempSync(join(tmpdir(), 'hark-qr-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A binary PGM (P5) of the symbol: `px` pixels per module, the 4-module quiet zone light. */
function pgm(rows: boolean[][], px = 8): Uint8Array {
  const w = (rows.length + 8) * px;
  const head = new TextEncoder().encode(`P5\n${w} ${w}\n255\n`);
  const out = new Uint8Array(head.length + w * w).fill(255);
  out.set(head);
  rows.forEach((row, r) =>
    row.forEach((dark, c) => {
      if (!dark) return;
      for (let y = 0; y < px; y++) {
        const at = head.length + ((r + 4) * px + y) * w + (c + 4) * px;
        out.fill(0, at, at + px);
      }
    }),
  );
  return out;
}

let seq = 0;
/** What zbarimg reads from the symbol (its text, the trailing newline taken off), or throws. */
function decode(rows: boolean[][]): string {
  if (!ZBARIMG) throw new Error('zbarimg not found (Debian package zbar-tools; script/bootstrap --test installs it)');
  const file = join(dir, `${seq++}.pgm`);
  writeFileSync(file, pgm(rows));
  const p = Bun.spawnSync([ZBARIMG, '--nodbus', '--raw', '-q', file]);
  if (p.exitCode !== 0) throw new Error(`zbarimg found no QR code in ${file} (exit ${p.exitCode}): ${p.stderr.toString()}`);
  return p.stdout.toString().replace(/\n$/, '');
}

const LEVELS: QrEcl[] = ['L', 'M', 'Q', 'H'];
const side = (v: number) => 17 + 4 * v;

// ISO/IEC 18004 §7.5.1 Table 9 (the "number of data codewords" column), versions 1–20.
const DATA_CODEWORDS: Record<QrEcl, number[]> = {
  L: [19, 34, 55, 80, 108, 136, 156, 194, 232, 274, 324, 370, 428, 461, 523, 589, 647, 721, 795, 861],
  M: [16, 28, 44, 64, 86, 108, 124, 154, 182, 216, 254, 290, 334, 365, 415, 453, 507, 563, 627, 669],
  Q: [13, 22, 34, 48, 62, 76, 88, 110, 132, 154, 180, 206, 244, 261, 295, 325, 367, 397, 445, 485],
  H: [9, 16, 26, 36, 46, 60, 66, 86, 100, 122, 140, 158, 180, 197, 223, 253, 283, 313, 341, 385],
};
/** Byte mode capacity: 4 bits of mode, the count (8 bits to version 9, then 16), 8 bits a byte. */
const maxBytes = (v: number, ecl: QrEcl) => Math.floor((DATA_CODEWORDS[ecl][v - 1]! * 8 - 4 - (v <= 9 ? 8 : 16)) / 8);

/** Printable ASCII that varies (a repeated character would be an easy case for the masks). */
function filler(n: number): string {
  let s = '', x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += String.fromCharCode(33 + ((x >>> 16) % 94));
  }
  return s;
}

const SHORT_URL = 'http://studio.local/listen/floor';
const LONG_URL = `https://studio.local/listen/main-hall?token=${filler(1000).replace(/[^A-Za-z0-9]/g, '')}`.slice(0, 200);
const UTF8 = 'Español: escucha aquí — 日本語で聴く ♪';

describe('qrMatrix decodes to exactly its text (zbarimg)', () => {
  const cases: [string, string, QrEcl][] = [];
  for (const ecl of LEVELS) {
    cases.push([`short URL at ${ecl}`, SHORT_URL, ecl]);
    cases.push([`200-character URL at ${ecl}`, LONG_URL, ecl]);
    cases.push([`UTF-8 text at ${ecl}`, UTF8, ecl]);
  }
  test.each(cases)('%s', (_, text, ecl) => {
    expect(decode(qrMatrix(text, ecl))).toBe(text);
  });

  test('the 200-character URL is 200 characters; the short URL at M is version 3 (29 modules)', () => {
    expect(LONG_URL.length).toBe(200);
    expect(qrMatrix(SHORT_URL, 'M').length).toBe(29);
    expect(qrMatrix(SHORT_URL).length).toBe(29);
  });
});

describe('the smallest version that holds the text, up to 20', () => {
  const cases: [number, QrEcl][] = [];
  for (const v of [1, 2, 7, 10, 15, 20]) for (const ecl of LEVELS) cases.push([v, ecl]);
  test.each(cases)('version %i at %s: a full symbol decodes; one byte more takes the next version', (v, ecl) => {
    const n = maxBytes(v, ecl);
    const text = filler(n);
    const rows = qrMatrix(text, ecl);
    expect(rows.length).toBe(side(v));
    expect(rows.every((r) => r.length === side(v))).toBe(true);
    expect(decode(rows)).toBe(text);
    if (v < 20) expect(qrMatrix(filler(n + 1), ecl).length).toBe(side(v + 1));
    else expect(() => qrMatrix(filler(n + 1), ecl)).toThrow(new RangeError(`text too long for a QR code: ${n + 1} bytes of UTF-8; version 20 at error correction level ${ecl} holds at most ${n}`));
  });

  test('data codewords per version and level are the standard table (§7.5.1 Table 9)', () => {
    for (const ecl of LEVELS) expect(Array.from({ length: 20 }, (_, i) => dataCodewords(i + 1, ecl))).toEqual(DATA_CODEWORDS[ecl]);
  });

  test('too long counts bytes, not characters: 223 × "日" (669 bytes) is refused at M', () => {
    expect(() => qrMatrix('日'.repeat(223))).toThrow(/too long for a QR code: 669 bytes of UTF-8; version 20 at error correction level M/);
  });
});

describe('the parts the standard fixes', () => {
  test('Reed-Solomon: the standard\'s worked example "01234567" at 1-M (Annex I)', () => {
    const data = Uint8Array.from([0x10, 0x20, 0x0c, 0x56, 0x61, 0x80, 0xec, 0x11, 0xec, 0x11, 0xec, 0x11, 0xec, 0x11, 0xec, 0x11]);
    expect([...reedSolomonEcc(data, 10)]).toEqual([0xa5, 0x24, 0xd4, 0xc1, 0xed, 0x36, 0xc7, 0x87, 0x2c, 0x55]);
  });

  test('format and version information words (Annex C, Annex D)', () => {
    expect(formatBits('M', 0)).toBe(0b101010000010010);
    expect(formatBits('L', 0)).toBe(0b111011111000100);
    expect(formatBits('H', 0)).toBe(0b001011010001001);
    expect(formatBits('Q', 0)).toBe(0b011010101011111);
    expect(versionBits(7)).toBe(0x07c94);
    expect(versionBits(8)).toBe(0x085bc);
    expect(versionBits(10)).toBe(0x0a4d3);
    expect(versionBits(20)).toBe(0x149a6);
  });

  // zbarimg reads a symbol with one copy of the format or version information broken, so
  // both copies are read back here, from the positions §7.9.1 and §7.10 give.
  test.each([1, 2, 7, 10, 15, 20])('version %i: both copies of the format (and version) information are right', (v) => {
    for (const ecl of LEVELS) {
      const rows = qrMatrix(filler(maxBytes(v, ecl)), ecl);
      const n = rows.length;
      const word = (cells: [number, number][]) => cells.reduce((w, [r, c], i) => w | (Number(rows[r]![c]) << i), 0);
      const one = word([[0, 8], [1, 8], [2, 8], [3, 8], [4, 8], [5, 8], [7, 8], [8, 8], [8, 7], [8, 5], [8, 4], [8, 3], [8, 2], [8, 1], [8, 0]]);
      const two = word([...Array.from({ length: 8 }, (_, i) => [8, n - 1 - i] as [number, number]), ...Array.from({ length: 7 }, (_, i) => [n - 7 + i, 8] as [number, number])]);
      expect(two).toBe(one);
      const mask = Array.from({ length: 8 }, (_, m) => m).find((m) => formatBits(ecl, m) === one);
      expect(mask).toBeDefined();
      expect(rows[n - 8]![8]).toBe(true); // the dark module
      if (v >= 7) {
        const upperRight = word(Array.from({ length: 18 }, (_, i) => [Math.floor(i / 3), n - 11 + (i % 3)] as [number, number]));
        const lowerLeft = word(Array.from({ length: 18 }, (_, i) => [n - 11 + (i % 3), Math.floor(i / 3)] as [number, number]));
        expect([upperRight, lowerLeft]).toEqual([versionBits(v), versionBits(v)]);
      }
    }
  });

  test('mask penalty (§7.8.3.1), counted by hand on 21 × 21 grids', () => {
    const grid = (f: (r: number, c: number) => boolean) => Uint8Array.from({ length: 441 }, (_, i) => Number(f(Math.floor(i / 21), i % 21)));
    // All light: 42 lines of one 21-run (3 + 16 each), 400 2 × 2 blocks (3 each), 0 % dark (10 × 10).
    expect(penalty(grid(() => false), 21)).toBe(42 * 19 + 400 * 3 + 100);
    expect(penalty(grid((r, c) => (r + c) % 2 === 0), 21)).toBe(0);
    // One 1:1:3:1:1 pattern at the left edge of row 10 (the quiet zone before it): 40, plus
    // row 10's 14-run (12), the other rows (20 × 19), the five columns it crosses (two 10-runs,
    // 8 each), the other 16 columns (19 each), 386 light blocks, and 5 dark of 441 (90).
    const dark = new Set([0, 2, 3, 4, 6]);
    expect(penalty(grid((r, c) => r === 10 && dark.has(c)), 21)).toBe(40 + 12 + 20 * 19 + 5 * 16 + 16 * 19 + 386 * 3 + 90);
  });

  test('the mask is chosen per symbol: these texts use at least four of the eight', () => {
    const masks = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const rows = qrMatrix(filler(10 + i * 7), 'M');
      const bits = [[0, 8], [1, 8], [2, 8], [3, 8], [4, 8], [5, 8], [7, 8], [8, 8], [8, 7], [8, 5], [8, 4], [8, 3], [8, 2], [8, 1], [8, 0]].reduce((w, [r, c], k) => w | (Number(rows[r!]![c!]) << k), 0);
      masks.add(Array.from({ length: 8 }, (_, m) => m).find((m) => formatBits('M', m) === bits)!);
    }
    expect(masks.size).toBeGreaterThanOrEqual(4);
  });
});

describe('qrSvg', () => {
  test('one path of the dark modules, the quiet zone in a viewBox of (modules + 8) × moduleSize', () => {
    for (const moduleSize of [1, 4, 10]) {
      const svg = qrSvg(SHORT_URL, { moduleSize });
      const rows = qrMatrix(SHORT_URL);
      const size = (rows.length + 8) * moduleSize;
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      expect(svg.endsWith('</svg>')).toBe(true);
      expect(svg).toContain(`viewBox="0 0 ${size} ${size}"`);
      expect(svg).toContain('shape-rendering="crispEdges"');
      expect(svg).toContain('role="img"');
      expect(svg.match(/<path /g)?.length).toBe(1);
      // Every element is closed: tags balance.
      const opened = svg.match(/<(svg|title)[ >]/g)?.length;
      expect(svg.match(/<\/(svg|title)>/g)?.length).toBe(opened);
      // Drawing the path's runs back gives exactly the matrix.
      const d = svg.match(/ d="([^"]*)"/)![1]!;
      const drawn = rows.map((r) => r.map(() => false));
      for (const [, x, y, w, h, back] of d.matchAll(/M(\d+) (\d+)h(\d+)v(\d+)h-(\d+)z/g)) {
        expect([h, back]).toEqual([String(moduleSize), w]);
        const r = Number(y) / moduleSize - 4, c0 = Number(x) / moduleSize - 4;
        for (let c = c0; c < c0 + Number(w) / moduleSize; c++) drawn[r]![c] = true;
      }
      expect(d.replace(/M\d+ \d+h\d+v\d+h-\d+z/g, '')).toBe('');
      expect(drawn).toEqual(rows);
    }
  });

  test('the label names the image and is escaped; the default label is the text', () => {
    const svg = qrSvg(SHORT_URL, { label: '<script>alert("x")</script> & co' });
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('aria-label="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"');
    expect(svg).toContain('<title>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co</title>');
    const plain = qrSvg('http://x/?a=1&b="2"');
    expect(plain).toContain('<title>http://x/?a=1&amp;b=&quot;2&quot;</title>');
  });

  test('the level is passed on, and a bad moduleSize or level is refused', () => {
    expect(qrSvg(SHORT_URL, { ecl: 'H', moduleSize: 1 })).toContain(`viewBox="0 0 ${33 + 8} ${33 + 8}"`);
    expect(() => qrSvg(SHORT_URL, { moduleSize: 0 })).toThrow(RangeError);
    expect(() => qrSvg(SHORT_URL, { moduleSize: 2.5 })).toThrow(RangeError);
    expect(() => qrMatrix(SHORT_URL, 'X' as QrEcl)).toThrow(RangeError);
  });
});
