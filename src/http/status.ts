import { Elysia } from 'elysia';
import { VERSION } from '../version.ts';
import type { AppContext } from '../control/context.ts';
import { outputStatuses } from '../control/outputs.ts';
import { theUpdater } from '../system/update.ts';
import { programsStatus } from './programs-status.ts';

/** The status document served at GET /api/status. */
export function statusDocument(ctx: AppContext) {
  const stats = ctx.pipeline.stats();
  const src = stats?.source;
  return {
    version: VERSION,
    /**
     * The run state (idle = off air, live, muted) and the title; `listeners_hear` is what
     * /stream.mp3 and WebRTC listeners get now: "silence" while muted, or off air unless
     * control.local_listeners_off_air = "audio"; else "audio".
     */
    control: { ...ctx.control.snapshot(), listeners_hear: ctx.pipeline.silenced ? 'silence' : 'audio' },
    uptime_s: Math.round((Date.now() - ctx.startedAt) / 1000),
    input: {
      source: src?.kind ?? ctx.config.input.source,
      configured_source: ctx.config.input.source,
      device: src?.device ?? ctx.config.input.device,
      state: src?.state ?? ctx.pipeline.state,
      message: src?.message ?? '',
      format: src?.format ?? { rate: 48000, channels: ctx.config.input.channels, sampleFormat: 'f32' },
      stats: src?.stats ?? {},
    },
    levels: ctx.pipeline.currentLevels(),
    /** The programs ([[program]]; one, main, without): channels, processing, levels, listeners, outputs. */
    programs: programsStatus(ctx),
    alerts: ctx.broadcast.alerts.list(),
    silence: ctx.broadcast.silence.status(),
    /** [fallback]: whether the outputs carry the fallback, what, since when and why. */
    fallback: ctx.broadcast.fallback.status(),
    audio: {
      state: ctx.pipeline.state,
      frames: stats?.frames ?? 0,
      silence_frames: stats?.silenceFrames ?? 0,
      /** Frames dropped because the input ran faster than real time (see the input.clock alert). */
      discarded_frames: stats?.discardedFrames ?? 0,
      /** Times the input said it was running but delivered nothing for 0.5 s (silence filled in). */
      stalls: stats?.stalls ?? 0,
      consumers: stats?.consumers ?? [],
      last_error: ctx.pipeline.lastError || null,
    },
    outputs: {
      http_mp3: { path: '/stream.mp3', ...ctx.mp3.status() },
      ...ctx.broadcast.status(),
      // Counts only: who listens (session ids, addresses, players) is in /api/listeners, behind the login.
      webrtc: ctx.webrtc ? { path: '/whep', ...ctx.webrtc.status() } : { status: 'disabled' },
    },
    /** Every output as one list of the shared record (outputs/link.ts OutputStatus): what the CLI reads. */
    output_list: outputStatuses(ctx),
    /** Schedules (the one in force, the next change, whether the clock is synchronised) and VOX. */
    schedule: ctx.plane.automation.status(),
    /** What runs (the image's hark or an update), what is on trial, the last update's outcome. */
    update: theUpdater().status(),
  };
}

export const statusRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'status', prefix: '/api' }).get('/status', () => statusDocument(ctx));
