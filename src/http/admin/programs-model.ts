/**
 * The programs as the admin pages show them, read from the running daemon: words for what each
 * is made of and how it sounds, the outputs that carry it, its levels before and after its sound
 * settings (the `program-levels` frames), each card's live part (the `programs` SSE event), the
 * dashboard's panel, and the listen address a phone opens.
 */
import { hostname } from 'node:os';
import type { AppContext } from '../../control/context.ts';
import type { Config } from '../../config/schema.ts';
import { resolveProgramId, resolvePrograms } from '../../config/programs.ts';
import { html, type Html } from '../../../web/templates/html.ts';
import * as P from '../../../web/templates/programs.ts';
import { languageName } from '../../../web/templates/qr-sheet.ts';
import { programsStatus, type ProgramStatus } from '../programs-status.ts';
import { isHttps } from '../auth.ts';
import { entryName } from './model.ts';

type ProgramEntry = Config['program'][number];

// ---- words ------------------------------------------------------------------------------------

/** A language tag in words for the admin: "Spanish (Español)", "English"; the tag itself when unknown. */
export function languageWords(tag: string): string {
  if (!tag) return '';
  let en = '';
  try {
    en = new Intl.DisplayNames(['en'], { type: 'language', fallback: 'none' }).of(tag) ?? '';
  } catch {
    return tag; // RangeError: not a well-formed language tag
  }
  const own = languageName(tag);
  if (!en) return own;
  return own && own !== en && own !== tag ? `${en} (${own})` : en;
}

/** The language field's suggestions: common languages of congregations, venues and community radio. */
export const LANGUAGES: readonly (readonly [string, string])[] = [
  'en', 'es', 'pt', 'pt-BR', 'fr', 'de', 'it', 'nl', 'pl', 'uk', 'ru', 'ro', 'hu', 'el', 'tr', 'ar', 'fa', 'hi', 'zh', 'ko', 'ja', 'vi', 'tl', 'sw', 'am', 'yo',
].map((t) => [t, languageWords(t)] as const);

const dB = (n: number) => `${P.signed(n)} dB`;

/** What a program is made of, in words. */
export function madeOfWords(p: ProgramEntry): string {
  const mix = Object.entries(p.mix).sort((a, b) => Number(a[0]) - Number(b[0]));
  if (mix.length) return `A mono mix of input channel${mix.length === 1 ? '' : 's'} ${P.wordList(mix.map(([c, g]) => `${c} (${dB(g)})`))}.`;
  const ch = p.channels;
  if (ch.length === 1) return `Input channel ${ch[0]} (mono).`;
  if (p.mono) return `Input channels ${P.wordList(ch.map(String))}, mixed to mono.`;
  return `Input channels ${P.wordList(ch.map(String))} (stereo).`;
}

/** Its sound settings, in words ("as it comes in." when there are none). */
export function soundWords(p: ProgramEntry): string {
  const parts: string[] = [];
  if (p.gain_db > 0) parts.push(`${p.gain_db} dB louder`);
  if (p.gain_db < 0) parts.push(`${-p.gain_db} dB quieter`);
  if (p.highpass_hz > 0) parts.push(`rumble cut below ${p.highpass_hz} Hz`);
  if (p.eq.length) parts.push(`${p.eq.length} tone ${p.eq.length === 1 ? 'band' : 'bands'}`);
  if (p.limiter_dbfs < 0) parts.push(`peaks kept under ${dB(p.limiter_dbfs)}`);
  if (p.delay_ms > 0) parts.push(`${p.delay_ms} ms delay`);
  return parts.length ? `${parts.join(', ')}.` : 'as it comes in.';
}

/**
 * The outputs that carry a program, by name: "Icecast “live.mp3”", "WHIP “x” (turned off)",
 * "the recording" (while recording is on, or when it names this program).
 */
export function outputsOf(c: Config, id: string): string[] {
  const owns = (ref: string) => resolveProgramId(c, ref) === id;
  const off = (e: { enabled: boolean }) => (e.enabled ? '' : ' (turned off)');
  return [
    ...c.icecast.flatMap((e, i) => (owns(e.program) ? [`Icecast “${entryName('icecast', c, i).id}”${off(e)}`] : [])),
    ...c.whip.flatMap((e, i) => (owns(e.program) ? [`WHIP “${entryName('whip', c, i).id}”${off(e)}`] : [])),
    ...(owns(c.recording.program) && (c.recording.enabled || c.recording.program === id) ? ['the recording'] : []),
  ];
}

// ---- levels and live parts --------------------------------------------------------------------

const SILENT: P.StageLevels = [-120, -120];
const loudest = (l: { peak_dbfs: number[]; rms_dbfs: number[] }): P.StageLevels => [Math.max(-120, ...l.peak_dbfs), Math.max(-120, ...l.rms_dbfs)];
const r1 = (n: number) => Math.round(Math.max(-120, n) * 10) / 10;

/** Every [[program]]'s levels (the loudest channel), before and after its sound settings. */
export function stageLevels(ctx: AppContext): Map<string, { pre: P.StageLevels; post: P.StageLevels }> {
  const out = new Map<string, { pre: P.StageLevels; post: P.StageLevels }>();
  for (const p of ctx.config.program) {
    const l = ctx.pipeline.programLevels(p.id);
    out.set(p.id, l ? { pre: loudest(l.pre), post: loudest(l.post) } : { pre: SILENT, post: SILENT });
  }
  return out;
}

/** The `program-levels` frame: {id: [[pre peak, pre rms], [post peak, post rms]]} (dBFS); null without [[program]]. */
export function programLevelsFrame(ctx: AppContext): string | null {
  if (!ctx.config.program.length) return null;
  const out: Record<string, number[][]> = {};
  for (const [id, l] of stageLevels(ctx)) out[id] = [l.pre.map(r1), l.post.map(r1)];
  return JSON.stringify(out);
}

/** A card's live part, from the program's status record. */
export function liveView(ctx: AppContext, s: ProgramStatus): P.ProgramLiveView {
  return { id: s.id, name: s.name, muted: s.muted, missing: s.missing_channels, listeners: { webrtc: s.listeners.webrtc, mp3: s.listeners.stream_mp3 }, outputs: outputsOf(ctx.config, s.id) };
}

/** The SSE event `programs`: each card's live part, swapped in place (out of band). */
export function programsLive(ctx: AppContext): Html {
  if (!ctx.config.program.length) return html``;
  return P.programLiveUpdates(programsStatus(ctx).map((s) => liveView(ctx, s)));
}

/** The dashboard's programs panel (names, mute, the level after the sound settings); empty without [[program]]. */
export function dashboardPrograms(ctx: AppContext): Html {
  if (!ctx.config.program.length) return html``;
  const levels = stageLevels(ctx);
  return P.programLevelsPanel(resolvePrograms(ctx.config).map((p) => ({ id: p.id, name: p.name, muted: ctx.pipeline.programMuted(p.id), post: levels.get(p.id)?.post ?? SILENT })));
}

// ---- addresses --------------------------------------------------------------------------------

/**
 * Where a phone opens a listen page (`path`): the name and port the admin reached this page by
 * (the Host header, which the host gate has checked), over plain HTTP — from the HTTPS admin
 * page, the plain port, so a phone meets no certificate warning — with the listener token when
 * one is set.
 */
export function listenUrl(ctx: AppContext, request: Request, path: string): string {
  let host: string;
  try {
    host = new URL(`http://${request.headers.get('host') ?? new URL(request.url).host}`).host;
  } catch {
    host = hostname().toLowerCase();
  }
  if (isHttps(request)) {
    const port = ctx.tls.plainPort || ctx.config.http.port;
    host = `${new URL(`http://${host}`).hostname}${port === 80 ? '' : `:${port}`}`;
  }
  const token = ctx.config.access.listener_token;
  return `http://${host}${path}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}
