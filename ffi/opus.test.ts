import { describe, expect, test } from 'bun:test';
import { channel, dominantFrequency, rmsDbfs, sine } from '../test/lib/signal.ts';
import {
  OPUS_BAD_ARG,
  OpusConfigError,
  OpusDecoder,
  OpusEncoder,
  type OpusEncoderOptions,
  OpusError,
  opusStrerror,
  opusVersion,
} from './opus.ts';

const base: OpusEncoderOptions = { channels: 2, application: 'audio', frameMs: 20, bitrateKbps: 96 };

describe('OpusEncoder settings', () => {
  test('libopus is loaded and reports its version', () => {
    expect(opusVersion()).toMatch(/^libopus \d+\.\d+/);
  });

  test('every documented option is accepted', () => {
    for (const application of ['audio', 'voip', 'restricted-lowdelay'] as const) {
      const enc = new OpusEncoder({
        ...base,
        application,
        complexity: 5,
        vbr: true,
        constrainedVbr: false,
        fec: true,
        expectedLossPct: 10,
        dtx: true,
        maxBandwidth: 'wideband',
        signal: 'music',
      });
      expect(enc.bitrateKbps).toBe(96);
      enc.close();
    }
  });

  // Settings libopus itself rejects: the error carries libopus's own text (opus_strerror).
  test.each([
    ['channels 3', { channels: 3 }, 'opus_encoder_create'],
    ['complexity 11', { complexity: 11 }, 'OPUS_SET_COMPLEXITY'],
    ['expected loss 101 %', { expectedLossPct: 101 }, 'OPUS_SET_PACKET_LOSS_PERC'],
    ['complexity -1', { complexity: -1 }, 'OPUS_SET_COMPLEXITY'],
  ])('%s → OpusError from libopus', (_name, bad, operation) => {
    const attempt = () => new OpusEncoder({ ...base, ...bad } as OpusEncoderOptions);
    expect(attempt).toThrow(OpusError);
    try {
      attempt();
    } catch (e) {
      const err = e as OpusError;
      expect(err.operation).toBe(operation);
      expect(err.code).toBe(OPUS_BAD_ARG);
      expect(err.reason).toBe(opusStrerror(OPUS_BAD_ARG));
      expect(err.message).toContain('invalid argument');
    }
  });

  // Settings libopus would silently clamp or only reject mid-stream: refused up front.
  test.each([
    ['frameMs 7', { frameMs: 7 }, 'frameMs'],
    ['bitrate 1 kbit/s', { bitrateKbps: 1 }, 'bitrateKbps'],
    ['bitrate 600 kbit/s', { bitrateKbps: 600 }, 'bitrateKbps'],
    ['application "music"', { application: 'music' }, 'application'],
  ])('%s → OpusConfigError', (_name, bad, setting) => {
    try {
      new OpusEncoder({ ...base, ...bad } as OpusEncoderOptions);
      throw new Error('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(OpusConfigError);
      expect(e).toBeInstanceOf(RangeError);
      expect((e as OpusConfigError).setting).toBe(setting);
    }
  });

  test('decoder with 3 channels → OpusError from libopus', () => {
    expect(() => new OpusDecoder({ channels: 3 as 2 })).toThrow(/opus_decoder_create: invalid argument/);
  });

  test('encode() wants exactly one frame', () => {
    const enc = new OpusEncoder(base);
    expect(() => enc.encode(new Float32Array(100))).toThrow(OpusConfigError);
    enc.close();
  });
});

describe('OpusEncoder / OpusDecoder', () => {
  test('round trip: decoder state matches encoder (final range) and the tone survives', () => {
    const enc = new OpusEncoder(base);
    const dec = new OpusDecoder({ channels: 2 });
    const pcm = sine({ frequency: 1000, dbfs: -6, seconds: 1, channels: 2 });
    const out = new Float32Array(pcm.length);
    const step = enc.frameSize * 2;
    for (let i = 0; i < pcm.length; i += step) {
      const packet = enc.encode(pcm.subarray(i, i + step));
      expect(packet.length).toBeGreaterThan(0);
      expect(packet.buffer).toBe(enc.output.buffer); // a view, not a copy
      out.set(dec.decode(packet), i);
      expect(dec.finalRange).toBe(enc.finalRange);
      expect(dec.lastPacketDuration).toBe(960);
    }
    const mid = channel(out, 2, 0).subarray(48_000 / 5);
    expect(Math.abs(dominantFrequency(mid) - 1000)).toBeLessThan(1);
    expect(rmsDbfs(mid)).toBeCloseTo(-6, 0);
    enc.close();
    dec.close();
  });

  test('lookahead is the pre-skip libopus reports for the application', () => {
    using audio = new OpusEncoder(base);
    using lowdelay = new OpusEncoder({ ...base, application: 'restricted-lowdelay' });
    // 2.5 ms CELT overlap + 4 ms analysis delay at 48 kHz; restricted-lowdelay drops the latter.
    expect(audio.lookahead).toBe(312);
    expect(lowdelay.lookahead).toBe(120);
  });

  test('setBitrate() changes the packet size', () => {
    const enc = new OpusEncoder({ ...base, vbr: false });
    const pcm = sine({ frequency: 440, dbfs: -6, seconds: 0.02, channels: 2 });
    for (let i = 0; i < 5; i++) enc.encode(pcm);
    // Hard CBR: bytes = bitrate × 20 ms / 8.
    expect(enc.encode(pcm).length).toBe(240);
    enc.setBitrate(32);
    expect(enc.bitrateKbps).toBe(32);
    expect(enc.encode(pcm).length).toBe(80);
    expect(() => enc.setBitrate(2)).toThrow(OpusConfigError);
    enc.close();
  });

  test('packet loss concealment: decode(null, frames) continues the tone', () => {
    const enc = new OpusEncoder({ ...base, channels: 1 });
    const dec = new OpusDecoder({ channels: 1 });
    const pcm = sine({ frequency: 440, dbfs: -6, seconds: 0.5 });
    for (let i = 0; i < 20; i++) dec.decode(enc.encode(pcm.subarray(i * 960, (i + 1) * 960)));
    const concealed = dec.decode(null, 960);
    expect(concealed.length).toBe(960);
    expect(rmsDbfs(concealed)).toBeGreaterThan(-20); // not silence: the tone is extrapolated
    expect(() => dec.decode(null, 0)).toThrow(OpusConfigError);
    enc.close();
    dec.close();
  });

  test('in-band FEC recovers lost packets better than concealment', () => {
    // SILK codes FEC (LBRR) data only for frames its VAD calls speech, so the input is
    // speech-like: a 140 Hz harmonic series, syllable-rate modulation, a little noise.
    const pcm = new Float32Array(48_000);
    let seed = 1;
    for (let n = 0; n < pcm.length; n++) {
      let v = 0;
      for (let h = 1; h <= 20; h++) v += Math.sin((2 * Math.PI * 140 * h * n) / 48_000) / h;
      seed = (seed * 1103515245 + 12345) >>> 0;
      pcm[n] = 0.2 * v * (0.6 + 0.4 * Math.sin((2 * Math.PI * 3 * n) / 48_000)) + 0.01 * (seed / 2 ** 32 - 0.5);
    }
    const enc = new OpusEncoder({ channels: 1, application: 'voip', frameMs: 20, bitrateKbps: 24, fec: true, expectedLossPct: 20 });
    const packets = Array.from({ length: 50 }, (_, i) => enc.encode(pcm.subarray(i * 960, (i + 1) * 960)).slice());
    enc.close();
    /** SNR in dB of frame `lost` recovered by PLC or FEC, against decoding without loss. */
    const recoveredSnr = (lost: number, mode: 'plc' | 'fec') => {
      using dec = new OpusDecoder({ channels: 1 });
      for (let i = 0; i < lost; i++) dec.decode(packets[i]!);
      const got = mode === 'plc' ? dec.decode(null, 960) : dec.decode(packets[lost + 1]!, 960, true);
      using ref = new OpusDecoder({ channels: 1 });
      for (let i = 0; i < lost; i++) ref.decode(packets[i]!);
      const want = ref.decode(packets[lost]!);
      let e = 0;
      let s = 0;
      for (let i = 0; i < 960; i++) {
        e += (got[i]! - want[i]!) ** 2;
        s += want[i]! ** 2;
      }
      return 10 * Math.log10(s / e);
    };
    const lostFrames = Array.from({ length: 36 }, (_, i) => 10 + i);
    const gains = lostFrames.map((lost) => recoveredSnr(lost, 'fec') - recoveredSnr(lost, 'plc'));
    const meanGain = gains.reduce((a, b) => a + b) / gains.length;
    // Measured with libopus 1.3.1: FEC beats PLC by 3.5–29 dB on frames the VAD took for
    // speech and equals it (0 dB: no LBRR) elsewhere; mean 4.9 dB. Without FEC it is 0 dB.
    expect(meanGain).toBeGreaterThan(2);
  });

  test('a stereo round trip keeps both channels', () => {
    using enc = new OpusEncoder(base);
    using dec = new OpusDecoder({ channels: 2 });
    const out = new Float32Array(48_000 * 2);
    const pcm = sine({ frequency: 440, dbfs: -6, seconds: 1, channels: 2 });
    for (let i = 0; i < pcm.length; i += 1920) out.set(dec.decode(enc.encode(pcm.subarray(i, i + 1920))), i);
    expect(Math.abs(dominantFrequency(channel(out, 2, 1).subarray(9600)) - 440)).toBeLessThan(1);
  });
});

describe('lifecycle', () => {
  test('close() twice is fine; use after close throws OpusError', () => {
    const enc = new OpusEncoder(base);
    const dec = new OpusDecoder({ channels: 2 });
    enc.close();
    enc.close();
    dec[Symbol.dispose]();
    dec.close();
    expect(enc.closed).toBe(true);
    expect(() => enc.encode(new Float32Array(1920))).toThrow(/closed/);
    expect(() => enc.lookahead).toThrow(OpusError);
    expect(() => enc.setBitrate(64)).toThrow(OpusError);
    expect(() => dec.decode(new Uint8Array(3))).toThrow(/closed/);
  });

  test('a corrupt packet is an OpusError, not a crash', () => {
    using dec = new OpusDecoder({ channels: 1 });
    // TOC code 3 (arbitrary frame count) with a frame-count byte of 0 is invalid (RFC 6716 §3.2.5).
    expect(() => dec.decode(new Uint8Array([0x03 | (31 << 3), 0]))).toThrow(/corrupted stream/);
  });
});
