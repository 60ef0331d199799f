import { expect, test } from 'bun:test';
import { FlacDecoder, FlacError } from './flac.ts';
import { Mpg123Decoder, Mpg123Error } from './mpg123.ts';

test('FlacDecoder: close is idempotent, decode after close throws, garbage after the magic yields no block', () => {
  const d = new FlacDecoder();
  let blocks = 0;
  try {
    d.decode(new TextEncoder().encode('fLaC' + 'x'.repeat(100)), () => ++blocks > 0);
  } catch (e) {
    expect(e).toBeInstanceOf(FlacError);
  }
  expect(blocks).toBe(0);
  d.close();
  d.close();
  expect(() => d.decode(new Uint8Array(10), () => true)).toThrow('FlacDecoder is closed');
});

test('Mpg123Decoder: close is idempotent, decode after close throws, garbage decodes to nothing', () => {
  const d = new Mpg123Decoder();
  expect(d.decode(new Uint8Array(100_000).fill(0x41), () => true)).toBe(0);
  d.close();
  d.close();
  expect(() => d.decode(new Uint8Array(10), () => true)).toThrow(Mpg123Error);
});
