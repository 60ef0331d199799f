import type { AudioPipeline } from '../audio/pipeline.ts';
import type { Config } from '../config/schema.ts';
import type { HttpStreamOutput } from '../outputs/http-stream.ts';
import type { BroadcastOutputs } from '../outputs/broadcast.ts';
import type { WebRtcOutput } from '../outputs/webrtc/index.ts';

/** What the HTTP layer may reach: it calls into these and holds no state of its own. */
export interface AppContext {
  config: Config;
  pipeline: AudioPipeline;
  mp3: HttpStreamOutput;
  /** Icecast, WHIP, recording, titles, silence and alerts. */
  broadcast: BroadcastOutputs;
  /** WHEP listeners; absent when webrtc.enabled is false. */
  webrtc?: WebRtcOutput;
  startedAt: number;
}
