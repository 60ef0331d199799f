/**
 * The dashboard's fallback line ([fallback]): nothing while it is off; while it plays, what
 * and why, in plain words, and when the input takes over again; while ready, what would play;
 * always the files that cannot play, by name, with the reason.
 */
import type { AppContext } from '../../control/context.ts';
import { html, type Html } from '../../../web/templates/html.ts';

const secs = (s: number) => `${Math.round(s)} s`;

export function fallbackPanel(ctx: AppContext): Html {
  const st = ctx.broadcast.fallback.status();
  if (!st.enabled) return html``;
  const bad = st.files.filter((f) => f.state !== 'ok');
  const problems = bad.length
    ? html`<p>${bad.length === 1 ? 'This backup file cannot play:' : 'These backup files cannot play:'}</p><ul class="fallback-files">${bad.map(
        (f) => html`<li><b>${f.name}</b>: ${f.message}</li>`,
      )}</ul>`
    : '';
  if (st.active) {
    const then =
      st.returns_in_s !== null
        ? html`The input has sound again: it takes over in ${secs(st.returns_in_s)}.`
        : html`It switches back ${secs(st.return_s)} after the input has sound again.`;
    return html`<div class="notice warn fallback-on" role="status" data-fallback="on"><p><b>${st.message}</b></p><p>${then}</p>${problems}</div>`;
  }
  const ready = st.files.filter((f) => f.state === 'ok' && f.seconds > 0).map((f) => f.name.split('/').pop() ?? f.name);
  const what = [...st.devices.map((d) => `${d.name}${d.state === 'running' ? '' : ' (not connected)'}`), ...ready];
  const line = st.loading
    ? html`Backup audio: loading the files…`
    : what.length
      ? html`Backup audio: if the input is silent for ${secs(st.after_s)}, listeners hear ${what.join(', then ')}.`
      : html`Backup audio has nothing to play: no backup device and no file that plays.`;
  return html`<div class="${bad.length || !what.length ? 'notice warn' : 'fallback-ready'}" data-fallback="ready"><p>${line}</p>${problems}</div>`;
}
