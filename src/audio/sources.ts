import { ToneSource } from './tone.ts';
import { PipewireSource } from './pipewire-source.ts';
import { DeviceRegistry } from './devices.ts';
import type { AudioSource, SourceStatus } from './source.ts';
import type { SourceSettings } from './protocol.ts';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', prefix: string, msg: string) => void;

/** Build the source the settings ask for (runs in the audio worker). */
export async function createSource(s: SourceSettings, log: Log): Promise<AudioSource> {
  switch (s.source) {
    case 'tone':
      return tone(s);
    case 'pipewire':
    case 'pipewire-sink':
      return new PipewireSource({ device: s.device, channels: s.channels, latencyFrames: s.latencyFrames, mode: s.source });
    case 'auto':
      return new AutoSource(s, log);
  }
}

function tone(s: SourceSettings): ToneSource {
  return new ToneSource({ channels: s.channels, frequency: s.tone.frequency, levelDbfs: s.tone.levelDbfs });
}

/** How often `auto` looks again for a capture device while it plays the tone. */
const AUTO_RECHECK_MS = 2000;

/**
 * `input.source = "auto"`: PipeWire's default source when there is one, otherwise the test
 * tone. While on the tone it keeps looking (a registry read every 2 s, no audio work), so a
 * USB interface plugged in later is picked up without a restart. Once capturing it stays on
 * PipeWire: a device that goes away shows "device lost" and silence flows, never the tone,
 * so a broadcast does not suddenly carry a test signal.
 */
export class AutoSource implements AudioSource {
  readonly channels: number;
  private inner: AudioSource;
  private registry: DeviceRegistry | null = null;
  private nextCheck = 0;
  private closed = false;
  private latency: number;
  private urgent?: Int32Array;

  constructor(
    private readonly settings: SourceSettings,
    private readonly log: Log,
  ) {
    this.channels = settings.channels;
    this.latency = settings.latencyFrames;
    this.inner = tone(settings);
  }

  get state() {
    return this.inner.state;
  }

  /** What auto chose: 'tone' or 'pipewire'. */
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
    if (this.inner.kind === 'tone' && performance.now() >= this.nextCheck) this.check();
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

  status(): SourceStatus {
    const s = this.inner.status();
    if (this.inner.kind === 'tone') s.message = `no capture device: ${s.message}`;
    return s;
  }

  /** Switch to PipeWire when it has a default source. Never throws. */
  private check(): void {
    this.nextCheck = performance.now() + AUTO_RECHECK_MS;
    try {
      if (!this.registry || !this.registry.connected) {
        this.registry?.close();
        this.registry = DeviceRegistry.open();
      }
      const snap = this.registry.snapshot();
      if (!snap.complete) return;
      const def = snap.devices.find((d) => d.isDefault);
      if (!def) return;
      const pw = new PipewireSource({ device: '', channels: this.channels, latencyFrames: this.latency, mode: 'pipewire' });
      if (this.urgent) pw.setUrgentFlag(this.urgent);
      pw.start();
      this.inner.close();
      this.inner = pw;
      this.registry.close();
      this.registry = null;
      this.log('info', 'input', `auto: capturing PipeWire's default source ${def.name}`);
    } catch (e) {
      // No PipeWire (or no libpipewire): stay on the tone and look again later.
      this.registry?.close();
      this.registry = null;
      this.log('debug', 'input', `auto: no PipeWire source (${(e as Error).message}); test tone`);
    }
  }
}
