/**
 * The components that apply config changes to the running daemon, one per name in
 * src/config/live.ts (which declares, once, which keys each applies and which need a restart).
 * Each is handed the previous and the next snapshot and answers 'applied' or 'restart'; the
 * store calls only those whose keys changed. The HTTPS server (`tls`) is one of its own
 * (src/tls/service.ts), registered by the daemon.
 */
import { Value } from '@sinclair/typebox/value';
import type { SourceSettings } from '../audio/protocol.ts';
import type { ConfigComponent, Reaction } from '../config/live.ts';
import type { Config } from '../config/schema.ts';
import type { AppContext } from './context.ts';
import { setLogLevel } from '../log.ts';
import { icecastOutputs, type IcecastOutput } from '../outputs/icecast/index.ts';
import { whipOutputs, type WhipOutput } from '../outputs/whip/index.ts';
import { applyOffAir, reconcile } from './outputs.ts';

type Parts = Pick<AppContext, 'config' | 'pipeline' | 'broadcast' | 'mp3' | 'webrtc'>;

export interface ApplyOptions {
  /** Whether the outputs are live now (new entries start at once then). */
  live: () => boolean;
  sourceSettings: (c: Config) => SourceSettings;
}

const same = (a: unknown, b: unknown) => Value.Equal(a, b);

/** A component from its name and its apply function. */
const component = (name: ConfigComponent['name'], apply: ConfigComponent['apply']): ConfigComponent => ({ name, apply });

/**
 * The seam to BroadcastOutputs: the snapshot its start() reads is the one its outputs were
 * reconciled to.
 * TODO(issue 15, o1): BroadcastOutputs owns and reconciles its outputs with its own
 * `apply(prev, next)`; the integrator points the `icecast`, `whip`, `recording` and `silence`
 * components (broadcastApply below) at it and deletes this and control/outputs.ts `reconcile`.
 */
function adoptBroadcastConfig(p: Parts, next: Config): void {
  (p.broadcast as { config: Config }).config = next;
}

/** The broadcast outputs' part of a change (the seam: see adoptBroadcastConfig). */
async function broadcastApply(p: Parts, kind: 'icecast' | 'whip' | 'recording' | 'silence', prev: Config, next: Config, live: boolean): Promise<Reaction> {
  const b = p.broadcast;
  switch (kind) {
    case 'icecast':
      // The encoders are built for the channels captured now.
      if (prev.input.channels !== next.input.channels) return 'restart';
      await reconcile<IcecastOutput, Config['icecast'][number]>(b.icecast, prev.icecast, next.icecast, () => icecastOutputs(next, p.pipeline), live);
      break;
    case 'whip':
      await reconcile<WhipOutput, Config['whip'][number]>(b.whip, prev.whip, next.whip, () => whipOutputs(next, p.pipeline), live);
      break;
    case 'recording':
      if (prev.recording.enabled !== next.recording.enabled) {
        if (next.recording.enabled && live) b.recorder.start();
        if (!next.recording.enabled) void b.recorder.close();
      }
      break;
    case 'silence':
      if (prev.silence.enabled !== next.silence.enabled) next.silence.enabled ? b.silence.start() : b.silence.close();
      break;
  }
  adoptBroadcastConfig(p, next);
  return 'applied';
}

/** Every component the control plane registers with the store (all of live.ts's names but `tls`). */
export function configComponents(p: Parts, opts: ApplyOptions): ConfigComponent[] {
  return [
    component('log', (_prev, next) => {
      setLogLevel(next.log.level);
      return 'applied';
    }),
    component('source', (prev, next) => {
      // The pipeline is built for a channel count (input.channels is a restart key).
      if (prev.input.channels !== next.input.channels) return 'restart';
      // Re-open the source only when what it captures changed: a tone setting means nothing
      // to a box capturing an interface, and re-opening costs the listeners a gap.
      const a = opts.sourceSettings(prev);
      const b = opts.sourceSettings(next);
      const toneMatters = b.source === 'tone' || a.source === 'tone';
      if (!same({ ...a, tone: toneMatters ? a.tone : null }, { ...b, tone: toneMatters ? b.tone : null })) p.pipeline.setSource(b);
      return 'applied';
    }),
    component('title', (prev, next) => {
      if (prev.metadata.title !== next.metadata.title) p.broadcast.metadata.set(next.metadata.title);
      return 'applied';
    }),
    component('icecast', (prev, next) => broadcastApply(p, 'icecast', prev, next, opts.live())),
    component('whip', (prev, next) => broadcastApply(p, 'whip', prev, next, opts.live())),
    component('recording', (prev, next) => broadcastApply(p, 'recording', prev, next, opts.live())),
    component('silence', (prev, next) => broadcastApply(p, 'silence', prev, next, opts.live())),
    component('off-air', (_prev, next) => {
      applyOffAir(p, opts.live(), next);
      return 'applied';
    }),
    // Read from the current snapshot at each use (access, control.on_boot; the first-boot
    // password is taken by the plane's change listener).
    component('on-use', () => 'applied'),
  ];
}
