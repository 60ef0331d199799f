/**
 * Times, durations and sizes as people read them: in the box's time zone (where the service
 * happens), "Sun 2 Dec, 10:30–11:45", "1 h 15 min", "78 GB free".
 */
import { html, type Html } from '../../../web/templates/html.ts';

const formats = new Map<string, Intl.DateTimeFormat>();
/** A formatter in the current zone (cached: the zone can change at run time, see system.ts). */
function fmt(o: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${process.env.TZ ?? ''}|${JSON.stringify(o)}`;
  let f = formats.get(key);
  if (!f) formats.set(key, (f = new Intl.DateTimeFormat('en-GB', { ...o, timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone })));
  return f;
}

/** "Sun 2 Dec" (with the year when it is not this year). */
export function day(ms: number, now = Date.now()): string {
  const y = (t: number) => fmt({ year: 'numeric' }).format(t);
  return `${fmt({ weekday: 'short' }).format(ms)} ${fmt({ day: 'numeric', month: 'short' }).format(ms)}${y(ms) !== y(now) ? ` ${y(ms)}` : ''}`;
}

/** "10:30" */
export function clock(ms: number): string {
  return fmt({ hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ms);
}

/** "Sun 2 Dec, 10:30–11:45", or across midnight "Sun 2 Dec, 23:30 – Mon 3 Dec, 00:15". */
export function span(startMs: number, endMs: number, now = Date.now()): string {
  const a = day(startMs, now);
  const b = day(endMs, now);
  return a === b ? `${a}, ${clock(startMs)}–${clock(endMs)}` : `${a}, ${clock(startMs)} – ${b}, ${clock(endMs)}`;
}

/** A time for a person, with the machine-readable instant beside it. */
export function when(iso: string, now = Date.now()): Html {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return html``;
  const d = day(ms, now);
  return html`<time datetime="${iso}">${d === day(now, now) ? clock(ms) : `${d}, ${clock(ms)}`}</time>`;
}

/** "2026-12-02 10.30", for a file name a person recognises. */
export function fileStamp(ms: number): string {
  const d = fmt({ year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(ms);
  const part = (t: string) => d.find((p) => p.type === t)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')} ${clock(ms).replace(':', '.')}`;
}

/** "45 s", "12 min", "1 h 15 min" */
export function duration(s: number): string {
  const t = Math.round(s);
  if (t < 60) return `${t} s`;
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  return h ? `${h} h ${m} min` : `${m} min`;
}

/** "00:42:10" */
export function timer(s: number): string {
  const t = Math.max(0, Math.floor(s));
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(Math.floor(t / 3600))}:${p(Math.floor((t % 3600) / 60))}:${p(t % 60)}`;
}

/** Free space: "75.2 GB", "0.4 GB" (the same words as the recorder's alerts). */
export { spaceText } from '../../outputs/recorder.ts';

/** "180 MB", "1.4 GB", "78 GB" */
export function size(bytes: number): string {
  const mb = bytes / 1048576;
  if (mb < 1) return `${Math.max(1, Math.round(bytes / 1024))} kB`;
  if (mb < 1024) return `${mb < 10 ? mb.toFixed(1) : Math.round(mb)} MB`;
  const gb = mb / 1024;
  return `${gb < 10 ? gb.toFixed(1) : Math.round(gb)} GB`;
}
