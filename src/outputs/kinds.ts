/**
 * The registry of output kinds that send on their own. A kind is one file (its
 * `[[section]]` entries → outputs, each a Connector under the shared LinkHandler, link.ts)
 * plus one line here; BroadcastOutputs builds, reconciles, starts and reports them all alike.
 */
import type { Config } from '../config/schema.ts';
import { icecastKind } from './icecast/index.ts';
import type { OutputStatus } from './link.ts';
import type { PacketSource } from './packet-source.ts';
import { srtKind } from './srt/index.ts';
import { whipKind } from './whip/index.ts';

/** What BroadcastOutputs needs of one output. */
export interface SendingOutput {
  readonly id: string;
  readonly state: string;
  start(): void;
  /** Stopped at once; resolves once the link is closed. Idempotent. */
  close(): Promise<void>;
  /** The kind's own JSON for GET /api/status (kept field for field). */
  status(): object;
  /** The shared record. */
  outputStatus(): OutputStatus;
  /** Outputs that carry the title get it here. */
  setTitle?(title: string): void;
}

/** Sections whose entries are outputs of a kind ("icecast", "whip", "srt"). */
export type KindSection = 'icecast' | 'whip' | 'srt';

export interface OutputKind<O extends SendingOutput = SendingOutput> {
  /** The config section, the status key and OutputStatus.kind. */
  kind: KindSection;
  /** One output per entry, disabled ones too (they show as stopped). */
  build(config: Config, source: PacketSource, onChange: (s: OutputStatus) => void): O[];
  /** A change of these settings needs a restart rather than a reconcile. */
  restartWhen?(prev: Config, next: Config): boolean;
}

/** Every kind, in the order the page, the CLI and /metrics list them. */
export const OUTPUT_KINDS: readonly OutputKind[] = [icecastKind, whipKind, srtKind];
