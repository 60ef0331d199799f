import { ToneSource } from './tone.ts';
import { PipewireSource } from './pipewire-source.ts';
import { DeviceRegistry } from './devices.ts';
import type { AudioSource, SourceState, SourceStatus } from './source.ts';
import { SAMPLE_RATE } from './format.ts';
import type { SourceSettings } from './protocol.ts';
import { NetworkSource } from './net/network-source.ts';
import { parseInputUrl } from '../config/input-url.ts';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', prefix: string, msg: string) => void;

/** Build the source the settings ask for (runs in the audio worker). */
export async function createSource(s: SourceSettings, log: Log): Promise<AudioSource> {
  switch (s.source) {
    case 'tone':
      return tone(s);
    case 'pipewire':
    case 'pipewire-sink':
      return new PipewireSource({ device: s.device, channels: s.channels, latencyFrames: s.latencyFrames, mode: s.source });
    case 'srt':
    case 'rtp':
      return network(s.source, s, log);
    case 'auto':
      // A device chosen by a person (the Input page, `hark input`) is what is captured.
      return s.device ? capture(s, s.device) : new AutoSource(s, log);
  }
}

/** The receiving end of a link; a URL the config check let through but that fails here waits, saying why. */
function network(kind: 'srt' | 'rtp', s: SourceSettings, log: Log): AudioSource {
  const n = s.network ?? { url: '', bufferMs: 120, passphrase: '', outputDevice: '' };
  try {
    const url = parseInputUrl(kind, n.url);
    const passphrase = n.passphrase || (url.kind === 'srt' ? url.passphrase : '');
    // The PipeWire output plays what the engine moves on: wake every 10 ms for it.
    return new NetworkSource({ url, channels: s.channels, bufferMs: n.bufferMs, passphrase, log, ...(n.outputDevice !== 'none' ? { maxWakeFrames: 480 } : {}) });
  } catch (e) {
    return new WaitingSource(s.channels, { state: 'unavailable', message: `input.url ${(e as Error).message}` });
  }
}

function tone(s: SourceSettings): ToneSource {
  return new ToneSource({ channels: s.channels, frequency: s.tone.frequency, levelDbfs: s.tone.levelDbfs, clockPpm: s.tone.clockPpm ?? 0 });
}

function capture(s: SourceSettings, device: string): PipewireSource {
  return new PipewireSource({ device, channels: s.channels, latencyFrames: s.latencyFrames, mode: 'pipewire' });
}

/**
 * Nothing to capture yet: delivers no frames, so the engine keeps the clock with silence
 * (every output stays connected and carries silence). Never the test tone: on a box whose
 * input is, or is waiting for, a real device, a test signal on air is a fault.
 */
export class WaitingSource implements AudioSource {
  readonly kind = 'pipewire' as const;
  private _state: SourceState = 'starting';
  private sleeper: Int32Array = new Int32Array(new SharedArrayBuffer(4));

  constructor(
    readonly channels: number,
    private why: { state: 'waiting' | 'unavailable'; message: string },
  ) {}

  get state(): SourceState {
    return this._state;
  }

  /** What is missing, in words for the Input page. */
  set reason(why: { state: 'waiting' | 'unavailable'; message: string }) {
    this.why = why;
    if (this._state !== 'closed') this._state = why.state;
  }

  start(): void {
    if (this._state === 'closed') throw new Error('source is closed');
    this._state = this.why.state;
  }

  close(): void {
    this._state = 'closed';
  }

  wait(timeoutMs: number): boolean {
    if (this._state === 'closed') throw new Error('source is closed');
    Atomics.wait(this.sleeper, 0, 0, timeoutMs); // returns at once, or when notified, while the flag is up
    return false;
  }

  read(): number {
    return 0;
  }

  setUrgentFlag(flag: Int32Array): void {
    this.sleeper = flag;
  }

  status(): SourceStatus {
    return {
      kind: 'pipewire',
      state: this._state,
      message: this.why.message,
      device: '',
      format: { rate: SAMPLE_RATE, channels: this.channels, sampleFormat: 'f32' },
      stats: {},
    };
  }
}

/** How often `auto` looks again for a capture device: soon while PipeWire's registry is still filling, then every 2 s. */
const AUTO_RECHECK_MS = 2000;
const AUTO_FIRST_LOOK_MS = 100;

export const NO_PIPEWIRE = 'no audio system (PipeWire) is running: outputs carry silence';
export const NO_DEVICE = 'no capture device found: outputs carry silence until one is plugged in';

/**
 * `input.source = "auto"` with no device chosen: PipeWire's default source when there is one.
 * Until there is, outputs carry silence (never the test tone) and it keeps looking (a registry
 * read, no audio work), so a USB interface plugged in later is picked up without a restart.
 * Once capturing it stays on PipeWire: a device that goes away shows "device lost" and silence
 * flows. (A device chosen by a person is captured by name in every mode: createSource.)
 */
export class AutoSource implements AudioSource {
  readonly channels: number;
  private inner: AudioSource;
  private registry: DeviceRegistry | null = null;
  private nextCheck = 0;
  private closed = false;
  private latency: number;
  private urgent?: Int32Array;
  /** node.name of the default source auto chose ('' until then). */
  private chosen = '';

  constructor(
    private readonly settings: SourceSettings,
    private readonly log: Log,
  ) {
    this.channels = settings.channels;
    this.latency = settings.latencyFrames;
    this.inner = new WaitingSource(settings.channels, { state: 'waiting', message: NO_DEVICE });
  }

  get state() {
    return this.inner.state;
  }

  get kind(): AudioSource['kind'] {
    return this.inner.kind;
  }

  start(): void {
    this.inner.start();
    this.check();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.inner.close();
    this.registry?.close();
    this.registry = null;
  }

  wait(timeoutMs: number, minFrames?: number): boolean {
    if (this.inner instanceof WaitingSource && performance.now() >= this.nextCheck) this.check();
    return this.inner.wait(timeoutMs, minFrames);
  }

  read(dst: Float32Array, maxFrames: number): number {
    return this.inner.read(dst, maxFrames);
  }

  setLatency(frames: number): void {
    this.latency = frames;
    this.inner.setLatency?.(frames);
  }

  setUrgentFlag(flag: Int32Array): void {
    this.urgent = flag;
    this.inner.setUrgentFlag?.(flag);
  }

  /** The chosen interface's capture clock (the default config's: an SRT sender stamps its packets by it). */
  captureNs(): bigint {
    return this.inner.captureNs?.() ?? 0n;
  }

  status(): SourceStatus {
    const s = this.inner.status();
    if (this.chosen && !s.device) s.device = this.chosen;
    return s;
  }

  /** Switch to PipeWire's default source when there is one. Never throws. */
  private check(): void {
    const waiting = this.inner as WaitingSource;
    this.nextCheck = performance.now() + AUTO_RECHECK_MS;
    try {
      if (!this.registry || !this.registry.connected) {
        this.registry?.close();
        this.registry = DeviceRegistry.open();
      }
      const snap = this.registry.snapshot();
      if (!snap.complete) {
        this.nextCheck = performance.now() + AUTO_FIRST_LOOK_MS;
        return;
      }
      waiting.reason = { state: 'waiting', message: NO_DEVICE };
      const def = snap.devices.find((d) => d.isDefault);
      if (!def) return;
      const pw = capture(this.settings, '');
      pw.setLatency(this.latency);
      if (this.urgent) pw.setUrgentFlag(this.urgent);
      pw.start();
      this.inner.close();
      this.inner = pw;
      this.chosen = def.name;
      this.registry.close();
      this.registry = null;
      this.log('info', 'input', `auto: capturing PipeWire's default source ${def.name}`);
    } catch (e) {
      // No PipeWire (or no libpipewire): silence, and look again later.
      this.registry?.close();
      this.registry = null;
      waiting.reason = { state: 'unavailable', message: NO_PIPEWIRE };
      this.log('debug', 'input', `auto: no PipeWire source (${(e as Error).message}); silence`);
    }
  }
}
