/**
 * The PipeWire device registry: capture sources and sink monitors, with the default source
 * from the "default" metadata. Gathered on PipeWire's loop thread by the C shim (no JS runs
 * there); JS reads a snapshot whenever the shim's version counter moves.
 */
import { PwConnection } from '../../ffi/pipewire.ts';
import { logger } from '../log.ts';

const log = logger('audio devices');

export interface AudioDevice {
  /** PipeWire global id (changes when the device is re-plugged). */
  id: number;
  /** node.name: what input.device names. For a monitor, the sink's node.name. */
  name: string;
  description: string;
  /** 'source': Audio/Source (and /Virtual, Audio/Duplex); 'monitor': an Audio/Sink captured as its monitor. */
  kind: 'source' | 'monitor';
  mediaClass: string;
  /** Channel count when PipeWire says (audio.channels or audio.position), else null. */
  channels: number | null;
  /** Rates when PipeWire says (audio.rate), else null. */
  rates: number[] | null;
  /** Channel positions, e.g. ['FL', 'FR'], when known. */
  positions: string[];
  /** Whether this is PipeWire's default source (default.audio.source). */
  isDefault: boolean;
}

export interface RegistrySnapshot {
  version: number;
  /** Whether the initial enumeration finished (before that the list may be incomplete). */
  complete: boolean;
  defaultSource: string;
  defaultSink: string;
  devices: AudioDevice[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function parseSnapshot(text: string, version: number): RegistrySnapshot {
  const lines = text.split('\n').filter((l) => l.length > 0);
  const [defaultSource = '', defaultSink = '', done = '0'] = (lines.shift() ?? '').split('\t');
  const devices = lines.map((l): AudioDevice => {
    const [id, name, desc, cls, ch, rate, pos] = l.split('\t');
    const monitor = cls === 'Audio/Sink';
    const positions = (pos ?? '').replace(/[[\]",]/g, ' ').split(/\s+/).filter(Boolean);
    return {
      id: Number(id),
      name: name!,
      description: monitor ? `Monitor of ${desc}` : desc!,
      kind: monitor ? 'monitor' : 'source',
      mediaClass: cls!,
      channels: Number(ch) > 0 ? Number(ch) : null,
      rates: Number(rate) > 0 ? [Number(rate)] : null,
      positions,
      isDefault: name === defaultSource,
    };
  });
  devices.sort((a, b) => (a.kind === b.kind ? a.id - b.id : a.kind === 'source' ? -1 : 1));
  return { version, complete: done === '1', defaultSource, defaultSink, devices };
}

/** A live view of PipeWire's capture devices. Owns one PipeWire connection; close() it. */
export class DeviceRegistry implements Disposable {
  private cached: RegistrySnapshot | null = null;

  private constructor(private readonly conn: PwConnection) {}

  /** Connect; throws PipewireUnavailableError / PipewireLibraryMissingError. */
  static open(opts: { remote?: string } = {}): DeviceRegistry {
    return new DeviceRegistry(PwConnection.open({ mode: 'registry', remote: opts.remote }));
  }

  /** Bumps on every add/remove/default change. */
  get version(): number {
    return this.conn.registryVersion;
  }

  /** False once PipeWire went away (the registry then no longer changes; open a new one). */
  get connected(): boolean {
    return !this.conn.closed && !this.conn.state().connLost;
  }

  snapshot(): RegistrySnapshot {
    const v = this.conn.registryVersion;
    if (this.cached?.version !== v) this.cached = parseSnapshot(this.conn.snapshotText(), v);
    return this.cached;
  }

  list(): AudioDevice[] {
    return this.snapshot().devices;
  }

  find(name: string): AudioDevice | undefined {
    return this.list().find((d) => d.name === name);
  }

  /** Resolve when the snapshot's version differs from `since` (or after timeoutMs). */
  async waitForChange(since: number, timeoutMs: number): Promise<number> {
    const end = performance.now() + timeoutMs;
    while (this.conn.registryVersion === since && performance.now() < end && this.connected) await sleep(20);
    return this.conn.registryVersion;
  }

  /** Resolve once the initial enumeration is complete (false on timeout). */
  async ready(timeoutMs = 2000): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    while (!this.snapshot().complete && performance.now() < end && this.connected) await sleep(10);
    return this.snapshot().complete;
  }

  /** Wait for a device by node.name ('' = the default source); null on timeout. */
  async waitFor(name: string, timeoutMs: number): Promise<AudioDevice | null> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const snap = this.snapshot();
      const d = name ? snap.devices.find((x) => x.name === name) : snap.devices.find((x) => x.isDefault);
      if (d) return d;
      const left = end - performance.now();
      if (left <= 0 || !this.connected) return null;
      await this.waitForChange(snap.version, Math.min(left, 500));
    }
  }

  close(): void {
    this.conn.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** One-shot listing: connect, wait for the initial enumeration, list, disconnect. */
export async function listDevices(opts: { remote?: string; timeoutMs?: number } = {}): Promise<AudioDevice[]> {
  using reg = DeviceRegistry.open(opts);
  await reg.ready(opts.timeoutMs ?? 2000);
  return reg.list();
}

/**
 * PipeWire's capture devices for the input picker. Connected at the first ask (the admin
 * page, /api/devices), not at start: an idle box that nobody administers does not pay for a
 * second PipeWire connection and the shim compiled for it (bench/idle-rss.ts). Then kept
 * open, so a hot-plug shows at once. Without PipeWire the list is empty and says why; it retries.
 */
export class Devices {
  private reg?: DeviceRegistry;
  private lastTry = 0;
  private reason = '';

  /** As list(), but first waits (up to 1.5 s) for a fresh connection's first enumeration. */
  async listReady(): Promise<{ devices: AudioDevice[]; version: number; error: string }> {
    this.ensure();
    if (this.reg?.connected) await this.reg.ready(1500);
    return this.list();
  }

  list(): { devices: AudioDevice[]; version: number; error: string } {
    this.ensure();
    if (!this.reg) return { devices: [], version: -1, error: this.reason };
    if (!this.reg.connected) {
      this.reg.close();
      this.reg = undefined;
      this.reason = 'PipeWire went away';
      return { devices: [], version: -1, error: this.reason };
    }
    const snap = this.reg.snapshot();
    return { devices: snap.devices, version: snap.version, error: '' };
  }

  private ensure(): void {
    if (this.reg || Date.now() - this.lastTry < 5000) return;
    this.lastTry = Date.now();
    try {
      this.reg = DeviceRegistry.open();
      this.reason = '';
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== this.reason) log.debug(`device list unavailable: ${msg}`);
      this.reason = msg;
    }
  }

  close(): void {
    this.reg?.close();
    this.reg = undefined;
  }
}
