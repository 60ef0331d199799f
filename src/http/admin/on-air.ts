/**
 * "Are we on air?": the destinations of the running daemon in plain words, the failing ones as
 * problems (the dashboard's alert, and the header badge's "Live — 1 problem" on every page),
 * and the listen page's addresses with their QR code. Read from the outputs' status records.
 */
import { networkInterfaces } from 'node:os';
import { mdnsName } from '../../control/mdns-name.ts';
import qrcode from 'qrcode-generator';
import type { AppContext } from '../../control/context.ts';
import { html, type Html } from '../../../web/templates/html.ts';
import * as D from '../../../web/templates/dashboard.ts';
import { listenerTotal } from './model.ts';
import * as T from './local-time.ts';
import { isHttps } from '../auth.ts';
import type { OutputStatus } from '../../outputs/link.ts';

type SenderStatus = Pick<OutputStatus, 'state' | 'bytes' | 'since' | 'last_error' | 'retry_at'>;

const REFUSED = { icecast: 'the server refused the password', whip: 'the server refused the token', srt: 'wrong passphrase', rtp: 'refused' };
type SenderKind = keyof typeof REFUSED;
const BUSY = 'another source is using this mount point';

/** A failure in plain words, from its error message (the same words while it retries). */
function fromError(kind: SenderKind, err: string | null): string {
  if (!err) return 'not connected';
  // Before the password check: "certificate authority" is no refused password.
  if (/certificate|CA file|\(TLS\)/.test(err)) return err;
  // SRT's reasons are already words for people ("no answer from … (is the receiver listening?)").
  if (kind === 'srt') return err;
  if (/auth|\b40[13]\b/i.test(err)) return REFUSED[kind];
  if (/mount.*in use|in use/i.test(err)) return BUSY;
  return `not connected (${err})`;
}

/** Why an Icecast or WHIP destination is not on air, in plain words; null while it is fine. */
function failure(kind: SenderKind, o: SenderStatus): string | null {
  switch (o.state) {
    case 'auth_failed':
      return REFUSED[kind];
    case 'mount_in_use':
      return BUSY;
    case 'retrying':
    case 'refused': // an SRT receiver that turned the connection down
      return fromError(kind, o.last_error);
    case 'connecting':
      // A new try after a failure stays a problem until it is live: the badge and the alert
      // do not flicker to "Live" and back with every try.
      return o.last_error ? fromError(kind, o.last_error) : null;
    default:
      return null;
  }
}

function senderLine(kind: SenderKind, name: string, o: SenderStatus, problems: string[], waiting = 'connecting…'): D.DestinationLine {
  const why = failure(kind, o);
  if (why) {
    problems.push(`${name}: ${why}`);
    return o.state === 'connecting' ? { name, tone: 'bad', text: `${why}; trying again now` } : { name, tone: 'bad', text: why, retryAt: o.retry_at };
  }
  if (o.state === 'live') return { name, tone: 'on', text: 'on air for', since: o.since, amount: `${D.megabytes(o.bytes)} sent` };
  if (o.state === 'connecting') return { name, tone: 'wait', text: waiting };
  return { name, tone: 'off', text: 'not sending (starts when you go live)' };
}

/** The destinations and their problems, as the summary and the badge show them. */
export function onAirView(ctx: AppContext): D.OnAirView {
  const s = ctx.broadcast.statuses();
  const state = ctx.control.state;
  const lines: D.DestinationLine[] = [];
  const problems: string[] = [];
  let sending = 0;
  const since: string[] = [];
  for (const o of s) {
    if (o.kind !== 'icecast' && o.kind !== 'whip' && o.kind !== 'srt' && o.kind !== 'rtp') continue;
    if (!o.enabled && o.state === 'stopped') continue;
    sending++;
    if (o.kind === 'srt') {
      // srt://host:port?mode=caller | srt://:port?mode=listener (secrets never in `where`).
      const m = /^srt:\/\/(.*):(\d+)\?mode=(caller|listener)$/.exec(o.where);
      const listener = m?.[3] === 'listener';
      const name = listener ? `SRT link (the receiver calls port ${m?.[2]})` : `SRT link to ${m ? `${m[1]}:${m[2]}` : o.where}`;
      const l = senderLine('srt', name, o, problems, listener ? 'waiting for the receiver to call' : 'connecting…');
      if (l.since) since.push(l.since);
      lines.push(l);
      continue;
    }
    let name = o.kind === 'rtp' ? `Network audio (RTP) to ${o.where}` : `Icecast server (${o.where})`;
    if (o.kind === 'whip') {
      let host = o.where;
      try {
        host = new URL(o.where).host;
      } catch {
        // Shown as configured.
      }
      name = `Publishing (WHIP) to ${host}`;
    }
    const l = senderLine(o.kind, name, o, problems);
    if (l.since) since.push(l.since);
    lines.push(l);
  }
  const r = ctx.broadcast.recorder.status();
  if (r.state === 'retrying' || r.state === 'disk_full') {
    const why = r.state === 'disk_full' ? `stopped, the disk is full${r.free_mb !== null ? ` (${T.spaceText(r.free_mb * 1048576)} free)` : ''}` : `failed${r.last_error ? ` (${r.last_error})` : ''}, trying again`;
    problems.push(`Recording: ${why}`);
    lines.push({ name: 'Recording', tone: 'bad', text: why });
    sending++;
  } else if (r.state === 'recording') {
    lines.push({ name: 'Recording', tone: 'on', text: 'recording for', since: r.file_started_at, amount: D.megabytes(r.file_bytes) });
    sending++;
  } else if (ctx.config.recording.enabled) {
    lines.push({ name: 'Recording', tone: 'off', text: 'starts when you go live' });
    sending++;
  } else lines.push({ name: 'Recording', tone: 'off', text: 'off' });
  // The one place the dashboard counts listeners: the total, and how many of them use the stream link.
  const people = listenerTotal(ctx);
  const viaLink = ctx.mp3.listenerCount;
  const split = viaLink === 0 ? '' : viaLink === people ? ' (on the stream link)' : ` (${viaLink} of them on the stream link)`;
  lines.push({ name: 'Listen page', tone: people ? 'on' : 'off', text: people === 0 ? 'nobody is listening' : `${people === 1 ? '1 person' : `${people} people`}${split}` });
  since.sort();
  return { state, lines, problems, nothingSending: state !== 'idle' && sending === 0 && people === 0, onAirSince: since[0] ?? null };
}

/** How many destinations are failing (the header badge's "Live — 1 problem"). */
export const problemCount = (ctx: AppContext) => onAirView(ctx).problems.length;

/** The summary widget (the `on-air` SSE event). `now` only for the full page. */
export const onAir = (ctx: AppContext, now?: number): Html => D.onAirSummary(onAirView(ctx), now);

/** The failing destinations' alert (the `on-air-alert` SSE event). */
export const onAirAlert = (ctx: AppContext): Html => D.onAirAlert(onAirView(ctx));

/** The title panel's "Listeners see: …" line (the `title-now` SSE event). */
export const titleNow = (ctx: AppContext): Html => D.titleNow(ctx.control.title);

/** The box's LAN addresses for a link: IPv4 first; loopback only when there is nothing else. */
export function lanAddresses(): string[] {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv4') v4.push(a.address);
      else if (!a.address.toLowerCase().startsWith('fe80')) v6.push(`[${a.address}]`);
    }
  }
  if (v4.length) return v4;
  if (v6.length) return v6;
  return ['127.0.0.1'];
}

/** The QR code's modules for `text` (byte mode, error correction M, the smallest version that fits). */
export function qrModules(text: string): boolean[][] {
  const q = qrcode(0, 'M');
  q.addData(text);
  q.make();
  const n = q.getModuleCount();
  return Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => q.isDark(r, c)));
}

/**
 * The listen page's addresses: the name avahi announces (`<hostname>.local`, or `studio-2.local`
 * after a clash: control/mdns-name.ts) and each LAN address, on the port the
 * browser reached this page on (the Host header; no port shown for 80), with the listener
 * token when one is set.
 */
export function shareView(ctx: AppContext, request: Request): D.ShareView {
  let port = '';
  try {
    port = new URL(`http://${request.headers.get('host') ?? ''}`).port;
  } catch {
    port = String(ctx.config.http.port);
  }
  // From the HTTPS admin page: the listen page's plain HTTP address (no certificate warning).
  if (isHttps(request)) port = String(ctx.tls.plainPort || ctx.config.http.port);
  const suffix = port && port !== '80' ? `:${port}` : '';
  const token = ctx.config.access.listener_token;
  const path = `/listen${token ? `?token=${encodeURIComponent(token)}` : ''}`;
  const lan = lanAddresses();
  const urls = [`http://${mdnsName()}${suffix}${path}`, ...lan.map((a) => `http://${a}${suffix}${path}`)];
  // The QR code carries an address, not the .local name: phones (Android's browsers above
  // all) do not all resolve .local names. Loopback only helps nobody else, so then the name.
  const primary = lan[0] === '127.0.0.1' ? urls[0]! : urls[1]!;
  return { primary, urls, modules: qrModules(primary), tokenNeeded: !!token };
}

export const shareCard = (ctx: AppContext, request: Request): Html => D.shareCard(shareView(ctx, request));

/** "00:12:34 into the recording" for a mark, when a recording is running. */
export function recordingOffset(ctx: AppContext, at: string): Html | '' {
  const r = ctx.broadcast.recorder.status();
  if (r.state !== 'recording' || !r.file_started_at) return '';
  const into = r.file_duration_s ?? (Date.parse(at) - Date.parse(r.file_started_at)) / 1000;
  return html`, ${D.clock(into)} into the recording`;
}
