import type { Server } from 'bun';
import { AudioPipeline } from './audio/pipeline.ts';
import type { SourceSettings } from './audio/protocol.ts';
import type { Config } from './config/schema.ts';
import { createApp } from './http/app.ts';
import type { AppContext } from './http/context.ts';
import { logger, setLogLevel } from './log.ts';
import { HttpStreamOutput } from './outputs/http-stream.ts';
import { BroadcastOutputs } from './outputs/broadcast.ts';
import { createWebRtcOutput } from './outputs/webrtc/index.ts';
import { VERSION } from './version.ts';

const log = logger('hark');

export function sourceSettings(c: Config): SourceSettings {
  return {
    source: c.input.source,
    device: c.input.device,
    channels: c.input.channels,
    latencyFrames: c.input.latency_frames,
    tone: { frequency: c.tone.frequency, levelDbfs: c.tone.level_dbfs },
  };
}

/** The running daemon: the audio pipeline, the outputs and the HTTP server. */
export class Hark {
  readonly ctx: AppContext;
  private server?: Server<unknown>;
  private closed = false;

  constructor(readonly config: Config) {
    setLogLevel(config.log.level);
    const pipeline = new AudioPipeline(sourceSettings(config));
    const mp3 = new HttpStreamOutput(pipeline, {
      spec: {
        codec: 'mp3',
        channels: Math.min(2, config.input.channels),
        bitrateKbps: config.mp3.bitrate_kbps,
        mode: 'cbr',
      },
      contentType: 'audio/mpeg',
      maxListeners: config.stream.max_listeners,
      queueBytes: config.stream.queue_kb * 1024,
      name: 'hark',
      icy: { metaint: config.metadata.icy_metaint, title: () => this.ctx.broadcast.metadata.title },
    });
    const broadcast = new BroadcastOutputs(config, pipeline);
    const webrtc = config.webrtc.enabled ? createWebRtcOutput(config, pipeline) : undefined;
    this.ctx = { config, pipeline, mp3, broadcast, webrtc, startedAt: Date.now() };
  }

  /** The port actually bound (useful with http.port = 0 in tests). */
  get port(): number {
    return this.server?.port ?? 0;
  }

  async start(): Promise<void> {
    log.info(`hark ${VERSION} starting (bun ${Bun.version})`);
    await this.ctx.pipeline.start();
    this.ctx.broadcast.start();
    this.ctx.webrtc?.start();
    const app = createApp(this.ctx);
    app.listen({
      port: this.config.http.port,
      hostname: this.config.http.host,
      // Streams are long-lived; Bun's default idle timeout (10 s) would cut a quiet listener.
      idleTimeout: 0,
    });
    this.server = app.server ?? undefined;
    log.info(`listening on http://${this.config.http.host}:${this.server.port}`);
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    log.info('stopping');
    this.ctx.mp3.close();
    this.ctx.webrtc?.close();
    await this.ctx.broadcast.close();
    this.server?.stop(true);
    await this.ctx.pipeline.close();
  }
}
