/**
 * Programs ([[program]]): several streams from one input. This module turns the config's
 * entries into what the audio worker runs (routing and processing per program) and checks what
 * the schema cannot (channels the input has, distinct ids, outputs naming a program that
 * exists). With no [[program]] there is one program, `main`, the whole input as before.
 */
import type { Config } from './schema.ts';
import type { EntryProblem } from './check.ts';

/** The id every output without `program` names, and /stream.mp3, /whep and /listen carry. */
export const MAIN_PROGRAM = 'main';

type ProgramEntry = Config['program'][number];

/** A program's processing (src/audio/dsp.ts takes this shape; config stays free of audio code). */
export interface DspSettings {
  gainDb: number;
  highpassHz: number;
  eq: { type: 'peak' | 'lowshelf' | 'highshelf' | 'highpass' | 'lowpass'; hz: number; gainDb: number; q: number }[];
  limiterDbfs: number;
  delayMs: number;
}

/** How a program takes its channels from the input. */
export type ProgramRoute =
  /** Input channels (0-based) copied as they are: one → mono, two → stereo. */
  | { kind: 'channels'; channels: number[] }
  /** Input channels (0-based) with linear gains, summed to mono. */
  | { kind: 'mix'; gains: [channel: number, gain: number][] };

/** One program as the worker and the outputs see it. */
export interface Program {
  id: string;
  name: string;
  language: string;
  /** The whole input as before programs (no [[program]] entries): no routing, no processing. */
  implicit: boolean;
  route: ProgramRoute;
  /** 1: mono (carried on both sides of the program's stereo bus), 2: stereo. */
  channels: 1 | 2;
  dsp: DspSettings;
}

/** What the worker needs of one program (structured-clone safe). */
export interface ProgramSpec {
  id: string;
  route: ProgramRoute;
  channels: 1 | 2;
  dsp: DspSettings;
}

const dbToGain = (db: number): number => Math.pow(10, db / 20);

/** The programs of a config, in order; the first is `main` when no entry is called that. */
export function resolvePrograms(c: Config): Program[] {
  if (c.program.length === 0) {
    return [
      {
        id: MAIN_PROGRAM,
        name: 'Main',
        language: '',
        implicit: true,
        route: { kind: 'channels', channels: [] },
        channels: Math.min(2, c.input.channels) as 1 | 2,
        dsp: { gainDb: 0, highpassHz: 0, eq: [], limiterDbfs: 0, delayMs: 0 },
      },
    ];
  }
  return c.program.map(toProgram);
}

function toProgram(p: ProgramEntry): Program {
  const mixKeys = Object.keys(p.mix);
  const route: ProgramRoute =
    mixKeys.length > 0
      ? { kind: 'mix', gains: mixKeys.map((k) => [Number(k) - 1, dbToGain(p.mix[k]!)] as [number, number]).sort((a, b) => a[0] - b[0]) }
      : p.mono && p.channels.length > 1
        ? { kind: 'mix', gains: p.channels.map((ch) => [ch - 1, 1] as [number, number]) }
        : { kind: 'channels', channels: p.channels.map((ch) => ch - 1) };
  const channels: 1 | 2 = route.kind === 'mix' || route.channels.length === 1 ? 1 : 2;
  return {
    id: p.id,
    name: p.name || p.id,
    language: p.language,
    implicit: false,
    route,
    channels,
    dsp: {
      gainDb: p.gain_db,
      highpassHz: p.highpass_hz,
      eq: p.eq.map((b) => ({ type: b.type, hz: b.hz, gainDb: b.gain_db, q: b.q })),
      limiterDbfs: p.limiter_dbfs,
      delayMs: p.delay_ms,
    },
  };
}

/**
 * The program an output's `program` key means: `main` is the entry called so, else the first
 * [[program]] (the box's default program), else the whole input. Undefined for an unknown id.
 */
export function resolveProgramId(c: Config, ref: string): string | undefined {
  if (c.program.length === 0) return ref === MAIN_PROGRAM ? MAIN_PROGRAM : undefined;
  if (c.program.some((p) => p.id === ref)) return ref;
  return ref === MAIN_PROGRAM ? c.program[0]!.id : undefined;
}

/** The channel count of the program a reference means (1 or 2); the input's for an unknown one. */
export function programChannels(c: Config, ref: string): 1 | 2 {
  const id = resolveProgramId(c, ref);
  const p = resolvePrograms(c).find((x) => x.id === id);
  return p ? p.channels : (Math.min(2, c.input.channels) as 1 | 2);
}

/** The worker's view of the programs (none for the implicit `main`: it is the input itself). */
export function programSpecs(c: Config): ProgramSpec[] {
  return resolvePrograms(c)
    .filter((p) => !p.implicit)
    .map((p) => ({ id: p.id, route: p.route, channels: p.channels, dsp: p.dsp }));
}

/** The encoder-key prefix of a program: none for the implicit main (keys as before programs). */
export function programKeyPrefix(c: Config, id: string): string {
  return c.program.length === 0 ? '' : `@${id} `;
}

/** Ids taken by the listen page's own paths (/listen/info, /listen/events). */
const RESERVED_IDS = new Set(['info', 'events', 'static']);

function known(c: Config): string {
  const ids = c.program.length === 0 ? [MAIN_PROGRAM] : [MAIN_PROGRAM, ...c.program.map((p) => p.id).filter((id) => id !== MAIN_PROGRAM)];
  return ids.map((id) => `"${id}"`).join(', ');
}

/** What the schema cannot check about programs and the outputs that name them; null if fine. */
export function checkPrograms(c: Config): EntryProblem | null {
  const ids = new Set<string>();
  const inCh = c.input.channels;
  for (const [i, p] of c.program.entries()) {
    const at = `program.${i}`;
    if (RESERVED_IDS.has(p.id)) return { path: `${at}.id`, reason: `"${p.id}" is a word the listen page's own addresses use; choose another id` };
    if (ids.has(p.id)) return { path: `${at}.id`, reason: `"${p.id}" is used by another program; give each a distinct id` };
    ids.add(p.id);
    const mixKeys = Object.keys(p.mix);
    if (p.channels.length === 0 && mixKeys.length === 0) {
      return { path: `${at}.channels`, reason: 'give the input channels that make this program (e.g. [1, 2]) or a mix (e.g. { 1 = 0.0, 3 = -6.0 })' };
    }
    if (p.channels.length > 0 && mixKeys.length > 0) return { path: `${at}.mix`, reason: 'give channels or a mix, not both' };
    for (const [j, ch] of p.channels.entries()) {
      if (ch > inCh) return { path: `${at}.channels.${j}`, reason: `the input has no channel ${ch}: it captures ${inCh} (input.channels)` };
    }
    for (const k of mixKeys) {
      if (Number(k) > inCh) return { path: `${at}.mix.${k}`, reason: `the input has no channel ${k}: it captures ${inCh} (input.channels)` };
    }
    if (p.channels.length > 2 && !p.mono) {
      return { path: `${at}.mono`, reason: `${p.channels.length} channels make no stereo pair: set mono = true to sum them, or give one or two channels` };
    }
    if (p.highpass_hz > 0 && p.highpass_hz < 20) return { path: `${at}.highpass_hz`, reason: `between 20 and 300 Hz, or 0 for off; got ${p.highpass_hz}` };
    if (p.limiter_dbfs > -0.1 && p.limiter_dbfs < 0) return { path: `${at}.limiter_dbfs`, reason: `a ceiling of −0.1 dBFS or lower, or 0 for off; got ${p.limiter_dbfs}` };
  }
  const ref = (path: string, id: string): EntryProblem | null =>
    resolveProgramId(c, id) === undefined ? { path, reason: `no program "${id}": the programs are ${known(c)}` } : null;
  for (const [i, e] of c.icecast.entries()) {
    const bad = ref(`icecast.${i}.program`, e.program);
    if (bad) return bad;
  }
  for (const [i, e] of c.whip.entries()) {
    const bad = ref(`whip.${i}.program`, e.program);
    if (bad) return bad;
  }
  for (const [i, e] of c.srt.entries()) {
    const bad = ref(`srt.${i}.program`, e.program);
    if (bad) return bad;
  }
  {
    const bad = ref('recording.program', c.recording.program);
    if (bad) return bad;
  }
  for (const [i, b] of c.gpio.button.entries()) {
    if (!b.program) continue;
    const bad = ref(`gpio.button.${i}.program`, b.program);
    if (bad) return bad;
    const acts = [b.action, b.long_action].filter((a) => a !== '');
    if (!acts.every((a) => a === 'mute' || a === 'unmute' || a === 'toggle_mute')) {
      return { path: `gpio.button.${i}.program`, reason: 'only mute, unmute and toggle_mute act on one program; leave program empty for the other actions' };
    }
  }
  return null;
}
