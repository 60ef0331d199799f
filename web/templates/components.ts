/**
 * The admin page's widgets. Each renders one self-contained piece; the full pages include the
 * same functions the htmx fragments and the SSE events return, so page and fragment share
 * one piece of code. Values reach markup only through `html` (escaped).
 */
import { TypeGuard, type TSchema } from '@sinclair/typebox';
import type { RunState } from '../../src/control/events.ts';
import { html, raw, attr, type Html } from './html.ts';

// ---- state and controls ----------------------------------------------------------------

const STATE_LABEL: Record<RunState, string> = { idle: 'Idle', live: 'Live', muted: 'Muted' };

/** The small badge in every page's header. */
export function stateBadge(state: RunState): Html {
  return html`<span class="badge state-${state}" data-state="${state}">${STATE_LABEL[state]}</span>`;
}

/** The dashboard's big panel: the state and the Go live / Stop / Mute buttons. */
export function statePanel(s: { state: RunState; live: boolean; muted: boolean; title: string }, message = ''): Html {
  const btn = (action: string, label: string, cls: string, disabled = false) =>
    html`<button type="button" class="big ${cls}" hx-post="/ui/action/${action}" ${attr('disabled', disabled)}>${label}</button>`;
  return html`<section id="state-panel" class="panel state-panel state-${s.state}" sse-swap="state" hx-target="this" hx-swap="outerHTML">
  <div class="state-line"><span class="state-word" data-state="${s.state}">${STATE_LABEL[s.state]}</span>
    ${s.title ? html`<span class="now-title" title="Title">♪ ${s.title}</span>` : ''}</div>
  <div class="buttons">
    ${s.live ? btn('stop', 'Stop', 'stop') : btn('go_live', 'Go live', 'go')}
    ${s.muted ? btn('unmute', 'Unmute', 'unmute') : btn('mute', 'Mute', 'mute')}
  </div>
  ${message ? html`<p class="msg" role="status">${message}</p>` : ''}
</section>`;
}

// ---- meters ----------------------------------------------------------------------------

export const METER_FLOOR_DB = -60;
const pct = (db: number) => Math.max(0, Math.min(100, ((db - METER_FLOOR_DB) / -METER_FLOOR_DB) * 100));

export interface MeterView {
  peak: number[];
  rms: number[];
  hold: number[];
  clip: boolean[];
}

const CHANNEL_NAMES = ['L', 'R', '3', '4', '5', '6', '7', '8'];

/** L/R bars: RMS (solid), peak (light), peak hold (a line), and the clip light. */
export function meters(v: MeterView, seq = 0): Html {
  const names = v.peak.length === 1 ? ['M'] : CHANNEL_NAMES;
  return html`<div class="meters" data-seq="${seq}">${v.peak.map(
    (p, c) => html`<div class="meter" data-ch="${c}" data-peak="${p.toFixed(1)}">
  <span class="ch">${names[c] ?? String(c + 1)}</span>
  <div class="track"><div class="bar peak" style="width:${pct(p).toFixed(1)}%"></div><div class="bar rms" style="width:${pct(v.rms[c]!).toFixed(1)}%"></div><div class="hold" style="left:${pct(v.hold[c]!).toFixed(1)}%"></div></div>
  <span class="db">${p <= -119 ? '−∞' : p.toFixed(1)}</span><span class="clip${v.clip[c] ? ' on' : ''}" title="Clip">CLIP</span>
</div>`,
  )}</div>`;
}

// ---- outputs and listeners -------------------------------------------------------------

export interface OutputRow {
  kind: string;
  id: string;
  state: string;
  detail: string;
  extra?: string;
}

const GOOD = new Set(['live', 'streaming', 'recording', 'running', 'connected', 'idle']);
const BAD = new Set(['auth_failed', 'mount_in_use', 'failed', 'disk_full', 'unavailable', 'error']);

export function stateClass(state: string): string {
  return GOOD.has(state) ? 'ok' : BAD.has(state) ? 'bad' : state === 'stopped' || state === 'disabled' ? 'off' : 'warn';
}

/** Every output with its state, one row each. */
export function outputsTable(rows: OutputRow[]): Html {
  return html`<table class="outputs"><thead><tr><th>Output</th><th>State</th><th>Detail</th></tr></thead><tbody>${rows.map(
    (r) => html`<tr data-output="${r.kind}:${r.id}"><td>${r.kind}${r.id ? html` <b>${r.id}</b>` : ''}</td><td><span class="pill ${stateClass(r.state)}">${r.state.replaceAll('_', ' ')}</span></td><td class="detail">${r.detail}${r.extra ? html` <small>${r.extra}</small>` : ''}</td></tr>`,
  )}</tbody></table>`;
}

export function listenerCount(n: number): Html {
  return html`<span class="count" data-listeners="${n}">${n}</span> <span>${n === 1 ? 'listener' : 'listeners'}</span>`;
}

export interface ListenerRow {
  via: string;
  id: string;
  remote: string;
  since: string;
  agent: string;
  detail: string;
  /** "Pixel phone, Chrome" */
  who: string;
  /** "Listen page", "MP3 stream" */
  how: string;
  /** "listening 12 min" */
  listening: string;
  /** "good connection", "" when not known */
  quality: string;
  qualityClass: string;
  /** Codec and transport, for the details fold. */
  tech: string;
  /** "10:32" or "Sun 2 Dec, 10:32" in the box's zone (the page fills it in). */
  sinceText?: Html;
}

/** Who is listening, one line each a person reads: "Pixel phone, Chrome — listening 12 min — good connection". */
export function listenersTable(rows: ListenerRow[]): Html {
  if (!rows.length) return html`<p class="empty">Nobody is listening.</p>`;
  return html`<ul class="people">${rows.map(
    (r) => html`<li class="person" data-listener="${r.id}">
  <p class="who"><b>${r.who}</b> — ${r.listening}${r.quality ? html` — <span class="quality ${r.qualityClass}">${r.quality}</span>` : ''}</p>
  <p class="how"><small>${r.how}${r.sinceText ? html` · since ${r.sinceText}` : ''}</small></p>
  <details><summary>Technical details</summary><dl class="facts"><dt>Connection</dt><dd>${r.tech}</dd><dt>Address</dt><dd>${r.remote}</dd><dt>Player</dt><dd>${r.agent || '(none sent)'}</dd></dl></details>
</li>`,
  )}</ul>`;
}

export function alerts(list: { id: string; severity: string; message: string; since: string }[], configRefusal?: string | null): Html {
  return html`${list.map((a) => html`<div class="alert ${a.severity}" role="alert"><b>${a.id}</b>: ${a.message}</div>`)}${
    configRefusal ? html`<div class="alert critical" role="alert"><b>config</b>: a hand edit was refused, the running config stays: ${configRefusal}</div>` : ''
  }`;
}

// ---- forms from the schema -------------------------------------------------------------

const SECRET_KEYS = /password|token|credential/;

/** One form field rendered from its schema: type, limits, choices and help text. */
export function field(name: string, schema: TSchema, value: unknown, error?: string, opts: { label?: string; keepSecret?: boolean } = {}): Html {
  const id = `f-${name.replace(/[^\w-]/g, '-')}`;
  const label = opts.label ?? name.replaceAll('_', ' ');
  const help = schema.description as string | undefined;
  const err = error ? html`<span class="err" id="${id}-err" role="alert">${error}</span>` : '';
  const described = error ? `${id}-err` : `${id}-help`;
  let control: Html;
  if (TypeGuard.IsBoolean(schema)) {
    control = html`<input type="hidden" name="${name}" value="false"><input type="checkbox" id="${id}" name="${name}" value="true" ${attr('checked', value === true)} aria-describedby="${described}">`;
  } else if (TypeGuard.IsUnion(schema) && schema.anyOf.every((s) => TypeGuard.IsLiteral(s))) {
    control = html`<select id="${id}" name="${name}" aria-describedby="${described}">${schema.anyOf.map((s) => {
      const v = (s as { const: unknown }).const;
      return html`<option value="${String(v)}" ${attr('selected', v === value)}>${String(v)}</option>`;
    })}</select>`;
  } else if (TypeGuard.IsInteger(schema) || TypeGuard.IsNumber(schema)) {
    control = html`<input type="number" id="${id}" name="${name}" value="${value === undefined ? '' : String(value)}" ${
      schema.minimum !== undefined ? raw(`min="${schema.minimum}"`) : ''
    } ${schema.maximum !== undefined ? raw(`max="${schema.maximum}"`) : ''} step="${TypeGuard.IsInteger(schema) ? '1' : 'any'}" inputmode="decimal" aria-invalid="${error ? 'true' : 'false'}" aria-describedby="${described}">`;
  } else if (TypeGuard.IsArray(schema)) {
    const list = Array.isArray(value) ? value.join(', ') : '';
    control = html`<input type="text" id="${id}" name="${name}" value="${list}" aria-invalid="${error ? 'true' : 'false'}" aria-describedby="${described}" placeholder="comma-separated">`;
  } else {
    const secret = SECRET_KEYS.test(name);
    const v = secret && opts.keepSecret && value ? '' : value === undefined ? '' : String(value);
    control = html`<input type="${secret ? 'password' : 'text'}" id="${id}" name="${name}" value="${v}" ${
      secret && opts.keepSecret && value ? raw('placeholder="(unchanged)"') : ''
    } autocomplete="${secret ? 'new-password' : 'off'}" ${schema.maxLength ? raw(`maxlength="${Number(schema.maxLength)}"`) : ''} aria-invalid="${error ? 'true' : 'false'}" aria-describedby="${described}">`;
  }
  const checkbox = TypeGuard.IsBoolean(schema);
  return html`<div class="field${error ? ' invalid' : ''}${checkbox ? ' check' : ''}" data-field="${name}">
  <label for="${id}">${label}</label>${control}${err}${help ? html`<small id="${id}-help">${help}</small>` : ''}
</div>`;
}

/** Fields for every key of an object schema (arrays of tables are left to `hark config edit`). */
export function fieldsFor(schema: TSchema, value: Record<string, unknown>, errors: Record<string, string>, opts: { only?: string[]; skip?: string[]; keepSecrets?: boolean } = {}): Html {
  if (!TypeGuard.IsObject(schema)) return html``;
  const keys = Object.keys(schema.properties).filter((k) => (!opts.only || opts.only.includes(k)) && !opts.skip?.includes(k));
  return html`${keys.map((k) => {
    const s = schema.properties[k]!;
    if (TypeGuard.IsArray(s) && TypeGuard.IsObject(s.items)) return '';
    return field(k, s, value[k], errors[k], { keepSecret: opts.keepSecrets });
  })}`;
}

/** The notice after a save: what applied, what waits for a restart, or the error. */
export function saveNotice(r: { ok: boolean; message?: string; restart?: string[]; preserved?: boolean }): Html {
  if (!r.ok) return html`<p class="notice bad" role="alert">${r.message ?? 'Not saved.'}</p>`;
  return html`<p class="notice ok" role="status">${r.message ?? 'Saved.'}${
    r.restart?.length
      ? html` <span>Takes effect after a restart: ${r.restart.join(', ')}. <button type="button" class="link" hx-post="/ui/restart" hx-target="closest .notice" hx-swap="outerHTML" hx-confirm="Restart hark now? Listeners reconnect.">Restart now</button></span>`
      : ''
  }</p>`;
}
