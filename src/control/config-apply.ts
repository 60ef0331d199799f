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
import { applyOffAir } from './outputs.ts';
import { programChannels, programSpecs } from '../config/programs.ts';

type Parts = Pick<AppContext, 'config' | 'pipeline' | 'broadcast' | 'mp3' | 'webrtc'> & Partial<Pick<AppContext, 'streams'>>;

export interface ApplyOptions {
  /** Whether the outputs are live now (new entries start at once then). */
  live: () => boolean;
  sourceSettings: (c: Config) => SourceSettings;
}

const same = (a: unknown, b: unknown) => Value.Equal(a, b);

/** A component from its name and its apply function. */
const component = (name: ConfigComponent['name'], apply: ConfigComponent['apply']): ConfigComponent => ({ name, apply });

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
    // Routing and processing cross-fade in the worker (no gap for anyone listening); outputs
    // whose program appeared, went or changed between mono and stereo follow it.
    component('programs', async (prev, next) => {
      p.pipeline.setPrograms(programSpecs(next));
      p.streams?.apply(next);
      await p.broadcast.applyOutputs('icecast', prev, next);
      await p.broadcast.applyOutputs('whip', prev, next);
      await p.broadcast.applyOutputs('srt', prev, next);
      return programChannels(prev, prev.recording.program) === programChannels(next, next.recording.program) ? 'applied' : 'restart';
    }),
    component('title', (prev, next) => {
      if (prev.metadata.title !== next.metadata.title) p.broadcast.metadata.set(next.metadata.title);
      return 'applied';
    }),
    // BroadcastOutputs owns its outputs and reconciles them itself.
    component('icecast', (prev, next) => p.broadcast.applyOutputs('icecast', prev, next)),
    component('whip', (prev, next) => p.broadcast.applyOutputs('whip', prev, next)),
    component('srt', (prev, next) => p.broadcast.applyOutputs('srt', prev, next)),
    component('recording', (prev, next) => p.broadcast.applyRecording(prev, next)),
    component('silence', (prev, next) => p.broadcast.applySilence(prev, next)),
    component('fallback', (prev, next) => p.broadcast.applyFallback(prev, next)),
    component('off-air', (_prev, next) => {
      applyOffAir(p, opts.live(), next);
      return 'applied';
    }),
    // Read from the current snapshot at each use (access, control.on_boot; the first-boot
    // password is taken by the plane's change listener).
    component('on-use', () => 'applied'),
  ];
}
