/**
 * The admin page's widgets. Each renders one self-contained piece; the full pages include the
 * same functions the htmx fragments and the SSE events return, so page and fragment share
 * one piece of code. Values reach markup only through `html` (escaped).
 */
import { TypeGuard, type TSchema } from '@sinclair/typebox';
import type { RunState } from '../../src/control/events.ts';
import type { MeterView } from '../../src/audio/meter.ts';
import { html, raw, attr, type Html } from './html.ts';

// ---- state and controls ----------------------------------------------------------------

const STATE_LABEL: Record<RunState, string> = { idle: 'Off air', live: 'Live', muted: 'Muted' };

/** The small badge in every page's header; amber, "Live — 1 problem", while a destination fails. */
export function stateBadge(state: RunState, problems = 0): Html {
  if (problems && state !== 'idle')
    return html`<a href="/#on-air" class="badge state-${state} problems" data-state="${state}" data-problems="${problems}">${STATE_LABEL[state]} — ${problems} ${problems === 1 ? 'problem' : 'problems'}</a>`;
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

/**
 * The meter scale (dBFS → % of the track), IEC 60268-18 style: the top 20 dB take half the
 * track, where the level matters. The bars, the peak hold, the scale labels and the colour
 * zones are all placed by this one function; admin.js has the same table (`METER_SCALE`) for
 * the live updates — change both together.
 */
export const METER_FLOOR_DB = -60;
export const METER_SCALE: readonly (readonly [number, number])[] = [
  [-60, 0],
  [-50, 5],
  [-40, 13],
  [-30, 28],
  [-20, 50],
  [0, 100],
];
export function meterPct(db: number): number {
  if (!(db > METER_SCALE[0]![0])) return 0;
  for (let i = 1; i < METER_SCALE.length; i++) {
    const [d1, p1] = METER_SCALE[i]!;
    if (db <= d1) {
      const [d0, p0] = METER_SCALE[i - 1]!;
      return p0 + ((db - d0) / (d1 - d0)) * (p1 - p0);
    }
  }
  return 100;
}
/** Level zones: green below −18 dBFS, amber to −6, red above (the track's colours). */
export const METER_ZONES = { amber: -18, red: -6 } as const;
const SCALE_LABELS = [-40, -30, -18, -12, -6, 0];
/** Labels a narrow meter shows as a tick only (they would touch their neighbours on a phone). */
const MINOR_LABELS = [-30, -18, -6];

export type { MeterView };

const CHANNEL_NAMES = ['L', 'R', '3', '4', '5', '6', '7', '8'];
const CHANNEL_WORDS = ['Left', 'Right'];
const f1 = (n: number) => n.toFixed(1);
const dbText = (db: number) => (db <= -119 ? '−∞' : f1(db).replace('-', '−'));

/**
 * L/R bars over a dB scale: RMS (solid), peak (light), peak hold (a line), and the clip lamp.
 * Each track is a `role="meter"`; the lamp is hidden from screen readers until it lights.
 * The live updates (`levels` events, numbers) are applied to this markup by admin.js.
 */
export function meters(v: MeterView, seq = 0): Html {
  const names = v.peak.length === 1 ? ['M'] : CHANNEL_NAMES;
  const words = v.peak.length === 1 ? ['Mono'] : CHANNEL_WORDS;
  // No style attributes (the Content-Security-Policy refuses them): admin.js sets widths,
  // positions and the zone edges from these data attributes through the CSSOM.
  return html`<div class="meters" data-seq="${seq}" data-z-amber="${f1(meterPct(METER_ZONES.amber))}" data-z-red="${f1(meterPct(METER_ZONES.red))}">${v.peak.map((p, c) => {
    const word = `${words[c] ?? `Channel ${c + 1}`} channel`;
    const now = Math.max(METER_FLOOR_DB, Math.min(0, p));
    return html`<div class="meter" data-ch="${c}" data-peak="${f1(p)}">
  <span class="ch" aria-hidden="true">${names[c] ?? String(c + 1)}</span>
  <div class="track" role="meter" aria-label="${word} level" aria-valuemin="${METER_FLOOR_DB}" aria-valuemax="0" aria-valuenow="${f1(now)}" aria-valuetext="${p <= -119 ? 'silence' : `${dbText(p)} dB${v.clip[c] ? ', clipping' : ''}`}"><div class="bar peak" data-w="${f1(meterPct(p))}"></div><div class="bar rms" data-w="${f1(meterPct(v.rms[c]!))}"></div><div class="hold" data-x="${f1(meterPct(v.hold[c]!))}"></div></div>
  <span class="db" aria-hidden="true">${dbText(p)}</span>${clipLamp(word, v.clip[c] ?? false)}
</div>`;
  })}<div class="meter scale-row" aria-hidden="true"><span></span><div class="scale">${SCALE_LABELS.map(
    (d) => html`<span data-x="${f1(meterPct(d))}" data-db="${d}"${MINOR_LABELS.includes(d) ? html` class="minor"` : ''}>${d === 0 ? '0' : `−${-d}`}</span>`,
  )}</div><span class="unit">dBFS</span><span></span></div></div>`;
}

/** The clip lamp: clearly off (outlined, hidden from screen readers) or lit (announced). */
export function clipLamp(word: string, on: boolean): Html {
  return on ? html`<span class="clip on" role="img" aria-label="${word} clipping">CLIP</span>` : html`<span class="clip" aria-hidden="true">CLIP</span>`;
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
  /** Where an admin DELETEs to end this listener (WebRTC sessions); none for MP3 listeners. */
  disconnect?: string;
}

/** Who is listening, one line each a person reads: "Pixel phone, Chrome — listening 12 min — good connection". */
export function listenersTable(rows: ListenerRow[]): Html {
  if (!rows.length) return html`<p class="empty">Nobody is listening.</p>`;
  return html`<ul class="people">${rows.map(
    (r) => html`<li class="person" data-listener="${r.id}">
  <p class="who"><b>${r.who}</b> — ${r.listening}${r.quality ? html` — <span class="quality ${r.qualityClass}">${r.quality}</span>` : ''}</p>
  <p class="how"><small>${r.how}${r.sinceText ? html` · since ${r.sinceText}` : ''}</small></p>${
    r.disconnect
      ? html`
  <button type="button" class="link danger" hx-delete="${r.disconnect}" hx-swap="none" hx-confirm="Disconnect ${r.who}? They can press Play again to come back.">Disconnect</button>`
      : ''
  }
  <details><summary>Technical details</summary><dl class="facts"><dt>Connection</dt><dd>${r.tech}</dd><dt>Address</dt><dd>${r.remote}</dd><dt>Player</dt><dd>${r.agent || '(none sent)'}</dd></dl></details>
</li>`,
  )}</ul>`;
}

export function alerts(list: { id: string; severity: string; message: string; since: string }[], configRefusal?: string | null): Html {
  // Each alert is one plain sentence: its message says what happened (the id is for logs and the API).
  return html`${list.map((a) => html`<div class="alert ${a.severity}" role="alert" data-alert="${a.id}">${a.message}</div>`)}${
    configRefusal ? html`<div class="alert critical" role="alert" data-alert="config">A change to the configuration file was refused, so the running settings stay: ${configRefusal}</div>` : ''
  }`;
}

// ---- forms from the schema -------------------------------------------------------------

const SECRET_KEYS = /password|token|credential|passphrase/;
/** Secrets never sent back to the page, not even one just typed into a refused form (it is typed again). */
const NEVER_ECHO = /passphrase/;

/** How one field reads on the page (src/http/admin/labels.ts holds them per schema key). */
export interface FieldText {
  label: string;
  help?: string;
  /** Under the form's "Advanced" fold. */
  advanced?: boolean;
  /** A select instead of a text/number box: [value, words] (a current value not listed is kept). */
  choices?: readonly (readonly [string | number, string])[];
  /**
   * Help that depends on another field's choice (the notifier's address per type): each text is
   * shown while `field` has that value (admin.css, by :has()), before `help`; a browser without
   * :has() shows them all.
   */
  helpWhen?: { field: string; help: Record<string, string> };
  /** For a secret: the words of a box that, ticked, empties the saved one (shown only when one is saved). */
  clear?: string;
}

export interface FieldOptions {
  label?: string;
  help?: string;
  helpWhen?: FieldText['helpWhen'];
  choices?: FieldText['choices'];
  clear?: FieldText['clear'];
  keepSecret?: boolean;
  /** Makes the element ids unique on a page with several forms (the form's name). */
  idPrefix?: string;
}

/** One form field rendered from its schema: type, limits, choices; label and help in words when given. */
export function field(name: string, schema: TSchema, value: unknown, error?: string, opts: FieldOptions = {}): Html {
  const id = `f-${opts.idPrefix ? `${opts.idPrefix}-` : ''}${name}`.replace(/[^\w-]/g, '-');
  const label = opts.label ?? name.replaceAll('_', ' ');
  const help = opts.help ?? (opts.label ? undefined : (schema.description as string | undefined));
  const err = error ? html`<span class="err" id="${id}-err" role="alert">${error}</span>` : '';
  const described = error ? `${id}-err` : `${id}-help`;
  const literals = TypeGuard.IsUnion(schema) && schema.anyOf.every((s) => TypeGuard.IsLiteral(s)) ? schema.anyOf.map((s) => (s as { const: string | number }).const) : null;
  const items = TypeGuard.IsArray(schema) ? schema.items : null;
  if (items && TypeGuard.IsUnion(items) && items.anyOf.every((s) => TypeGuard.IsLiteral(s))) {
    // A list of choices: a checkbox each, in a fieldset (the empty hidden twin sends the group when none is ticked).
    const all = items.anyOf.map((s) => (s as { const: string | number }).const);
    const words = new Map((opts.choices ?? []).map(([v, w]) => [String(v), w]));
    const ticked = new Set((Array.isArray(value) ? value : []).map(String));
    return html`<fieldset class="field checks${error ? ' invalid' : ''}" data-field="${name}" id="${id}" aria-describedby="${described}">
  <legend>${label}</legend><input type="hidden" name="${name}" value="">${all.map(
    (v, i) => html`<label class="check" for="${id}-${i}"><input type="checkbox" id="${id}-${i}" name="${name}" value="${String(v)}" ${attr('checked', ticked.has(String(v)))}> ${words.get(String(v)) ?? String(v)}</label>`,
  )}${err}${help ? html`<small id="${id}-help">${help}</small>` : ''}
</fieldset>`;
  }
  let control: Html;
  if (TypeGuard.IsBoolean(schema)) {
    control = html`<input type="hidden" name="${name}" value="false"><input type="checkbox" id="${id}" name="${name}" value="true" ${attr('checked', value === true)} aria-describedby="${described}">`;
  } else if (opts.choices || literals) {
    const choices: (readonly [string | number, string])[] = opts.choices ? [...opts.choices] : literals!.map((v) => [v, String(v)] as const);
    if (value !== undefined && value !== '' && !choices.some(([v]) => v === value)) choices.push([value as string | number, TypeGuard.IsInteger(schema) || literals?.every((v) => typeof v === 'number') ? `${value} kbit/s` : String(value)]);
    control = html`<select id="${id}" name="${name}" aria-invalid="${error ? 'true' : 'false'}" aria-describedby="${described}">${choices.map(
      ([v, words]) => html`<option value="${String(v)}" ${attr('selected', v === value || String(v) === String(value))}>${words}</option>`,
    )}</select>`;
  } else if (TypeGuard.IsInteger(schema) || TypeGuard.IsNumber(schema)) {
    control = html`<input type="number" id="${id}" name="${name}" value="${value === undefined ? '' : String(value)}" ${
      schema.minimum !== undefined ? raw(`min="${schema.minimum}"`) : ''
    } ${schema.maximum !== undefined ? raw(`max="${schema.maximum}"`) : ''} step="${TypeGuard.IsInteger(schema) ? '1' : 'any'}" inputmode="decimal" aria-invalid="${error ? 'true' : 'false'}" aria-describedby="${described}">`;
  } else if (TypeGuard.IsArray(schema)) {
    const list = Array.isArray(value) ? value.join(', ') : '';
    control = html`<input type="text" id="${id}" name="${name}" value="${list}" aria-invalid="${error ? 'true' : 'false'}" aria-describedby="${described}" placeholder="comma-separated">`;
  } else {
    const secret = SECRET_KEYS.test(name);
    const v = secret && value && (opts.keepSecret || NEVER_ECHO.test(name)) ? '' : value === undefined ? '' : String(value);
    control = html`<input type="${secret ? 'password' : 'text'}" id="${id}" name="${name}" value="${v}" ${
      secret && opts.keepSecret && value ? raw('placeholder="(unchanged)"') : ''
    } autocomplete="${secret ? 'new-password' : 'off'}" ${schema.maxLength ? raw(`maxlength="${Number(schema.maxLength)}"`) : ''} aria-invalid="${error ? 'true' : 'false'}" aria-describedby="${described}">`;
  }
  const checkbox = TypeGuard.IsBoolean(schema);
  const when = opts.helpWhen
    ? Object.entries(opts.helpWhen.help).map(([v, text]) => html`<span data-when-${opts.helpWhen!.field}="${v}">${text} </span>`)
    : '';
  // `<name>__clear` ticked empties the saved secret (formValues); without it an empty field keeps it.
  const clear = opts.clear && opts.keepSecret && value && SECRET_KEYS.test(name)
    ? html`<label class="check clear-secret" for="${id}-clear"><input type="checkbox" id="${id}-clear" name="${name}__clear" value="true"> ${opts.clear}</label>`
    : '';
  return html`<div class="field${error ? ' invalid' : ''}${checkbox ? ' check' : ''}" data-field="${name}">
  <label for="${id}">${label}</label>${control}${err}${help || when ? html`<small id="${id}-help">${when}${help ?? ''}</small>` : ''}${clear}
</div>`;
}

export interface FieldsOptions {
  only?: string[];
  skip?: string[];
  keepSecrets?: boolean;
  /** Words per key; their order is the fields' order. Keys marked advanced, and keys without words, go under "Advanced". */
  text?: Record<string, FieldText>;
  /** The form's name, for unique element ids. */
  idPrefix?: string;
  /** Said inside the "Advanced" fold, above its fields (shown only when there are some). */
  advancedNote?: Html | string;
}

/**
 * Fields for every key of an object schema (arrays of tables are left to `hark config edit`).
 * With `text`, the essentials come first in plain words and the rest wait in a closed
 * "Advanced" fold (opened when one of them is refused).
 */
export function fieldsFor(schema: TSchema, value: Record<string, unknown>, errors: Record<string, string>, opts: FieldsOptions = {}): Html {
  if (!TypeGuard.IsObject(schema)) return html``;
  const text = opts.text;
  const all = Object.keys(schema.properties).filter((k) => (!opts.only || opts.only.includes(k)) && !opts.skip?.includes(k));
  const keys = text ? [...Object.keys(text).filter((k) => all.includes(k)), ...all.filter((k) => !(k in text))] : all;
  const main: Html[] = [];
  const advanced: Html[] = [];
  let advancedError = false;
  for (const k of keys) {
    const s = schema.properties[k]!;
    if (TypeGuard.IsArray(s) && TypeGuard.IsObject(s.items)) continue;
    const t = text?.[k];
    const f = field(k, s, value[k], errors[k], { label: t?.label, help: t?.help, helpWhen: t?.helpWhen, choices: t?.choices, clear: t?.clear, keepSecret: opts.keepSecrets, idPrefix: opts.idPrefix });
    if (text && (!t || t.advanced)) {
      advanced.push(f);
      if (errors[k]) advancedError = true;
    } else main.push(f);
  }
  if (!advanced.length) return html`${main}`;
  return html`${main}<details class="advanced" ${attr('open', advancedError)}><summary>Advanced</summary>${opts.advancedNote ? html`<p class="help">${opts.advancedNote}</p>` : ''}${advanced}</details>`;
}

/** The notice after a save: what applied, what waits for a restart, or the error. Set beside the Save button. */
export function saveNotice(r: { ok: boolean; message?: string; restart?: string[]; preserved?: boolean }): Html {
  if (!r.ok) return html`<p class="notice bad" role="alert" data-notice="bad">${r.message ?? 'Not saved.'}</p>`;
  return html`<p class="notice ok" role="status" data-notice="ok">${r.message ?? 'Saved.'}${
    r.restart?.length
      ? html` <span>Takes effect after a restart. <button type="button" class="link" hx-post="/ui/restart" hx-target="closest .notice" hx-swap="outerHTML" hx-confirm="Restart hark now? Listeners reconnect.">Restart now</button></span>`
      : ''
  }</p>`;
}
