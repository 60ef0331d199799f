/**
 * The live widgets, rendered from the running daemon. The pages embed them; the SSE hub sends
 * the same renderings as named events.
 */
import type { AppContext } from '../context.ts';
import { html, type Html } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { listenerRows, listenerTotal, outputRows, systemInfo, type Devices } from './model.ts';
import type { Levels } from '../../audio/meter.ts';
import * as T from './local-time.ts';
import { systemControl } from '../../control/system.ts';

export const statePanel = (ctx: AppContext, message = '') => C.statePanel(ctx.control.snapshot(), message);
export const stateBadge = (ctx: AppContext) => C.stateBadge(ctx.control.state);
export const outputs = (ctx: AppContext) => C.outputsTable(outputRows(ctx));
export const listeners = (ctx: AppContext) => C.listenerCount(listenerTotal(ctx));
export const listenerTable = (ctx: AppContext) => C.listenersTable(listenerRows(ctx).map((r) => ({ ...r, sinceText: T.when(r.since) })));
export const alerts = (ctx: AppContext) => C.alerts(ctx.broadcast.alerts.list(), ctx.store.lastRefusal?.message);

/** Peak hold: the highest peak stays 1.5 s, then falls 20 dB/s. Clip light: 2 s after a clip. */
export class MeterState {
  private hold: number[] = [];
  private holdAt: number[] = [];
  private clips: number[] = [];
  private clipUntil: number[] = [];
  seq = 0;
  view: C.MeterView = { peak: [], rms: [], hold: [], clip: [] };

  update(l: Levels, now = performance.now()): C.MeterView {
    const n = l.peak_dbfs.length;
    const v: C.MeterView = { peak: l.peak_dbfs, rms: l.rms_dbfs, hold: [], clip: [] };
    for (let c = 0; c < n; c++) {
      const p = l.peak_dbfs[c]!;
      let h = this.hold[c] ?? -120;
      const age = now - (this.holdAt[c] ?? 0);
      if (age > 1500) h -= ((age - 1500) / 1000) * 20;
      if (p >= h) {
        h = p;
        this.holdAt[c] = now;
      }
      this.hold[c] = h;
      v.hold.push(Math.max(h, p));
      if ((l.clips[c] ?? 0) > (this.clips[c] ?? 0)) this.clipUntil[c] = now + 2000;
      this.clips[c] = l.clips[c] ?? 0;
      v.clip.push((this.clipUntil[c] ?? 0) > now);
    }
    this.seq++;
    this.view = v;
    return v;
  }
}

export const meters = (m: MeterState) => C.meters(m.view, m.seq);

export function deviceOptions(ctx: AppContext, devices: Devices): Html {
  const { devices: list, error } = devices.list();
  const cur = ctx.config.input.device;
  const known = list.some((d) => d.name === cur);
  return html`<option value="" ${cur === '' ? html`selected` : ''}>Default source${list.find((d) => d.isDefault) ? ` (${list.find((d) => d.isDefault)!.description})` : ''}</option>
${list.map((d) => html`<option value="${d.name}" ${d.name === cur ? html`selected` : ''}>${d.description}${d.kind === 'monitor' ? '' : ''} — ${d.channels ?? '?'} ch</option>`)}
${cur && !known ? html`<option value="${cur}" selected>${cur} (not present)</option>` : ''}
${error ? html`<option disabled>PipeWire: ${error}</option>` : ''}`;
}

export function inputStatus(ctx: AppContext): Html {
  const s = ctx.pipeline.stats()?.source;
  return html`<dl class="facts">
<dt>Source</dt><dd>${s?.kind ?? ctx.config.input.source}</dd>
<dt>State</dt><dd><span class="pill ${C.stateClass(s?.state ?? 'starting')}">${s?.state ?? ctx.pipeline.state}</span> ${s?.message ?? ''}</dd>
<dt>Device</dt><dd>${s?.device || '(default)'}</dd>
<dt>Format</dt><dd>${s ? `${s.format.rate} Hz, ${s.format.channels} ch` : ''}</dd>
${s?.stats && 'xruns' in s.stats ? html`<dt>Xruns</dt><dd>${String(s.stats.xruns)}</dd>` : ''}
</dl>`;
}

const dur = (s: number) => {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
};

export function sysinfo(ctx: AppContext): Html {
  const i = systemInfo(ctx);
  return html`<dl class="facts">
<dt>Host name</dt><dd>${i.hostname}</dd>
<dt>Addresses</dt><dd>${i.addresses.length ? i.addresses.map((a) => html`${a}<br>`) : 'none'}</dd>
<dt>Uptime</dt><dd>${dur(i.uptime_s)} (hark ${dur(i.hark_uptime_s)})</dd>
<dt>CPU temperature</dt><dd>${i.cpu_temp_c === null ? 'n/a' : `${i.cpu_temp_c} °C`}</dd>
<dt>Load</dt><dd>${i.load.join(' · ')}</dd>
<dt>Disk</dt><dd>${i.disk ? html`${T.size(i.disk.free_mb * 1048576)} free of ${T.size(i.disk.total_mb * 1048576)}` : 'n/a'}</dd>
<dt>Time</dt><dd>${T.clock(Date.now())} <small>(${systemControl().timezone()})</small></dd>
<dt>Version</dt><dd>hark ${i.version}, Bun ${i.bun}</dd>
</dl>`;
}

export function logLines(lines: readonly string[]): Html {
  return html`${lines.map((l) => html`<div class="line ${/ (error|warn) /.exec(l)?.[1] ?? ''}">${l}</div>`)}`;
}

/** Free space as people say it: "78 GB free". */
const free = (mb: number | null) => (mb === null ? 'unknown' : `${T.size(mb * 1048576)} free`);

/** The recorder now: this recording's length and size, and the room left (updates twice a second). */
export function recorderStatus(ctx: AppContext): Html {
  const r = ctx.broadcast.recorder.status();
  const on = r.state === 'recording' && r.file;
  return html`<dl class="facts">
${on ? html`<dt>This recording</dt><dd><span class="rec-timer">${T.timer(r.file_duration_s ?? 0)}</span>, ${T.size(r.file_bytes)}</dd>` : ''}
<dt>Space</dt><dd>${free(r.free_mb)} <small>(recording stops below ${T.size(r.min_free_mb * 1048576)})</small></dd>
${r.last_error ? html`<dt>Problem</dt><dd class="err">${r.last_error}</dd>` : ''}
</dl>`;
}

/**
 * The Record button with one line of state; the same widget on the dashboard and the
 * Recordings page. It changes only when the recorder does, so focus stays on the button.
 */
export function recordControl(ctx: AppContext, message = ''): Html {
  const r = ctx.broadcast.recorder.status();
  const enabled = ctx.config.recording.enabled;
  const live = ctx.control.isLive;
  const btn = (on: boolean, label: string, cls: string) =>
    html`<button type="button" class="record-btn ${cls}" hx-post="/ui/record/${on ? 'on' : 'off'}" hx-target="closest .record-control" hx-swap="innerHTML">${label}</button>`;
  let line: Html;
  let button: Html;
  if (r.state === 'recording' && r.file_started_at) {
    line = html`<span class="rec-dot" aria-hidden="true"></span><b>Recording</b> since ${T.when(r.file_started_at)}`;
    button = btn(false, 'Stop recording', 'stop');
  } else if (enabled && r.state === 'disk_full') {
    line = html`<b class="err">Recording stopped: the disk is full.</b> It goes on when there is room again.`;
    button = btn(false, 'Stop recording', 'stop');
  } else if (enabled && r.state === 'failed') {
    line = html`<b class="err">Recording failed:</b> ${r.last_error ?? ''}`;
    button = btn(true, 'Try again', 'rec');
  } else if (enabled && !live) {
    line = html`Recording starts when you go live.`;
    button = btn(false, "Don't record", 'stop');
  } else {
    line = html`Not recording.`;
    button = btn(true, 'Record', 'rec');
  }
  return html`<p class="record-line" data-recorder="${r.state}">${line}</p>${button}${message ? html`<p class="msg" role="status">${message}</p>` : ''}`;
}

const playId = (name: string) => `play-${name.replace(/[^\w-]/g, '-')}`;

/**
 * The recordings, newest first: when (in the box's time zone), how long, a player and a
 * download link. The file being written shows "recording now" instead of its growing length
 * (that is in recorderStatus), so this list changes only when files come and go, and a player
 * is replaced only then (data-sig; not hx-preserve: Chromium draws a moved <audio>'s controls blank).
 */
export function recordingsList(ctx: AppContext): Html {
  const list = ctx.broadcast.recorder.list();
  if (!list.length) return html`<p class="empty">No recordings yet.</p>`;
  const now = Date.now();
  const items = html`${list.map((r) => {
    const start = Date.parse(r.started_at);
    const title = r.active ? `${T.day(start, now)}, from ${T.clock(start)}` : T.span(start, Math.max(start, Date.parse(r.modified_at)), now);
    const url = `/api/recordings/${encodeURIComponent(r.name)}`;
    return html`<li class="recording" data-name="${r.name}">
  <p class="rec-title"><b><time datetime="${r.started_at}">${title}</time></b>${r.active ? html` <span class="pill ok">recording now</span>` : ''}</p>
  <p class="rec-meta">${r.active ? '' : html`<span class="rec-duration">${r.duration_s === null ? 'length unknown' : T.duration(r.duration_s)}</span> · ${T.size(r.bytes)} · `}${r.name.endsWith('.mp3') ? 'MP3' : 'Ogg Opus'}</p>
  <audio id="${playId(r.name)}" controls preload="none" src="${url}?play=1" aria-label="Play the recording of ${title}"></audio>
  <p class="row rec-actions"><a class="button-link" href="${url}" download="hark ${T.fileStamp(start)}${r.name.slice(r.name.lastIndexOf('.'))}">Download</a>${
    r.active ? '' : html`<button type="button" class="link danger" hx-delete="/ui/recordings/${encodeURIComponent(r.name)}" hx-target="#recordings-list" hx-swap="innerHTML" hx-confirm="Delete the recording of ${title}? This cannot be undone.">Delete</button>`
  }</p>
</li>`;
  })}`;
  // admin.js skips an SSE update whose signature the list already has (the resend on every
  // (re)connect), so a player that is playing is not replaced by an identical one.
  return html`<ul class="recordings" data-sig="${Bun.hash(items.value).toString(36)}">${items}</ul>`;
}
