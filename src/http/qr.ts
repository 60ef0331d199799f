/**
 * QR Code symbols (ISO/IEC 18004:2015), written here for the printable "scan to listen" sheet:
 * byte mode (UTF-8), error correction level L, M, Q or H, versions 1–20 (the smallest that
 * holds the text), the data mask chosen by the standard's penalty rules. No reader-side code.
 *
 *   qrMatrix('http://studio.local/listen/floor')   // 29 rows of 29 modules, true = dark
 *   qrSvg(url, { moduleSize: 4, label: 'Floor' })   // an SVG with the 4-module quiet zone
 *
 * Clause numbers below are the 2015 edition's.
 */
import { escapeHtml } from '../../web/templates/html.ts';

/** Error correction level: recovers about 7, 15, 25 or 30 % of the codewords. */
export type QrEcl = 'L' | 'M' | 'Q' | 'H';

/** The largest version made: 97 × 97 modules, up to 666 bytes at level M. */
export const QR_MAX_VERSION = 20;

/** The quiet zone's width in modules on every side (§7.3.7: 4X for QR Code symbols). */
export const QR_QUIET = 4;

// §7.5.1 Table 9, versions 1–20: error correction codewords per block and the number of blocks.
// Every block of a version and level has the same number of EC codewords; the data codewords
// are shared out over the blocks (§7.6), so these two columns fix the whole row of the table.
const EC_PER_BLOCK: Record<QrEcl, readonly number[]> = {
  L: [7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28],
  M: [10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26],
  Q: [13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30],
  H: [17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28],
};
const BLOCKS: Record<QrEcl, readonly number[]> = {
  L: [1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8],
  M: [1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16],
  Q: [1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20],
  H: [1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25],
};

// Annex E Table E.1: row/column coordinates of the alignment patterns' centres, versions 2–20.
const ALIGN: readonly (readonly number[])[] = [
  [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50],
  [6, 30, 54], [6, 32, 58], [6, 34, 62], [6, 26, 46, 66], [6, 26, 48, 70], [6, 26, 50, 74],
  [6, 30, 54, 78], [6, 30, 56, 82], [6, 30, 58, 86], [6, 34, 62, 90],
];

// §7.9.1 Table 12: the error correction level's two bits in the format information.
const ECL_BITS: Record<QrEcl, number> = { L: 0b01, M: 0b00, Q: 0b11, H: 0b10 };

// ---- Reed-Solomon over GF(2⁸) (§7.5.2) -----------------------------------------------------

// §7.5.2: arithmetic modulo the field's prime polynomial x⁸ + x⁴ + x³ + x² + 1 (0x11D).
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
for (let i = 0, x = 1; i < 255; i++) {
  EXP[i] = EXP[i + 255] = x;
  LOG[x] = i;
  x <<= 1;
  if (x & 0x100) x ^= 0x11d;
}
const mul = (a: number, b: number) => (a && b ? EXP[LOG[a]! + LOG[b]!]! : 0);

const generators = new Map<number, Uint8Array>();
/** Annex A: g(x) = (x − α⁰)(x − α¹)…(x − αⁿ⁻¹), coefficients highest power first, the leading 1 left out. */
function generator(n: number): Uint8Array {
  let g = generators.get(n);
  if (g) return g;
  let p = [1];
  for (let i = 0; i < n; i++) {
    const next = [...p, 0];
    for (let j = 0; j < p.length; j++) next[j + 1]! ^= mul(p[j]!, EXP[i]!);
    p = next;
  }
  g = Uint8Array.from(p.slice(1));
  generators.set(n, g);
  return g;
}

/**
 * The `n` error correction codewords of one block (§7.5.2): the remainder of data(x)·xⁿ
 * divided by the generator polynomial. Exported for its test against the standard's example.
 */
export function reedSolomonEcc(data: Uint8Array, n: number): Uint8Array {
  const g = generator(n);
  const rem = new Uint8Array(n);
  for (const byte of data) {
    const factor = byte ^ rem[0]!;
    rem.copyWithin(0, 1);
    rem[n - 1] = 0;
    for (let i = 0; i < n; i++) rem[i]! ^= mul(g[i]!, factor);
  }
  return rem;
}

// ---- data encoding (§7.4) ----------------------------------------------------------------

class Bits {
  readonly bits: number[] = [];
  put(value: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) this.bits.push((value >>> i) & 1);
  }
}

/** A version's size in modules per side (§7.3.1: 21 for version 1, 4 more for each version). */
const sideOf = (version: number) => 17 + 4 * version;

/** The function patterns of a version: which modules they take, and their colours. */
function functionPatterns(version: number): { dark: Uint8Array; fixed: Uint8Array } {
  const n = sideOf(version);
  const dark = new Uint8Array(n * n);
  const fixed = new Uint8Array(n * n);
  const set = (r: number, c: number, on: boolean) => {
    dark[r * n + c] = on ? 1 : 0;
    fixed[r * n + c] = 1;
  };
  // §7.3.2 finder patterns (7 × 7: dark ring, light ring, 3 × 3 dark centre) with §7.3.3 their
  // one-module light separators, in three corners.
  for (const [r0, c0] of [[0, 0], [0, n - 7], [n - 7, 0]] as const)
    for (let dr = -1; dr <= 7; dr++)
      for (let dc = -1; dc <= 7; dc++) {
        const r = r0 + dr, c = c0 + dc;
        if (r < 0 || r >= n || c < 0 || c >= n) continue;
        const ring = Math.max(Math.abs(dr - 3), Math.abs(dc - 3));
        set(r, c, ring !== 2 && ring !== 4);
      }
  // §7.3.4 timing patterns: row 6 and column 6 between the separators, dark on even positions.
  for (let i = 8; i < n - 8; i++) {
    set(6, i, i % 2 === 0);
    set(i, 6, i % 2 === 0);
  }
  // §7.3.5 alignment patterns (5 × 5: dark, light ring, dark centre) at every pair of Annex E
  // coordinates, except the three that would overlap a finder pattern.
  const at = ALIGN[version - 1]!;
  for (const r of at)
    for (const c of at) {
      if ((r === 6 && c === 6) || (r === 6 && c === at.at(-1)) || (r === at.at(-1) && c === 6)) continue;
      for (let dr = -2; dr <= 2; dr++)
        for (let dc = -2; dc <= 2; dc++) set(r + dr, c + dc, Math.max(Math.abs(dr), Math.abs(dc)) !== 1);
    }
  // §7.9.1: the format information's two copies take row 8 and column 8 beside the finders;
  // reserved here, written per mask. The module at (4V + 9, 8) is always dark.
  for (let i = 0; i <= 8; i++) {
    if (i !== 6) {
      fixed[8 * n + i] = 1;
      fixed[i * n + 8] = 1;
    }
    if (i < 8) {
      fixed[8 * n + (n - 1 - i)] = 1;
      fixed[(n - 1 - i) * n + 8] = 1;
    }
  }
  set(n - 8, 8, true);
  // §7.10: version information, versions 7 and up, two 6 × 3 blocks beside the upper-right and
  // lower-left finders: 6 bits of version and 12 of BCH (18,6) code, generator 0x1F25 (Annex D).
  if (version >= 7) {
    const bits = versionBits(version);
    for (let i = 0; i < 18; i++) {
      const on = ((bits >>> i) & 1) === 1;
      const a = n - 11 + (i % 3), b = Math.floor(i / 3);
      set(b, a, on);
      set(a, b, on);
    }
  }
  return { dark, fixed };
}

/** Annex D: the 18-bit version information word (version in the top 6 bits). */
export function versionBits(version: number): number {
  let rem = version << 12;
  for (let i = 17; i >= 12; i--) if ((rem >>> i) & 1) rem ^= 0x1f25 << (i - 12);
  return (version << 12) | rem;
}

/** Annex C: the 15-bit format information word, BCH (15,5) with generator 0x537, XORed with 0x5412. */
export function formatBits(ecl: QrEcl, mask: number): number {
  const data = (ECL_BITS[ecl] << 3) | mask;
  let rem = data << 10;
  for (let i = 14; i >= 10; i--) if ((rem >>> i) & 1) rem ^= 0x537 << (i - 10);
  // The XOR keeps the word from being all zeros (Annex C), whatever the level and mask.
  return ((data << 10) | rem) ^ 0x5412;
}

function writeFormat(dark: Uint8Array, n: number, word: number): void {
  const bit = (i: number) => (word >>> i) & 1;
  // §7.9.1, bit 0 the least significant. Copy one wraps the upper-left finder: bits
  // 0–7 down column 8 (the timing row skipped), 8–14 leftwards along row 8. Copy two is split:
  // bits 0–7 along row 8 from the right edge leftwards, 8–14 down column 8 to the bottom edge.
  for (let i = 0; i <= 5; i++) dark[i * n + 8] = bit(i);
  dark[7 * n + 8] = bit(6);
  dark[8 * n + 8] = bit(7);
  dark[8 * n + 7] = bit(8);
  for (let i = 9; i < 15; i++) dark[8 * n + (14 - i)] = bit(i);
  for (let i = 0; i < 8; i++) dark[8 * n + (n - 1 - i)] = bit(i);
  for (let i = 8; i < 15; i++) dark[(n - 15 + i) * n + 8] = bit(i);
}

/** A version's codewords (Table 1): its non-function modules in whole bytes; the rest are remainder bits. */
const capacityCache = new Map<number, number>();
function totalCodewords(version: number): number {
  let c = capacityCache.get(version);
  if (c === undefined) {
    const { fixed } = functionPatterns(version);
    c = Math.floor(fixed.reduce((free, f) => free + (f ? 0 : 1), 0) / 8);
    capacityCache.set(version, c);
  }
  return c;
}

/** The number of data codewords of a version and level (§7.5.1 Table 9's column "data codewords"). */
export function dataCodewords(version: number, ecl: QrEcl): number {
  return totalCodewords(version) - BLOCKS[ecl][version - 1]! * EC_PER_BLOCK[ecl][version - 1]!;
}

// §7.4.2 / §7.4.5: the byte mode indicator 0100, the ECI mode indicator 0111, and ECI 000026
// (UTF-8) in one byte. Without an ECI a reader may take bytes as ISO/IEC 8859-1 (the default
// interpretation, §7.4.2), so non-ASCII text says it is UTF-8; ASCII reads the same either way.
const MODE_BYTE = 0b0100;
const MODE_ECI = 0b0111;
const ECI_UTF8 = 26;

/** §7.4.1 Table 3: the byte mode character count indicator is 8 bits to version 9, 16 from 10. */
const countBits = (version: number) => (version <= 9 ? 8 : 16);

/** The smallest version (1–20) that holds `bytes` at `ecl`; a RangeError naming the limit if none does. */
function chooseVersion(bytes: Uint8Array, ecl: QrEcl, eci: boolean): number {
  for (let v = 1; v <= QR_MAX_VERSION; v++) {
    const need = (eci ? 12 : 0) + 4 + countBits(v) + 8 * bytes.length;
    if (need <= dataCodewords(v, ecl) * 8) return v;
  }
  const max = Math.floor((dataCodewords(QR_MAX_VERSION, ecl) * 8 - (eci ? 12 : 0) - 4 - 16) / 8);
  throw new RangeError(
    `text too long for a QR code: ${bytes.length} bytes of UTF-8; version ${QR_MAX_VERSION} at error correction level ${ecl} holds at most ${max}`,
  );
}

/** The final message (§7.6): data and error correction codewords, each interleaved over the blocks. */
function codewords(bytes: Uint8Array, version: number, ecl: QrEcl, eci: boolean): Uint8Array {
  const capacity = dataCodewords(version, ecl);
  const b = new Bits();
  if (eci) {
    b.put(MODE_ECI, 4);
    b.put(ECI_UTF8, 8);
  }
  b.put(MODE_BYTE, 4);
  b.put(bytes.length, countBits(version));
  for (const byte of bytes) b.put(byte, 8);
  // §7.4.9 terminator: up to four 0 bits; §7.4.10: 0 bits to the byte boundary, then the pad
  // codewords 11101100 and 00010001 alternately until the capacity is filled.
  b.put(0, Math.min(4, capacity * 8 - b.bits.length));
  b.put(0, (8 - (b.bits.length % 8)) % 8);
  const data = new Uint8Array(capacity);
  for (let i = 0; i < b.bits.length; i++) data[i >> 3]! |= b.bits[i]! << (7 - (i & 7));
  for (let i = b.bits.length / 8, pad = 0xec; i < capacity; i++, pad ^= 0xec ^ 0x11) data[i] = pad;

  // §7.6: the blocks of group 1 are one data codeword shorter than those of group 2 (if any),
  // and group 2 comes last. The message is codeword 1 of every block, then codeword 2, …, the
  // short blocks sitting out the last round; then the EC codewords the same way.
  const nBlocks = BLOCKS[ecl][version - 1]!;
  const ecLen = EC_PER_BLOCK[ecl][version - 1]!;
  const short = Math.floor(capacity / nBlocks);
  const longFrom = nBlocks - (capacity % nBlocks);
  const blocks: Uint8Array[] = [];
  const eccs: Uint8Array[] = [];
  for (let i = 0, at = 0; i < nBlocks; i++) {
    const len = short + (i >= longFrom ? 1 : 0);
    const block = data.subarray(at, at + len);
    at += len;
    blocks.push(block);
    eccs.push(reedSolomonEcc(block, ecLen));
  }
  const out = new Uint8Array(totalCodewords(version));
  let k = 0;
  for (let i = 0; i <= short; i++) for (const block of blocks) if (i < block.length) out[k++] = block[i]!;
  for (let i = 0; i < ecLen; i++) for (const ecc of eccs) out[k++] = ecc[i]!;
  return out;
}

// ---- placement and masking (§7.7, §7.8) -------------------------------------------------

/**
 * §7.7.3: the codewords' bits, most significant first, in two-module-wide columns from the
 * lower right, upwards then downwards in turn, right module before left, skipping function
 * modules and the vertical timing pattern's column. Modules left over (the remainder bits,
 * 0–7 of them) stay light.
 */
function place(dark: Uint8Array, fixed: Uint8Array, n: number, message: Uint8Array): void {
  let i = 0;
  const total = message.length * 8;
  let upward = true;
  for (let right = n - 1; right > 0; right -= 2) {
    if (right === 6) right = 5;
    for (let step = 0; step < n; step++) {
      const r = upward ? n - 1 - step : step;
      for (const c of [right, right - 1]) {
        const at = r * n + c;
        if (fixed[at]) continue;
        if (i < total) dark[at] = (message[i >> 3]! >>> (7 - (i & 7))) & 1;
        i++;
      }
    }
    upward = !upward;
  }
}

// §7.8.2 Table 10: the eight data mask patterns; a module (row i, column j) is inverted where true.
const MASKS: readonly ((i: number, j: number) => boolean)[] = [
  (i, j) => (i + j) % 2 === 0,
  (i) => i % 2 === 0,
  (_, j) => j % 3 === 0,
  (i, j) => (i + j) % 3 === 0,
  (i, j) => (Math.floor(i / 2) + Math.floor(j / 3)) % 2 === 0,
  (i, j) => ((i * j) % 2) + ((i * j) % 3) === 0,
  (i, j) => (((i * j) % 2) + ((i * j) % 3)) % 2 === 0,
  (i, j) => (((i + j) % 2) + ((i * j) % 3)) % 2 === 0,
];

/**
 * §7.8.3.1 Table 11: the penalty of a masked symbol; the mask with the lowest one is used.
 * N1 = 3 (+1 per module) for each run of 5 or more same-coloured modules in a row or column;
 * N2 = 3 for each 2 × 2 block of one colour (an m × n block counts (m−1)(n−1) times);
 * N3 = 40 for each 1:1:3:1:1 dark-light-dark-light-dark pattern with 4 light modules on either
 * side (at any width u of its narrow parts, then 4u light; beyond the edge is the quiet zone);
 * N4 = 10 for each full 5 % by which the dark modules' share differs from 50 %.
 */
export function penalty(dark: Uint8Array, n: number): number {
  let score = 0;
  const line = new Uint8Array(n);
  for (let pass = 0; pass < 2; pass++)
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < n; b++) line[b] = pass === 0 ? dark[a * n + b]! : dark[b * n + a]!;
      score += linePenalty(line);
    }
  for (let r = 0; r < n - 1; r++)
    for (let c = 0; c < n - 1; c++) {
      const v = dark[r * n + c];
      if (v === dark[r * n + c + 1] && v === dark[(r + 1) * n + c] && v === dark[(r + 1) * n + c + 1]) score += 3;
    }
  const darkCount = dark.reduce((s, d) => s + d, 0);
  score += 10 * Math.floor(Math.abs((darkCount * 100) / (n * n) - 50) / 5);
  return score;
}

/** N1 and N3 for one row or column. */
function linePenalty(line: Uint8Array): number {
  // Runs of one colour; the quiet zone adds QR_QUIET light modules at both ends for N3.
  const runs: number[] = [];
  const colours: number[] = [];
  for (let i = 0; i < line.length; ) {
    let j = i;
    while (j < line.length && line[j] === line[i]) j++;
    runs.push(j - i);
    colours.push(line[i]!);
    i = j;
  }
  let score = 0;
  for (const len of runs) if (len >= 5) score += 3 + (len - 5);
  if (colours[0] === 1) runs.unshift(QR_QUIET), colours.unshift(0);
  else runs[0]! += QR_QUIET;
  if (colours.at(-1) === 1) runs.push(QR_QUIET), colours.push(0);
  else runs[runs.length - 1]! += QR_QUIET;
  // Runs alternate in colour and both ends are light, so dark runs sit at odd indices.
  for (let k = 1; k + 4 < runs.length; k += 2) {
    const u = runs[k]!;
    if (runs[k + 1] !== u || runs[k + 2] !== 3 * u || runs[k + 3] !== u || runs[k + 4] !== u) continue;
    if (runs[k - 1]! >= 4 * u || (runs[k + 5] ?? 0) >= 4 * u) score += 40;
  }
  return score;
}

// ---- the API -----------------------------------------------------------------------------

/**
 * The modules of the QR Code for `text` (UTF-8, byte mode), without the quiet zone:
 * `rows[r][c]` is true for a dark module. The version is the smallest of 1–20 that holds the
 * text at `ecl` (default M); a longer text throws a RangeError.
 */
export function qrMatrix(text: string, ecl: QrEcl = 'M'): boolean[][] {
  if (!(ecl in ECL_BITS)) throw new RangeError(`unknown error correction level ${JSON.stringify(ecl)} (L, M, Q or H)`);
  const bytes = new TextEncoder().encode(text);
  const eci = bytes.some((b) => b >= 0x80);
  const version = chooseVersion(bytes, ecl, eci);
  const n = sideOf(version);
  const { dark: base, fixed } = functionPatterns(version);
  place(base, fixed, n, codewords(bytes, version, ecl, eci));

  let best: Uint8Array | undefined;
  let bestScore = Infinity;
  for (let m = 0; m < 8; m++) {
    const dark = base.slice();
    const inverted = MASKS[m]!;
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (!fixed[r * n + c] && inverted(r, c)) dark[r * n + c]! ^= 1;
    writeFormat(dark, n, formatBits(ecl, m));
    const score = penalty(dark, n);
    if (score < bestScore) (best = dark), (bestScore = score);
  }
  return Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => best![r * n + c] === 1));
}

/**
 * The QR Code for `text` as a standalone SVG: the quiet zone included in the viewBox
 * ((modules + 8) × moduleSize user units, default moduleSize 4), a white background and one
 * path of dark runs, crisp edges. `label` (default: the text) is its accessible name.
 */
export function qrSvg(text: string, opts: { ecl?: QrEcl; moduleSize?: number; label?: string } = {}): string {
  const rows = qrMatrix(text, opts.ecl ?? 'M');
  const s = opts.moduleSize ?? 4;
  if (!Number.isInteger(s) || s < 1) throw new RangeError(`moduleSize must be a whole number of 1 or more, not ${s}`);
  const size = (rows.length + 2 * QR_QUIET) * s;
  let d = '';
  rows.forEach((row, r) => {
    for (let c = 0; c < row.length; ) {
      if (!row[c]) {
        c++;
        continue;
      }
      let end = c;
      while (end < row.length && row[end]) end++;
      d += `M${(c + QR_QUIET) * s} ${(r + QR_QUIET) * s}h${(end - c) * s}v${s}h-${(end - c) * s}z`;
      c = end;
    }
  });
  const label = escapeHtml(opts.label ?? text);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" width="${size}" height="${size}" shape-rendering="crispEdges" role="img" aria-label="${label}">` +
    `<title>${label}</title><rect width="${size}" height="${size}" fill="#fff"/><path fill="#000" d="${d}"/></svg>`
  );
}
