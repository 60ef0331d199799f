/**
 * The dashboard's own widgets: the "are we on air?" summary, the card that shares the listen
 * page, and the title and marks panel. Pure renderings of plain values (src/http/admin/on-air.ts
 * reads them from the daemon). A fragment sent over SSE holds no clock reading, only start
 * times (`data-since`) and deadlines (`data-until`): /static/dashboard.js ticks them, so a timer
 * costs no server traffic and an unchanged summary is not sent again.
 */
import { html, raw, type Html } from './html.ts';

/** One destination as a person reads it. */
export interface DestinationLine {
  /** "Icecast server (radio.example.org:8000/live)", "Recording", "Listen page". */
  name: string;
  /** on: sending now; wait: not yet / starting; bad: failing; off: switched off. */
  tone: 'on' | 'wait' | 'bad' | 'off';
  /** Plain words: "on air for", "the server refused the password". */
  text: string;
  /** Start of the timer shown after `text` (ISO time). */
  since?: string | null;
  /** "38 MB sent". */
  amount?: string;
  /** A retry deadline shown as "trying again in 12 s" (ISO time). */
  retryAt?: string | null;
}

export interface OnAirView {
  state: 'idle' | 'live' | 'muted';
  lines: DestinationLine[];
  /** The failing destinations, each as one sentence. */
  problems: string[];
  /** Live, yet no destination enabled and nobody listening. */
  nothingSending: boolean;
  /** When the first destination still on air went on air (ISO). */
  onAirSince: string | null;
}

/** "1 problem", "2 problems". */
export const problemWord = (n: number) => `${n} ${n === 1 ? 'problem' : 'problems'}`;

/** Seconds as 00:42:10 (hours grow past 99 as needed). */
export function clock(s: number): string {
  const t = Math.max(0, Math.floor(s));
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(Math.floor(t / 3600))}:${p(Math.floor(t / 60) % 60)}:${p(t % 60)}`;
}

/** A byte count in the units a person expects: "0.4 MB", "38 MB", "1.2 GB". */
export function megabytes(bytes: number): string {
  const mb = bytes / 1e6;
  if (mb >= 1000) return `${(mb / 1000).toFixed(1)} GB`;
  return mb < 10 ? `${mb.toFixed(1)} MB` : `${Math.round(mb)} MB`;
}

/** A ticking timer: the text is filled in (and kept current) by /static/dashboard.js. */
const timer = (since: string, now?: number) =>
  html`<time class="timer" data-since="${since}" datetime="${since}">${now === undefined ? '' : clock((now - Date.parse(since)) / 1000)}</time>`;
const countdown = (until: string, now?: number) =>
  html`<span class="countdown" data-until="${until}">${now === undefined ? '' : `${Math.max(0, Math.ceil((Date.parse(until) - now) / 1000))} s`}</span>`;

/**
 * The summary at the top of the dashboard: a headline (on air / nothing sending / off air) and
 * one line per destination. While a destination fails, the headline is in `onAirAlert` instead.
 * `now` is given for the full page (the timers show a value before the script runs), not for SSE.
 */
export function onAirSummary(v: OnAirView, now?: number): Html {
  let head: Html | '' = '';
  if (v.state === 'idle') head = html`<p class="onair-head off" data-onair="off"><b>Off air.</b> The destinations and the recording start when you press Go live.</p>`;
  else if (v.problems.length) head = '';
  else if (v.nothingSending)
    head = html`<p class="onair-head wait" data-onair="nothing"><b>Live, but nothing is sending yet.</b> No destination is set up and nobody is on the listen page, so nobody hears this.</p>
<p class="onair-links"><a class="button-link" href="/outputs">Add a destination</a> <a class="button-link" href="#share">Share the listen page</a></p>`;
  else if (v.state === 'muted') head = html`<p class="onair-head wait" data-onair="muted"><b>Muted:</b> listeners hear silence.</p>`;
  else head = html`<p class="onair-head on" data-onair="on"><b>On air</b>${v.onAirSince ? html` for ${timer(v.onAirSince, now)}` : ''}</p>`;
  return html`${head}<ul class="destinations">${v.lines.map(
    (l) => html`<li class="dest ${l.tone}"><span class="dot" aria-hidden="true"></span><span><b>${l.name}:</b> ${l.text}${l.since ? html` ${timer(l.since, now)}` : ''}${l.amount ? `, ${l.amount}` : ''}${
      l.retryAt ? html`; trying again in ${countdown(l.retryAt, now)}` : ''
    }</span></li>`,
  )}</ul>`;
}

/**
 * The failing destinations as an alert above the summary. Its own SSE event, so it changes
 * (and a screen reader announces it) only when the problems change, not with every MB sent.
 */
export function onAirAlert(v: OnAirView): Html {
  const n = v.problems.length;
  if (!n || v.state === 'idle') return html``;
  return html`<div class="onair-alert" role="alert"><p class="onair-head bad" data-onair="problem"><b>${v.state === 'muted' ? 'Muted' : 'Live'} — ${problemWord(n)}</b></p><p class="onair-sub">${
    n === 1 ? 'Not reaching one destination:' : `Not reaching ${n} destinations:`
  }</p><ul>${v.problems.map((p) => html`<li>${p}</li>`)}</ul><a href="/outputs">Check the destinations</a></div>`;
}

/** The listen page's addresses, and the text behind its QR code. */
export interface ShareView {
  /** The address the QR code encodes: the first of `urls`. */
  primary: string;
  urls: string[];
  /** The QR code's modules, row by row (true: dark). */
  modules: boolean[][];
  tokenNeeded: boolean;
}

/** A QR code's modules as SVG path data: one rectangle per run of dark modules in a row, after the 4-module quiet zone. */
export function qrPath(modules: boolean[][]): string {
  let d = '';
  modules.forEach((row, r) => {
    for (let c = 0; c < row.length; c++) {
      if (!row[c]) continue;
      let len = 1;
      while (row[c + len]) len++;
      d += `M${c + 4} ${r + 4}h${len}v1h-${len}z`;
      c += len - 1;
    }
  });
  return d;
}

/** A QR code as one SVG path, with the quiet zone (white also in the dark theme: scanners need it). */
export function qrSvg(modules: boolean[][], label: string): Html {
  const n = modules.length;
  const d = qrPath(modules);
  return html`<svg class="qr" viewBox="0 0 ${n + 8} ${n + 8}" role="img" aria-label="${label}" data-modules="${n}" shape-rendering="crispEdges"><rect width="100%" height="100%" fill="#fff"/><path fill="#000" d="${raw(d)}"/></svg>`;
}

/** The card that shares the listen page: full addresses, a copy button, the QR code. */
export function shareCard(v: ShareView): Html {
  return html`<section class="panel share-card" id="share" aria-labelledby="share-h">
<h2 id="share-h">Share the listen page</h2>
<p class="help">Anyone on this network can listen in a browser at:</p>
<ul class="share-urls">${v.urls.map(
    (u, i) => html`<li><a class="share-url" id="share-url-${i}" href="${u}" target="_blank" rel="noopener">${u}</a> <button type="button" class="copy" data-copy="share-url-${i}" aria-label="Copy ${u}">Copy</button></li>`,
  )}</ul>
<p class="copied" role="status" aria-live="polite"></p>
${v.tokenNeeded ? html`<p class="help">These links carry the listener password (set on the System page), so keep them among your listeners.</p>` : ''}
<figure class="qr-box" data-url="${v.primary}">${qrSvg(v.modules, `QR code for ${v.primary}`)}<figcaption>Point a phone's camera here to open <span class="qr-text">${v.primary}</span></figcaption></figure>
</section>`;
}

/** The current title as the dashboard shows it; `data-title` feeds the title field. */
export function titleNow(title: string): Html {
  return html`<p class="title-now" data-title="${title}">${title ? html`Listeners see: <b>${title}</b>` : 'No title yet.'}</p>`;
}

/** Set the title (pre-filled with the current one) and mark a moment; results show beside each button. */
export function titleAndMarks(title: string): Html {
  return html`<section class="panel" id="title-marks" aria-labelledby="title-h"><h2 id="title-h">Title and marks</h2>
<div id="title-now" sse-swap="title-now">${titleNow(title)}</div>
<form hx-post="/ui/metadata" hx-target="find .result" class="row" id="title-form">
  <label class="sr-only" for="title-input">Title</label>
  <input type="text" id="title-input" name="title" value="${title}" placeholder="What is on now, e.g. Sunday service" maxlength="512">
  <button type="submit">Set title</button><span class="result" aria-live="polite"></span>
</form>
<p class="help" id="mark-help">Mark a moment (e.g. "Sermon starts"): while recording, it is kept with the recording, and on the Recordings page you can play from it.</p>
<form hx-post="/ui/mark" hx-target="find .result" class="row" id="mark-form">
  <label class="sr-only" for="mark-input">What happened (optional)</label>
  <input type="text" id="mark-input" name="label" placeholder="What happened, e.g. Sermon starts" maxlength="200" aria-describedby="mark-help">
  <button type="submit">Mark</button><span class="result" aria-live="polite"></span>
</form>
</section>`;
}

/** The dashboard's body: each live widget comes in its slot (src/http/admin/widgets.ts). */
export interface DashboardPage {
  slots: { state: Html; onAirAlert: Html; onAir: Html; meters: Html; record: Html; outputs: Html; programs?: Html };
  share: Html;
  title: string;
  /** The server's clock (ms), for the timers' first tick (dashboard.js). */
  now: number;
}

export function dashboardPage(v: DashboardPage): Html {
  const s = v.slots;
  return html`<div class="grid">
${s.state}
<section class="panel wide on-air" id="on-air" aria-label="Are we on air?">${s.onAirAlert}${s.onAir}<p class="onair-more"><a href="/listeners">Who is listening</a></p></section>
${v.share}
<section class="panel"><h2>Input level</h2>${s.meters}</section>
${s.programs ? html`<section class="panel programs-levels" aria-labelledby="programs-levels-h"><h2 id="programs-levels-h">Programs</h2>${s.programs}</section>` : ''}
<section class="panel"><h2>Recording</h2>${s.record}<a href="/recordings">Recordings</a></section>
${titleAndMarks(v.title)}
<details class="panel wide outputs-fold"><summary><h2>Details of every output</h2></summary>${s.outputs}</details>
</div>
<script src="/static/dashboard.js" defer data-now="${String(v.now)}"></script>`;
}
