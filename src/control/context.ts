import type { AudioPipeline } from '../audio/pipeline.ts';
import type { Config } from '../config/schema.ts';
import type { HttpStreamOutput } from '../outputs/http-stream.ts';
import type { ProgramStreams } from '../outputs/program-streams.ts';
import type { BroadcastOutputs } from '../outputs/broadcast.ts';
import type { WebRtcOutput } from '../outputs/webrtc/index.ts';
import type { EventBus } from './events.ts';
import type { Control } from './control.ts';
import type { ConfigStore } from '../config/store.ts';
import type { Auth } from './auth.ts';
import type { ControlPlane } from './plane.ts';
import type { TlsService } from '../tls/service.ts';
import type { SetupCode } from './setup-code.ts';
import type { Devices } from '../audio/devices.ts';
import type { MeterState } from '../audio/meter.ts';
import type { Notifiers } from '../notify/index.ts';

/** What the daemon hands the HTTP layer and control (declared here, not in http/): the HTTP layer
 *  calls into these and holds no state of its own. */
export interface AppContext {
  /** The current config snapshot (store.config, frozen): read it where it is used, never keep it. */
  readonly config: Config;
  pipeline: AudioPipeline;
  mp3: HttpStreamOutput;
  /** /stream/<id>.mp3: each [[program]]'s MP3 stream (main's is `mp3`). */
  streams: ProgramStreams;
  /** Icecast, WHIP, recording, titles, silence and alerts. */
  broadcast: BroadcastOutputs;
  /** WHEP listeners; absent when webrtc.enabled is false. */
  webrtc?: WebRtcOutput;
  startedAt: number;
  /** The one event bus (actions, state, outputs, listeners, alerts, config). */
  events: EventBus;
  /** The state machine: every change of state goes through `control.run(action, args, origin)`. */
  control: Control;
  /** The running config and its file: every config change goes through it. */
  store: ConfigStore;
  auth: Auth;
  plane: ControlPlane;
  /** The HTTPS server and the box's certificates ([tls]). */
  tls: TlsService;
  /** The first-run setup code (/setup from anywhere but the box itself needs it). */
  setup: SetupCode;
  /** PipeWire's capture devices for the input picker (its own connection, opened at the first ask). */
  devices: Devices;
  /** The admin meters' peak hold and clip lights. */
  meter: MeterState;
  /** The `[[notify]]` entries: webhook, e-mail, MQTT (their state, "send a test"). */
  notify: Notifiers;
}
