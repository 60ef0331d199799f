/**
 * What bun:ffi costs per call, against what the call does: a trivial C call (LAME's
 * lame_get_encoder_delay, a struct field read, through Mp3Encoder's getter) vs the same getter
 * shape in pure JS, then one opus_encode_float of a 10 ms / 20 ms stereo frame and one LAME
 * granule, with the fixed FFI cost as a share of each.
 */
import { loadavg } from 'node:os';
import { OpusEncoder } from '../ffi/opus.ts';
import { Mp3Encoder } from '../ffi/lame.ts';
import { appendResults } from './lib.ts';

/** Median over `rounds` of the mean ns per iteration of `fn` run `n` times. */
function nsPer(n: number, fn: (i: number) => number, rounds = 7): number {
  const per: number[] = [];
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < n; i++) sink += fn(i);
    per.push((Bun.nanoseconds() - t0) / n);
  }
  if (sink === 0.5) console.log(sink); // keep the JIT from dropping the loop
  return per.sort((a, b) => a - b)[Math.floor(rounds / 2)]!;
}

/** The JS peer: the same getter shape (private handle, closed check) returning a field. */
class JsPeer {
  #handle: { delay: number } | null = { delay: 576 };
  get encoderDelay(): number {
    if (this.#handle === null) throw new Error('closed');
    return this.#handle.delay;
  }
}
const peer = new JsPeer();
const lame = new Mp3Encoder({ channels: 2, mode: 'cbr', bitrateKbps: 128 });
const js = nsPer(5_000_000, () => peer.encoderDelay);
const ffi = nsPer(5_000_000, () => lame.encoderDelay);
lame.close();

/** A noisy stereo frame, so the encoder does real work. */
function frame(frames: number): Float32Array {
  const x = new Float32Array(frames * 2);
  let s = 1;
  for (let i = 0; i < x.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    x[i] = 0.3 * Math.sin(i * 0.03) + 0.1 * (s / 2 ** 32 - 0.5);
  }
  return x;
}

const rows: (string | number)[][] = [
  ['JS getter (peer)', js.toFixed(1), '1.0×', ''],
  ['trivial FFI call: Mp3Encoder.encoderDelay → lame_get_encoder_delay()', ffi.toFixed(1), `${(ffi / js).toFixed(1)}×`, ''],
];
for (const frameMs of [10, 20] as const) {
  using enc = new OpusEncoder({ channels: 2, application: 'audio', frameMs, bitrateKbps: 128, complexity: 10, vbr: false });
  const pcm = frame(enc.frameSize);
  const ns = nsPer(2000, () => enc.encodeInto(pcm), 5);
  rows.push([`opus_encode_float, ${frameMs} ms stereo, 128 kbit/s, complexity 10`, ns.toFixed(0), '', `${((100 * ffi) / ns).toFixed(3)} %`]);
}
{
  using enc = new Mp3Encoder({ channels: 2, mode: 'cbr', bitrateKbps: 128 });
  const pcm = frame(1152);
  const ns = nsPer(2000, () => enc.encodeInto(pcm, 1152), 5);
  rows.push(['lame_encode_buffer_interleaved_ieee_float, 1152 frames stereo, 128 kbit/s', ns.toFixed(0), '', `${((100 * ffi) / ns).toFixed(3)} %`]);
}

appendResults(
  'FFI overhead per call',
  'bun bench/ffi-overhead.ts',
  ['call', 'ns per call (median)', 'vs JS getter', 'FFI cost as share of the call'],
  rows,
  `uname -m: ${Bun.spawnSync(['uname', '-m']).stdout.toString().trim()}, load average ${loadavg()[0]!.toFixed(1)} at the end. The "share" column divides the trivial FFI call's cost by the encode call's total: what the binding adds to each frame.`,
);
