/**
 * The broadcast outputs of one daemon — Icecast mounts, WHIP publishers, the recorder — plus
 * the title they carry, the silence detector and the alerts. Each output is independent: it
 * starts, fails, retries and stops on its own; this only builds them from the config and
 * passes start/close and titles along.
 */
import type { Config } from '../config/schema.ts';
import { Alerts } from './alerts.ts';
import { icecastOutputs, type IcecastOutput } from './icecast/index.ts';
import { Metadata } from './metadata.ts';
import type { LevelSource, PacketSource } from './packet-source.ts';

export class BroadcastOutputs {
  readonly alerts = new Alerts();
  readonly metadata: Metadata;
  readonly icecast: IcecastOutput[];
  private unsubscribeTitle?: () => void;

  constructor(
    readonly config: Config,
    source: PacketSource & LevelSource,
  ) {
    this.metadata = new Metadata(config.metadata.title);
    this.icecast = icecastOutputs(config, source);
  }

  /** Start every enabled output. */
  start(): void {
    this.unsubscribeTitle ??= this.metadata.onChange((t) => {
      for (const o of this.icecast) o.setTitle(t);
    });
    this.config.icecast.forEach((e, i) => {
      if (e.enabled) this.icecast[i]!.start();
    });
  }

  /** Stop everything. Idempotent. */
  async close(): Promise<void> {
    this.unsubscribeTitle?.();
    this.unsubscribeTitle = undefined;
    for (const o of this.icecast) o.close();
  }

  /** The outputs' part of GET /api/status. */
  status() {
    return {
      icecast: this.icecast.map((o) => o.status()),
    };
  }
}
