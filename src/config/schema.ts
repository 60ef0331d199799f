import { Type as T, type Static } from '@sinclair/typebox';

/**
 * The one schema for hark's configuration: the TOML file, the JSON API and the admin forms
 * all validate against it. Defaults live here and nowhere else.
 */

const Port = T.Integer({ minimum: 1, maximum: 65535, description: 'TCP port' });

export const HttpSchema = T.Object(
  {
    port: T.Integer({ ...Port, default: 8080, description: 'HTTP port for the admin page, API and streams' }),
    host: T.String({ default: '0.0.0.0', minLength: 1, description: 'Address to listen on' }),
  },
  { additionalProperties: false, default: {} },
);

export const InputSchema = T.Object(
  {
    source: T.Union([T.Literal('auto'), T.Literal('pipewire'), T.Literal('pipewire-sink'), T.Literal('tone')], {
      default: 'auto',
      description: "auto: PipeWire's default source when one is available, otherwise the tone",
    }),
    device: T.String({ default: '', maxLength: 256, description: 'PipeWire node.name; empty means the default source' }),
    channels: T.Integer({ minimum: 1, maximum: 8, default: 2, description: 'Channels captured (1–8)' }),
    latency_frames: T.Integer({
      minimum: 64,
      maximum: 1024,
      default: 128,
      description: 'PipeWire node.latency in frames at 48 kHz (128 = 2.7 ms)',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const ToneSchema = T.Object(
  {
    frequency: T.Number({ minimum: 20, maximum: 20000, default: 440, description: 'Test tone frequency in Hz' }),
    level_dbfs: T.Number({ minimum: -60, maximum: 0, default: -12, description: 'Test tone level in dBFS' }),
  },
  { additionalProperties: false, default: {} },
);

export const Mp3Schema = T.Object(
  {
    bitrate_kbps: T.Union(
      [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320].map((k) => T.Literal(k)),
      { default: 128, description: 'MP3 bitrate (an MPEG-1 Layer III rate)' },
    ),
  },
  { additionalProperties: false, default: {} },
);

export const OpusSchema = T.Object(
  {
    bitrate_kbps: T.Integer({ minimum: 6, maximum: 510, default: 96, description: 'Opus bitrate in kbit/s' }),
    frame_ms: T.Union([T.Literal(2.5), T.Literal(5), T.Literal(10), T.Literal(20), T.Literal(40), T.Literal(60)], {
      default: 10,
      description: 'Opus frame duration in ms',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const LogSchema = T.Object(
  {
    level: T.Union([T.Literal('debug'), T.Literal('info'), T.Literal('warn'), T.Literal('error')], {
      default: 'info',
      description: 'Log level (HARK_LOG_LEVEL overrides it)',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const StreamSchema = T.Object(
  {
    max_listeners: T.Integer({ minimum: 1, maximum: 10000, default: 100, description: '/stream.mp3 listener limit' }),
    queue_kb: T.Integer({
      minimum: 16,
      maximum: 4096,
      default: 256,
      description: 'Per-listener queue; a listener this far behind is disconnected',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const ConfigSchema = T.Object(
  {
    http: HttpSchema,
    input: InputSchema,
    tone: ToneSchema,
    mp3: Mp3Schema,
    opus: OpusSchema,
    stream: StreamSchema,
    log: LogSchema,
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
