/**
 * The live widgets, rendered from the running daemon, and their registry (`WIDGETS`): one
 * place per widget that the full pages (`slot()`), the fragment route (`/ui/widget/:name`)
 * and the SSE hub (src/http/sse.ts) all read.
 *
 * Adding a widget is one entry in `WIDGETS` plus one `${W.slot(hub.env, 'name')}` where the
 * page shows it:
 *
 *   'on-air': {
 *     pages: ['dashboard'],                       // the pages whose SSE connection carries it
 *     slot: { id: 'on-air', tag: 'section', attrs: 'class="panel wide"' },
 *     render: ({ ctx }) => onAirSummary(ctx),     // the inside of the slot: page, fragment, event
 *     on: ['state', 'output'],                    // bus events that re-send it at once (if changed)
 *   },
 *
 * State reaches the page by events (`on`), from its owner. `everyMs` (with `clock`, the reason)
 * is only for values a clock changes: the meters' frames, byte counters, uptime, the log tail.
 *
 * The SSE event is named after the entry (`event: on-air`) and swapped into the slot (the
 * slot carries `sse-swap`). A widget whose rendering includes its own element (the state
 * panel) sets `slot: null`. A slot inside an element with `hx-target` (the device picker in its
 * form) needs `hx-target="this"` in its attrs, or the swap goes to the inherited target. `frame` is for streams that send something other than the whole
 * rendering (the meters send numbers that admin.js applies; the log sends new lines).
 */
import type { AppContext } from '../../control/context.ts';
import { html, raw, type Html } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { listenerRows, listenerTotal, outputRows, systemInfo } from './model.ts';
import type { Devices } from '../../audio/devices.ts';
import type { MeterState } from '../../audio/meter.ts';
import type { HarkEvent } from '../../control/events.ts';
import { logTail } from '../../log.ts';
import { entryButtons, entryStatesUpdate } from './forms.ts';
import { onAir, onAirAlert, problemCount, titleNow } from './on-air.ts';
import { fallbackPanel } from './fallback-panel.ts';
import * as T from './local-time.ts';
import { systemControl } from '../../control/system.ts';
import { notifierList } from '../../../web/templates/notify.ts';
import { clockPanel as clockPanelView } from '../../../web/templates/schedule.ts';
import { dashboardPrograms, programLevelsFrame, programsLive } from './programs-model.ts';

export const statePanel = (ctx: AppContext, message = '') => C.statePanel(ctx.control.snapshot(), message);
export const stateBadge = (ctx: AppContext) => C.stateBadge(ctx.control.state, problemCount(ctx));
export const outputs = (ctx: AppContext) => C.outputsTable(outputRows(ctx));
export const listeners = (ctx: AppContext) => C.listenerCount(listenerTotal(ctx));
export const listenerTable = (ctx: AppContext) => C.listenersTable(listenerRows(ctx).map((r) => ({ ...r, sinceText: T.when(r.since) })));
export const alerts = (ctx: AppContext) => C.alerts(ctx.broadcast.alerts.list(), ctx.store.lastRefusal?.message);

export const meters = (m: MeterState) => C.meters(m.view, m.seq);

/** The meters' live frame: numbers only (admin.js moves the bars), ~80 bytes per stereo frame. */
export function meterFrame(m: MeterState): string {
  const v = m.view;
  const r = (a: number[]) => a.map((x) => Math.round(Math.max(-120, x) * 10) / 10);
  return JSON.stringify({ s: m.seq, p: r(v.peak), r: r(v.rms), h: r(v.hold), c: v.clip.map(Number) });
}

/**
 * Which log lines a page has not seen: the page shows the last 100 when it loads, then the
 * hub sends what came after (appended, `hx-swap="beforeend"`). After a pause with nobody
 * watching it starts again from the newest line instead of replaying the backlog.
 */
export class LogCursor {
  private seen = '';
  private at = 0;

  fresh(now = performance.now()): string[] {
    const tail = logTail();
    const idle = now - this.at > 2000;
    this.at = now;
    if (!tail.length) return [];
    const i = idle || !this.seen ? tail.length - 1 : tail.lastIndexOf(this.seen);
    this.seen = tail[tail.length - 1]!;
    return tail.slice(i + 1);
  }
}

/** How a device reads in the picker: its description, what it is, mono/stereo (the node.name stays out). */
function deviceWords(d: { description: string; name: string; kind: string; channels: number | null }): string {
  const ch = d.channels === 1 ? 'mono' : d.channels === 2 ? 'stereo' : d.channels ? `${d.channels} channels` : '';
  // PipeWire names a sink's monitor "Monitor of <sink>"; say what it is in words instead.
  const name = d.kind === 'monitor' ? `${(d.description || d.name).replace(/^Monitor of /, '')} (what this box plays)` : d.description || d.name;
  return `${name}${ch ? `, ${ch}` : ''}`;
}

/** The picker's options. Without PipeWire the Input page says so at its top (input-page.ts), not in here. */
export function deviceOptions(ctx: AppContext, devices: Devices): Html {
  const { devices: list } = devices.list();
  const cur = ctx.config.input.device;
  const known = list.some((d) => d.name === cur);
  const def = list.find((d) => d.isDefault);
  return html`<option value="" ${cur === '' ? html`selected` : ''}>The default interface${def ? `: ${deviceWords(def)}` : ''}</option>
${list.map((d) => html`<option value="${d.name}" ${d.name === cur ? html`selected` : ''}>${deviceWords(d)}</option>`)}
${cur && !known ? html`<option value="${cur}" selected>The chosen interface (not connected now)</option>` : ''}`;
}

const INPUT_STATE: Record<string, string> = {
  starting: 'starting',
  running: 'capturing',
  waiting: 'waiting',
  lost: 'unplugged',
  unavailable: 'no audio system',
  closed: 'stopped',
};

/** A network input's words for its states (the link, not a device). */
const FEED_STATE: Record<string, string> = { ...INPUT_STATE, running: 'receiving', waiting: 'waiting for the feed', lost: 'link lost', unavailable: 'cannot open' };

/** Where an SRT input's link is, in words: "from studio.example:9000 (this box calls)", "on port 9000 (the sender calls this box)". */
function srtFeedWords(device: string): string {
  const m = /^srt (\S+):(\d+) (caller|listener)$/.exec(device);
  if (!m) return device.replace(/^srt /, '');
  return m[3] === 'caller' ? `from ${m[1]}:${m[2]} (this box calls)` : `on port ${m[2]} (the sender calls this box)`;
}

/** A network input (input.source srt|rtp): the link, who sends, its buffer, what was lost, where it plays. */
function feedFacts(s: NonNullable<ReturnType<AppContext['pipeline']['stats']>>['source']): Html {
  const st = s.stats;
  const n = (k: string) => (typeof st[k] === 'number' ? (st[k] as number) : 0);
  const srt = typeof st.srt_rttMs === 'number';
  const hold = n('holdMs');
  return html`<dl class="facts" id="feed-facts">
<dt>Feed</dt><dd>${s.kind === 'srt' ? `SRT ${srtFeedWords(s.device)}` : `RTP ${s.device.replace(/^rtp /, '')}`}</dd>
<dt>State</dt><dd><span class="pill ${C.stateClass(s.state)}">${FEED_STATE[s.state] ?? s.state}</span> ${s.state === 'running' ? String(st.linkMessage ?? '') : s.message}</dd>
${st.peer ? html`<dt>From</dt><dd data-peer>${String(st.peer)}</dd>` : ''}
${st.problem ? html`<dt>Problem</dt><dd>${String(st.problem)}</dd>` : ''}
<dt>Buffer</dt><dd data-buffer>${n('playsOnArrival') ? `SRT's latency (${n('srt_latencyMs') || n('bufferMs')} ms), then each packet goes on to the output as it arrives` : html`${n('bufferFillMs')} ms buffered${hold ? ` (target ${hold} ms${hold < n('bufferMs') ? `; up to ${n('bufferMs')} ms after a gap` : ''})` : ` of ${n('bufferMs')} ms`}${n('clockPpm') ? html` <small>(following the sender's clock: ${n('clockPpm')} ppm)</small>` : ''}`}</dd>
<dt>Packets</dt><dd>${n('lost')} lost, ${n('late')} late, ${n('malformed') + n('foreign')} refused${n('concealedFrames') ? `, ${Math.round(n('concealedFrames') / 48)} ms concealed` : ''}${n('underrunFrames') ? `, ${Math.round(n('underrunFrames') / 48)} ms not there in time` : ''}</dd>
${srt ? html`<dt>SRT link</dt><dd>round trip ${n('srt_rttMs')} ms, ${n('srt_pktRcvLoss')} lost and asked again, ${n('srt_pktRcvDrop')} too late, latency ${n('srt_latencyMs')} ms</dd>` : ''}
${st.playback ? html`<dt>Plays on</dt><dd data-playback>${String(st.playbackMessage ?? st.playback)} <small>(${n('playbackFillMs')} ms queued${n('playbackMarginMs') ? `, kept at ${n('playbackMarginMs')} ms or more` : ''}; ${Math.round(n('playbackUnderrunFrames') / 48)} ms ran dry)</small></dd>` : ''}
</dl>`;
}

/** What is captured, named as people know it ("Scarlett 2i2 USB"), its state and why. */
export function inputStatus(ctx: AppContext, devices?: Devices): Html {
  const s = ctx.pipeline.stats()?.source;
  if (s && (s.kind === 'srt' || s.kind === 'rtp')) return feedFacts(s);
  const node = s?.device ?? ctx.config.input.device;
  const known = node ? devices?.list().devices.find((d) => d.name === node) : undefined;
  const name = s?.kind === 'tone' ? 'Test tone' : known?.description || node || 'none yet';
  return html`<dl class="facts">
<dt>Device</dt><dd data-device="${node}">${name}${known && known.description !== node ? html` <small>${node}</small>` : ''}</dd>
<dt>State</dt><dd><span class="pill ${C.stateClass(s?.state ?? 'starting')}">${INPUT_STATE[s?.state ?? 'starting'] ?? s?.state}</span> ${s && s.state !== 'running' ? s.message : ''}</dd>
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
<dt>Name on the network</dt><dd id="mdns-name">${i.mdns_name}${i.mdns_name.split('.')[0] !== i.hostname.toLowerCase().split('.')[0] ? html` <small>(another device on the network has ${i.hostname.toLowerCase().split('.')[0]}.local, so the box answers to this name)</small>` : ''}</dd>
<dt>Addresses</dt><dd>${i.addresses.length ? i.addresses.map((a) => html`${a}<br>`) : 'none'}</dd>
<dt>Uptime</dt><dd>${dur(i.uptime_s)} (hark ${dur(i.hark_uptime_s)})</dd>
<dt>CPU temperature</dt><dd>${i.cpu_temp_c === null ? 'n/a' : `${i.cpu_temp_c} °C`}</dd>
<dt>Load</dt><dd>${i.load.join(' · ')}</dd>
<dt>Disk</dt><dd>${i.disk ? html`${T.spaceText(i.disk.free_mb * 1048576)} free of ${T.spaceText(i.disk.total_mb * 1048576)}` : 'n/a'}</dd>
<dt>Time</dt><dd>${T.clock(Date.now())} <small>(${systemControl().timezone()})</small></dd>
<dt>Version</dt><dd>hark ${i.version}, Bun ${i.bun}</dd>
</dl>`;
}

export function logLines(lines: readonly string[]): Html {
  return html`${lines.map((l) => html`<div class="line ${/ (error|warn) /.exec(l)?.[1] ?? ''}">${l}</div>`)}`;
}

/** The clock schedules wait for, their zone, what comes next, and VOX (the Schedule and System pages). */
export function clockPanel(ctx: AppContext): Html {
  const s = ctx.plane.automation.status();
  const nowText = new Intl.DateTimeFormat('en-GB', { timeZone: s.zone, weekday: 'long', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(Date.now());
  return clockPanelView({ ...s, entries: ctx.config.schedule.length, nowText, voxAction: ctx.config.vox.action });
}

/** Free space as people say it: "78 GB free". */
const free = (mb: number | null) => (mb === null ? 'unknown' : `${T.spaceText(mb * 1048576)} free`);

/** The recorder now: this recording's length and size, and the room left (updates twice a second). */
export function recorderStatus(ctx: AppContext): Html {
  const r = ctx.broadcast.recorder.status();
  const on = r.state === 'recording' && r.file;
  return html`<dl class="facts">
${on ? html`<dt>This recording</dt><dd><span class="rec-timer">${T.timer(r.file_duration_s ?? 0)}</span>, ${T.size(r.file_bytes)}</dd>` : ''}
<dt>Space</dt><dd>${free(r.free_mb)} <small>(recording stops below ${T.spaceText(r.min_free_mb * 1048576)})</small></dd>
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
  } else if (enabled && r.state === 'retrying') {
    line = html`<b class="err">Recording failed:</b> ${r.last_error ?? ''} It tries again by itself.`;
    button = btn(true, 'Try again now', 'rec');
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
  if (!list.length) return html`<p class="empty">No recordings yet.</p>${clipsList(ctx)}`;
  const now = Date.now();
  // By day (the box's time zone), newest first: one heading per day.
  const days: { day: string; recs: typeof list }[] = [];
  for (const r of list) {
    const d = T.day(Date.parse(r.started_at), now);
    if (days.at(-1)?.day !== d) days.push({ day: d, recs: [] });
    days.at(-1)!.recs.push(r);
  }
  const item = (r: (typeof list)[number]) => {
    const start = Date.parse(r.started_at);
    const title = r.active ? `${T.day(start, now)}, from ${T.clock(start)}` : T.span(start, Math.max(start, Date.parse(r.modified_at)), now);
    const url = `/api/recordings/${encodeURIComponent(r.name)}`;
    return html`<li class="recording" data-name="${r.name}">
  <p class="rec-title"><b><time datetime="${r.started_at}">${title}</time></b>${r.active ? html` <span class="pill ok">recording now</span>` : ''}</p>
  <p class="rec-meta">${r.active ? '' : html`<span class="rec-duration">${r.duration_s === null ? 'length unknown' : T.duration(r.duration_s)}</span> · ${T.size(r.bytes)} · `}${r.name.endsWith('.mp3') ? 'MP3' : 'Ogg Opus'}</p>
  <audio id="${playId(r.name)}" controls preload="none" src="${url}?play=1" aria-label="Play the recording of ${title}"></audio>
  ${r.marks.length ? html`<details class="rec-marks"${r.active ? '' : html` open`}><summary>${r.marks.length === 1 ? '1 marked moment' : `${r.marks.length} marked moments`}</summary><ol>${r.marks.map(
    (m) => html`<li><button type="button" class="link seek" data-player="${playId(r.name)}" data-seek="${m.offset_s}" aria-label="Play from ${T.timer(m.offset_s)}${m.label ? `: ${m.label}` : ''}"><span class="mark-at">${T.timer(m.offset_s)}</span> ${m.label || html`<span class="muted">(no note)</span>`}</button></li>`,
  )}</ol></details>` : ''}
  <p class="row rec-actions"><a class="button-link" href="${url}" download="hark ${T.fileStamp(start)}${r.name.slice(r.name.lastIndexOf('.'))}">Download</a>${
    r.cue ? html`<a class="button-link rec-cue" href="/api/recordings/${encodeURIComponent(r.cue)}" download="${r.cue}" title="The marked moments as a CUE sheet: keep it in the same folder as the recording">Marks (CUE)</a>` : ''
  }${
    r.active ? '' : html`<button type="button" class="link danger" hx-delete="/ui/recordings/${encodeURIComponent(r.name)}" hx-target="#recordings-list" hx-swap="innerHTML" hx-confirm="Delete the recording of ${title}? This cannot be undone.">Delete</button>`
  }</p>
</li>`;
  };
  const items = html`${days.map((g, i) => html`<h3 class="rec-day" id="rec-day-${i}">${g.day}</h3><ul class="recordings" aria-labelledby="rec-day-${i}">${g.recs.map(item)}</ul>`)}${clipsList(ctx)}`;
  // admin.js skips an SSE update whose signature the list already has (the resend on every
  // (re)connect), so a player that is playing is not replaced by an identical one.
  return html`<div class="rec-days" data-sig="${Bun.hash(items.value).toString(36)}">${items}</div>`;
}

/** The clips of silence or a lost input (15 s before and after), newest first, to play or download. */
function clipsList(ctx: AppContext): Html {
  const clips = ctx.broadcast.clips?.list() ?? [];
  if (!clips.length) return html``;
  const what = (name: string) => (name.startsWith('silence-') ? 'Silence' : name.startsWith('input-lost-') ? 'Input lost' : 'Alert');
  return html`<h3 class="rec-day" id="rec-clips-h">When the sound stopped</h3>
<p class="help">The 15 seconds before and after, kept for each alert.</p>
<ul class="recordings rec-clips" aria-labelledby="rec-clips-h">${clips.map((c) => {
    const at = Date.parse(c.since ?? c.modified_at);
    const url = `/api/clips/${encodeURIComponent(c.name)}`;
    return html`<li class="recording rec-clip" data-name="${c.name}"><p class="rec-title"><b>${what(c.name)}</b>, <time datetime="${new Date(at).toISOString()}">${T.day(at, now())}, ${T.clock(at)}</time>${c.active ? html` <span class="pill">still recording</span>` : ''}</p>
  <audio id="${playId(c.name)}" controls preload="none" src="${url}?play=1" aria-label="Play the clip: ${what(c.name)}"></audio>
  <p class="row rec-actions"><a class="button-link" href="${url}" download="${c.name}">Download</a></p></li>`;
  })}</ul>`;
}

const now = () => Date.now();

// ---- the registry ----------------------------------------------------------------------

/** What every widget renders from: the daemon, the device list and the hub's shared state. */
export interface WidgetEnv {
  ctx: AppContext;
  devices: Devices;
  meter: MeterState;
  log: LogCursor;
}

/** The admin pages with a live connection (`/events?page=…`). */
export const PAGES = ['dashboard', 'input', 'programs', 'outputs', 'listeners', 'recordings', 'schedule', 'system'] as const;
export type PageName = (typeof PAGES)[number];

export interface Widget {
  /** The pages that show it (their SSE connection carries its event). */
  pages: readonly PageName[];
  /** The element the rendering goes in (it gets `id` and `sse-swap`); null: the rendering is its own element. */
  slot: { id: string; tag?: string; attrs?: string } | null;
  /** The widget's HTML: the page, the fragment and the SSE event all use this. */
  render(env: WidgetEnv): Html;
  /** Bus events after which it is re-rendered and sent at once (if it changed): how state reaches the page. */
  on?: readonly HarkEvent['type'][];
  /**
   * Only for what a clock changes (a counter that grows with the audio, uptime, the meters'
   * frames): re-rendered this often while a page shows it, and sent if it changed. State
   * changes come by `on`, never by this.
   */
  everyMs?: number;
  /** Why this widget has a timer (required with `everyMs`; widgets.test.ts checks it). */
  clock?: string;
  /** Widgets that read what this one shows: re-rendered (and sent if changed) when this one changed. */
  also?: readonly string[];
  /**
   * A stream instead: every `everyMs` the hub sends this text (null: nothing this time) as the
   * event, to every page that shows it, and a slow page skips frames. Not sent on connect.
   */
  frame?(env: WidgetEnv): string | null;
  /** The frame's event name, when it differs from the widget's (the meters' numbers: `levels`). */
  frameEvent?: string;
  /**
   * Sent again now and then even when unchanged: it patches (out of band) what a form's
   * response also renders, and that response may be swapped in after a newer update.
   */
  resync?: boolean;
}

const ALL = PAGES;

export const WIDGETS = {
  'state-badge': { pages: ALL, slot: { id: 'state-badge', tag: 'span' }, render: ({ ctx }) => stateBadge(ctx), on: ['state', 'metadata', 'alert', 'output', 'config'] },
  alerts: { pages: ALL, slot: { id: 'alerts' }, render: ({ ctx }) => alerts(ctx), on: ['alert', 'config'] },
  state: { pages: ['dashboard'], slot: null, render: ({ ctx }) => statePanel(ctx), on: ['state', 'metadata'] },
  meters: {
    pages: ['dashboard', 'input'],
    slot: { id: 'meters' },
    render: ({ meter }) => meters(meter),
    // The levels are read ~15 times a second from the worker's shared memory: a frame stream.
    everyMs: 66,
    clock: 'levels move with the audio',
    frame: ({ ctx, meter }) => {
      meter.update(ctx.pipeline.currentLevels());
      return meterFrame(meter);
    },
    frameEvent: 'levels',
  },
  // [[program]]: each program's levels before and after its sound settings (numbers, as the
  // meters'; nothing is sent without programs), the dashboard's panel of them, and on the
  // Programs page each card's live part (mute, listeners, outputs), swapped in out of band.
  'program-levels': {
    pages: ['dashboard', 'programs'],
    slot: null,
    render: () => html``,
    everyMs: 100,
    clock: "each program's levels move with the audio, read from the worker's shared memory",
    frame: ({ ctx }) => programLevelsFrame(ctx),
  },
  'program-meters': { pages: ['dashboard'], slot: { id: 'program-meters' }, render: ({ ctx }) => dashboardPrograms(ctx), on: ['program', 'config'] },
  programs: { pages: ['programs'], slot: null, render: ({ ctx }) => programsLive(ctx), on: ['program', 'config', 'listeners', 'output', 'input'] },
  // Each output's state on its event; the byte counts (the recording's size, free space) grow with the audio.
  outputs: { pages: ['dashboard', 'outputs'], slot: { id: 'outputs' }, render: ({ ctx }) => outputs(ctx), on: ['state', 'metadata', 'output', 'listeners', 'config'], everyMs: 1000, clock: 'bytes written and free space grow with the audio' },
  listeners: { pages: ['listeners'], slot: { id: 'listener-count', tag: 'p', attrs: 'class="listeners big-number"' }, render: ({ ctx }) => listeners(ctx), on: ['listeners'] },
  // The dashboard's "are we on air?": the failing-output alert, the summary (timers tick in
  // dashboard.js from start times; the MB sent grow with the audio), the title line.
  'on-air-alert': { pages: ['dashboard'], slot: { id: 'on-air-alert' }, render: ({ ctx }) => onAirAlert(ctx), on: ['state', 'alert', 'output', 'config'] },
  'on-air': { pages: ['dashboard'], slot: { id: 'on-air-summary' }, render: ({ ctx }) => onAir(ctx), on: ['state', 'metadata', 'output', 'listeners', 'config'], everyMs: 1000, clock: 'the MB sent and recorded grow with the audio' },
  'title-now': { pages: ['dashboard'], slot: null, render: ({ ctx }) => titleNow(ctx), on: ['metadata'] },
  // [fallback]: what plays instead of the input, and why; the seconds of silence count up.
  fallback: { pages: ['dashboard'], slot: { id: 'fallback' }, render: ({ ctx }) => fallbackPanel(ctx), on: ['alert', 'config'], everyMs: 1000, clock: 'the seconds of silence and until the input takes over count up' },
  // Record / Stop recording, on the dashboard and the Recordings page.
  record: { pages: ['dashboard', 'recordings'], slot: { id: 'record-control', attrs: 'class="record-control"' }, render: ({ ctx }) => recordControl(ctx), on: ['state', 'output', 'config'] },
  // The entry lists' states on Outputs: out-of-band swaps into each entry (the section renders its own hidden slot).
  // Out-of-band patches of what the Save/Test responses also render: such a response, rendered
  // before a change, can be swapped in after the change's update arrived; re-sent now and then.
  'icecast-entries': { pages: ['outputs'], slot: null, render: ({ ctx }) => entryStatesUpdate(ctx, 'icecast'), on: ['state', 'output', 'config'], everyMs: 1500, resync: true, clock: 'heals an entry a late form response showed stale' },
  'whip-entries': { pages: ['outputs'], slot: null, render: ({ ctx }) => entryStatesUpdate(ctx, 'whip'), on: ['state', 'output', 'config'], everyMs: 1500, resync: true, clock: 'heals an entry a late form response showed stale' },
  // An SRT link's numbers (round trip, losses, what waits to go out, the rate) change with every packet.
  'srt-entries': { pages: ['outputs'], slot: null, render: ({ ctx }) => entryStatesUpdate(ctx, 'srt'), on: ['state', 'output', 'config'], everyMs: 1500, resync: true, clock: "heals an entry a late form response showed stale; a live link's round trip, losses and rate change with every packet" },
  'rtp-entries': { pages: ['outputs'], slot: null, render: ({ ctx }) => entryStatesUpdate(ctx, 'rtp'), on: ['state', 'output', 'config'], everyMs: 1500, resync: true, clock: 'heals an entry a late form response showed stale' },
  'listener-table': {
    pages: ['listeners'],
    slot: { id: 'listener-table' },
    render: ({ ctx }) => listenerTable(ctx),
    on: ['listeners'],
    everyMs: 1000,
    clock: 'each row counts its bytes, time listening and connection quality (RTT, loss) as it goes',
  },
  // PipeWire's registry runs on its own C thread and only bumps a counter in memory (no callback
  // into JS is safe there): the picker compares it (a list re-read only when it moved).
  devices: {
    pages: ['input'],
    slot: { id: 'device', tag: 'select', attrs: 'name="device" hx-target="this"' },
    render: ({ ctx, devices }) => deviceOptions(ctx, devices),
    on: ['input', 'config'],
    everyMs: 500,
    clock: "PipeWire's device registry changes on its own thread, seen through a counter",
    // The input's status names the device as the registry describes it.
    also: ['input-status'],
  },
  'input-status': {
    pages: ['input'],
    slot: { id: 'input-status' },
    render: ({ ctx, devices }) => inputStatus(ctx, devices),
    on: ['input', 'config'],
    everyMs: 1000,
    clock: "a network feed's buffer, packets, round trip and playback queue change with every packet",
  },
  recorder: { pages: ['recordings'], slot: { id: 'recorder' }, render: ({ ctx }) => recorderStatus(ctx), on: ['state', 'output', 'config'], everyMs: 1000, clock: "this recording's length and size, and the free space, grow with the audio" },
  recordings: {
    pages: ['recordings'],
    slot: { id: 'recordings-list' },
    render: ({ ctx }) => recordingsList(ctx),
    on: ['state', 'output', 'mark', 'config'],
    everyMs: 2000,
    clock: 'files come and go on disk without a state change (a rotation to the next file, a delete through the API)',
  },
  // Each notifier's last delivery: its owner (src/notify) publishes `notify` when one changes.
  notifiers: { pages: ['system'], slot: { id: 'notify-list' }, render: ({ ctx }) => notifierList(ctx.notify.statuses(), (iso) => T.when(iso), ctx.config.notify, (i) => entryButtons('notify', i)), on: ['notify', 'config'] },
  clock: {
    pages: ['schedule', 'system'],
    slot: { id: 'clock-panel', tag: 'section', attrs: 'class="panel"' },
    render: ({ ctx }) => clockPanel(ctx),
    on: ['config', 'state', 'output'],
    everyMs: 5000,
    clock: 'the clock gets synchronised, and the time of day moves, without an event',
  },
  sysinfo: { pages: ['system'], slot: { id: 'sysinfo' }, render: ({ ctx }) => sysinfo(ctx), everyMs: 2000, clock: 'uptime, load, temperature and the time of day' },
  log: {
    pages: ['system'],
    slot: { id: 'log', attrs: 'class="log" hx-swap="beforeend" role="log" tabindex="0" aria-label="Log, newest last"' },
    render: () => logLines(logTail().slice(-100)),
    everyMs: 500,
    clock: 'new log lines are gathered and sent together, not one event per line',
    frame: ({ log }) => {
      const fresh = log.fresh();
      return fresh.length ? logLines(fresh).value : null;
    },
  },
} satisfies Record<string, Widget>;

export type WidgetName = keyof typeof WIDGETS;

/** The widget's element on a full page: its rendering inside its slot (id, `sse-swap`). */
export function slot(env: WidgetEnv, name: WidgetName): Html {
  const w: Widget = WIDGETS[name];
  const inner = w.render(env);
  if (!w.slot) return inner;
  const tag = w.slot.tag ?? 'div';
  return html`<${raw(tag)} id="${w.slot.id}" sse-swap="${name}"${w.slot.attrs ? raw(` ${w.slot.attrs}`) : ''}>${inner}</${raw(tag)}>`;
}

/** The widgets that read the daemon only: the header's (every page's layout), and the notifiers' list (its form fragments). */
export function layoutSlot(ctx: AppContext, name: 'state-badge' | 'alerts' | 'notifiers'): Html {
  return slot({ ctx } as WidgetEnv, name);
}

/** The names of the widgets a page shows, in registry order. */
export function widgetsOf(page: string): WidgetName[] {
  return (Object.keys(WIDGETS) as WidgetName[]).filter((n) => (WIDGETS[n].pages as readonly string[]).includes(page));
}
