/**
 * Each program as /api/status, the admin pages and the listen page's QR codes see it: what it is
 * made of, its levels before and after processing, who listens and which outputs carry it.
 */
import type { AppContext } from '../control/context.ts';
import { MAIN_PROGRAM, resolveProgramId, resolvePrograms, type Program } from '../config/programs.ts';
import { entryId } from '../config/icecast-target.ts';
import { whipEntryId } from '../outputs/whip/index.ts';
import type { Levels } from '../audio/meter.ts';

export interface ProgramStatus {
  id: string;
  name: string;
  language: string;
  /** Output channels: 1 (mono) or 2 (stereo). */
  channels: 1 | 2;
  /** The input channels it is made of (1-based). */
  inputs: number[];
  /** For a mix: input channel → gain in dB. */
  mix: Record<string, number> | null;
  /** Whether it is the default program (/stream.mp3, /whep, /listen). */
  main: boolean;
  muted: boolean;
  /** Input channels it needs that the device does not have now (it is silent then). */
  missing_channels: number[];
  processing: Program['dsp'];
  levels: { pre: Levels; post: Levels };
  listeners: { webrtc: number; stream_mp3: number };
  /** The outputs that carry it: "icecast <id>", "whip <id>", "recording". */
  outputs: string[];
  urls: { listen: string; stream: string; whep: string };
}

export function programsStatus(ctx: AppContext): ProgramStatus[] {
  const c = ctx.config;
  const mainId = resolveProgramId(c, MAIN_PROGRAM);
  const chains = ctx.pipeline.stats()?.programs ?? [];
  const rtc = ctx.webrtc?.listenerCounts() ?? new Map<string, number>();
  const inputCh = Math.min(2, c.input.channels);
  return resolvePrograms(c).map((p) => {
    const isMain = p.id === mainId;
    const entry = c.program.find((e) => e.id === p.id);
    const lv = p.implicit ? undefined : ctx.pipeline.programLevels(p.id);
    const input = ctx.pipeline.currentLevels();
    const whole: Levels = { peak_dbfs: input.peak_dbfs.slice(0, inputCh), rms_dbfs: input.rms_dbfs.slice(0, inputCh), clips: input.clips.slice(0, inputCh) };
    const owns = (ref: string) => resolveProgramId(c, ref) === p.id;
    const outputs = [
      ...c.icecast.flatMap((e, i) => (owns(e.program) ? [`icecast ${entryId(e, i)}`] : [])),
      ...c.whip.flatMap((w, i) => (owns(w.program) ? [`whip ${whipEntryId(w, i)}`] : [])),
      ...(owns(c.recording.program) ? ['recording'] : []),
    ];
    const stream = ctx.streams.get(c, p.id);
    return {
      id: p.id,
      name: p.name,
      language: p.language,
      channels: p.channels,
      inputs: p.implicit ? Array.from({ length: c.input.channels }, (_, i) => i + 1) : entry!.channels.length > 0 ? [...entry!.channels] : Object.keys(entry!.mix).map(Number),
      mix: entry && Object.keys(entry.mix).length > 0 ? { ...entry.mix } : null,
      main: isMain,
      muted: ctx.pipeline.programMuted(p.id),
      missing_channels: chains.find((s) => s.id === p.id)?.missing ?? [],
      processing: p.dsp,
      levels: lv ?? { pre: whole, post: whole },
      listeners: { webrtc: (rtc.get(p.id) ?? 0) + (isMain && p.id !== MAIN_PROGRAM ? (rtc.get(MAIN_PROGRAM) ?? 0) : 0), stream_mp3: stream?.status().listeners ?? 0 },
      outputs,
      urls: isMain && p.implicit ? { listen: '/listen', stream: '/stream.mp3', whep: '/whep' } : { listen: `/listen/${p.id}`, stream: `/stream/${p.id}.mp3`, whep: `/whep/${p.id}` },
    };
  });
}
