import { describe, expect, test } from 'bun:test';
import { icyBlock, IcyInterleaver, icyTitle } from './icy.ts';

/** Undo the interleaving: the audio and the titles, as a player would read them. */
function deinterleave(bytes: Uint8Array, metaint: number) {
  const audio: number[] = [];
  const titles: string[] = [];
  let i = 0;
  while (i < bytes.length) {
    const take = Math.min(metaint, bytes.length - i);
    for (let k = 0; k < take; k++) audio.push(bytes[i + k]!);
    i += take;
    if (take < metaint || i >= bytes.length) break;
    const n = bytes[i]! * 16;
    if (n) titles.push(new TextDecoder().decode(bytes.subarray(i + 1, i + 1 + n)).replace(/\0+$/, ''));
    i += 1 + n;
  }
  return { audio, titles };
}

describe('ICY metadata', () => {
  test('blocks land exactly every metaint audio bytes, whatever the packet sizes; unchanged titles cost one byte', () => {
    let title = '';
    const icy = new IcyInterleaver(100, () => title);
    const out: Uint8Array[] = [];
    let n = 0;
    const audioIn: number[] = [];
    for (const size of [30, 70, 1, 250, 99, 417, 3, 333]) {
      if (n === 3) title = 'Artist – Title';
      const pkt = new Uint8Array(size).map((_, k) => (n * 31 + k) & 0xff);
      audioIn.push(...pkt);
      out.push(icy.wrap(pkt));
      n++;
    }
    const all = Buffer.concat(out);
    const { audio, titles } = deinterleave(all, 100);
    expect(audio).toEqual(audioIn);
    expect(titles).toEqual(["StreamTitle='Artist – Title';"]);
    // 1203 audio bytes → 12 blocks: 11 empty (1 byte) and one with the title.
    expect(all.length).toBe(1203 + 11 + icyBlock('Artist – Title').length);
  });

  test('a block holds at most 255 × 16 bytes; long titles are cut on a character', () => {
    const b = icyBlock('é'.repeat(5000));
    expect(b[0]).toBe(255);
    expect(b.length).toBe(1 + 4080);
    const text = new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(1)).replace(/\0+$/, '');
    expect(text).toEndWith("é';");
  });

  test('emoji (surrogate pairs) are cut whole, never in half', () => {
    const b = icyBlock('😀'.repeat(2000));
    const text = new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(1)).replace(/\0+$/, '');
    expect(text).toMatch(/^StreamTitle='(😀)+';$/);
  });

  test.each([
    ["x';StreamUrl='http://evil/';", "x’;StreamUrl='http://evil/’;"],
    ["Rock 'n' roll", "Rock 'n' roll"],
    ["ends with a quote'", 'ends with a quote’'],
    ['nul\u0000 and\nnewline\r\u001b[31m', 'nul  and newline  [31m'],
  ])('icyTitle(%j) is %j: nothing after it can be read as another field', (title, safe) => {
    expect(icyTitle(title)).toBe(safe);
    const text = new TextDecoder().decode(icyBlock(title).subarray(1)).replace(/\0+$/, '');
    // As ffmpeg's http.c reads a block: the value ends at the first "';".
    expect(text.indexOf("';")).toBe(text.length - 2);
  });
});
