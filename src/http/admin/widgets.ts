/**
 * The live widgets, rendered from the running daemon. The pages embed them; the SSE hub sends
 * the same renderings as named events.
 */
import type { AppContext } from '../context.ts';
import { html, type Html } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { listenerRows, listenerTotal, outputRows, systemInfo, type Devices } from './model.ts';
import type { Levels } from '../../audio/meter.ts';
import { problemCount } from './on-air.ts';

export const statePanel = (ctx: AppContext, message = '') => C.statePanel(ctx.control.snapshot(), message);
export const stateBadge = (ctx: AppContext) => C.stateBadge(ctx.control.state, problemCount(ctx));
export const outputs = (ctx: AppContext) => C.outputsTable(outputRows(ctx));
export const listeners = (ctx: AppContext) => C.listenerCount(listenerTotal(ctx));
export const listenerTable = (ctx: AppContext) => C.listenersTable(listenerRows(ctx));
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
<dt>Disk</dt><dd>${i.disk ? `${i.disk.free_mb} MB free of ${i.disk.total_mb} MB (${i.disk.path})` : 'n/a'}</dd>
<dt>Version</dt><dd>hark ${i.version}, Bun ${i.bun}</dd>
</dl>`;
}

export function logLines(lines: readonly string[]): Html {
  return html`${lines.map((l) => html`<div class="line ${/ (error|warn) /.exec(l)?.[1] ?? ''}">${l}</div>`)}`;
}

export function recorderStatus(ctx: AppContext): Html {
  const r = ctx.broadcast.recorder.status();
  return html`<dl class="facts">
<dt>Recorder</dt><dd><span class="pill ${C.stateClass(ctx.config.recording.enabled ? r.state : 'disabled')}">${ctx.config.recording.enabled ? r.state : 'disabled'}</span> ${r.last_error ?? ''}</dd>
<dt>Now writing</dt><dd>${r.file ?? '—'}</dd>
<dt>Directory</dt><dd>${r.dir}</dd>
<dt>Free</dt><dd>${r.free_mb === null ? 'n/a' : `${r.free_mb} MB (stops below ${r.min_free_mb} MB)`}</dd>
</dl>`;
}

export function recordingsList(ctx: AppContext): Html {
  const list = ctx.broadcast.recorder.list();
  if (!list.length) return html`<p class="empty">No recordings yet.</p>`;
  return html`<table class="recordings"><thead><tr><th>File</th><th>Size</th><th></th></tr></thead><tbody>${list.map(
    (r) => html`<tr><td><a href="/api/recordings/${encodeURIComponent(r.name)}" download>${r.name}</a>${r.active ? html` <span class="pill ok">recording</span>` : ''}<br><small>${r.started_at.replace('T', ' ').slice(0, 19)}</small></td><td>${(r.bytes / 1048576).toFixed(1)} MB</td><td>${
      r.active ? '' : html`<button type="button" class="link danger" hx-delete="/ui/recordings/${encodeURIComponent(r.name)}" hx-target="#recordings-list" hx-swap="innerHTML" hx-confirm="Delete ${r.name}?">Delete</button>`
    }</td></tr>`,
  )}</tbody></table>`;
}
