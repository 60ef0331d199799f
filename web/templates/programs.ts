/**
 * The Programs page (routes: src/http/admin/programs-page.ts): a card per program — what it is
 * made of, its sound, its levels before and after the sound settings, who listens, where it
 * goes, its listen address with a QR code, Mute, Edit and Remove — the add/edit form with the
 * routing matrix and the "Sound" settings, and the scan-to-listen sheet's panel. Pure
 * renderings of plain values; every string reaches markup through `html` (escaped).
 */
import { html, raw, attr, type Html } from './html.ts';
import { METER_FLOOR_DB, METER_ZONES, meterPct } from './components.ts';

const f1 = (n: number) => n.toFixed(1);
const dbText = (db: number) => (db <= -119 ? '−∞' : f1(db).replace('-', '−'));
/** A number as people write it: −6, not -6. */
export const signed = (n: number) => String(n).replace('-', '−');
/** "a", "a and b", "a, b and c". */
export const wordList = (xs: string[]) => (xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs.at(-1)}`);

// ---- the compact level meters ------------------------------------------------------------------

/** Levels of one stage: [peak, rms] in dBFS, the loudest channel's. */
export type StageLevels = readonly [peak: number, rms: number];

const STAGE_WORDS = { pre: 'Before', post: 'After' } as const;

/**
 * One program's level at one stage (before or after its sound settings) as one small bar over
 * the admin meters' scale and colours. admin.js moves it with the `program-levels` frames
 * (numbers), as it moves the input meters; no style attributes (the CSP refuses them).
 */
export function programMeter(id: string, name: string, stage: 'pre' | 'post', l: StageLevels, label: string = STAGE_WORDS[stage]): Html {
  const [peak, rms] = l;
  const now = Math.max(METER_FLOOR_DB, Math.min(0, peak));
  const what = `${name}: level ${stage === 'pre' ? 'before' : 'after'} the sound settings`;
  return html`<div class="pmeter${label ? '' : ' bare'}" data-program="${id}" data-stage="${stage}" data-z-amber="${f1(meterPct(METER_ZONES.amber))}" data-z-red="${f1(meterPct(METER_ZONES.red))}">
  ${label ? html`<span class="pm-label" aria-hidden="true">${label}</span>` : ''}
  <div class="track" role="meter" aria-label="${what}" aria-valuemin="${METER_FLOOR_DB}" aria-valuemax="0" aria-valuenow="${f1(now)}" aria-valuetext="${peak <= -119 ? 'silence' : `${dbText(peak)} dB`}"><div class="bar peak" data-w="${f1(meterPct(peak))}"></div><div class="bar rms" data-w="${f1(meterPct(rms))}"></div></div>
  <span class="db" aria-hidden="true">${dbText(peak)}</span>
</div>`;
}

/** The dashboard's panel: every program's name and its level after its sound settings. */
export function programLevelsPanel(list: { id: string; name: string; muted: boolean; post: StageLevels }[]): Html {
  if (!list.length) return html``;
  return html`<ul class="program-levels">${list.map(
    (p) => html`<li data-program="${p.id}"><span class="pl-name">${p.name}${p.muted ? html` <span class="pill warn">muted</span>` : ''}</span>${programMeter(p.id, p.name, 'post', p.post, '')}</li>`,
  )}</ul><p class="pl-more"><a href="/programs">Mute or change a program</a></p>`;
}

// ---- the cards -------------------------------------------------------------------------------

/** What changes while the page is open: mute, listeners, where it goes, missing channels. */
export interface ProgramLiveView {
  id: string;
  name: string;
  muted: boolean;
  /** Input channels the program needs that the interface does not have now. */
  missing: number[];
  listeners: { webrtc: number; mp3: number };
  /** "Icecast “live.mp3”", "the recording". */
  outputs: string[];
}

export interface ProgramCardView {
  id: string;
  name: string;
  /** "Spanish (Español)"; '' when no language is set. */
  languageWords: string;
  language: string;
  /** The default program (/listen, /stream.mp3). */
  main: boolean;
  /** "Input channel 3 (mono)." */
  madeOf: string;
  /** "as it comes in.", "rumble cut below 80 Hz, …". */
  sound: string;
  levels: { pre: StageLevels; post: StageLevels };
  live: ProgramLiveView;
  /** The absolute listen address, as a phone on this network opens it. */
  listenUrl: string;
  qrSrc: string;
  /** The outputs that carry it (for Remove's question). */
  usedBy: string[];
}

function listenersWords(l: ProgramLiveView['listeners']): string {
  const n = l.webrtc + l.mp3;
  if (n === 0) return 'Nobody is listening.';
  const parts = [l.webrtc ? `${l.webrtc} on the listen page` : '', l.mp3 ? `${l.mp3} on the stream link` : ''].filter(Boolean);
  return `${n === 1 ? '1 person' : `${n} people`} listening: ${parts.join(', ')}.`;
}

/** The card's live part (the `programs` SSE event swaps each one in place, out of band). */
export function programLive(v: ProgramLiveView, oob = false): Html {
  return html`<div class="program-live" id="program-live-${v.id}" ${oob ? html`hx-swap-oob="true"` : ''}>
  ${v.missing.length ? html`<p class="notice bad" role="note">The interface has no channel ${wordList(v.missing.map(String))} now, so this program is silent. Connect an interface with more channels, or change what the program is made of.</p>` : ''}
  <p class="pl-state">${v.muted ? html`<span class="pill warn" data-muted="true">Muted</span> Its listeners hear silence.` : html`<span class="pill ok" data-muted="false">On</span> ${listenersWords(v.listeners)}`}</p>
  <p class="pl-outputs">Goes to: ${wordList(['the listen page', 'the stream link', ...v.outputs])}.</p>
  <form class="mute-form" hx-post="/ui/programs/${v.id}/mute" hx-target="#program-live-${v.id}" hx-swap="outerHTML">
    <button type="submit" id="program-mute-${v.id}" class="${v.muted ? 'unmute-one' : 'mute-one'}">${v.muted ? `Unmute ${v.name}` : `Mute ${v.name}`}</button>
  </form>
</div>`;
}

/** Every card's live part, for the SSE event (swapped out of band into each card). */
export function programLiveUpdates(views: ProgramLiveView[]): Html {
  return html`${views.map((v) => programLive(v, true))}`;
}

export function programCard(v: ProgramCardView): Html {
  const confirm = `Remove the program “${v.name}”? Its listen address and stream link stop working.${
    v.usedBy.length ? ` It goes to ${wordList(v.usedBy)}: choose another program for ${v.usedBy.length === 1 ? 'it' : 'them'} on the Outputs page first.` : ''
  }`;
  return html`<article class="panel program-card" id="program-${v.id}" data-program="${v.id}" aria-labelledby="program-${v.id}-h">
  <div class="pc-head"><h2 id="program-${v.id}-h">${v.name}</h2>${v.languageWords ? html`<span class="pc-lang" lang="en">${v.languageWords}</span>` : ''}${v.main ? html`<span class="pill">default</span>` : ''}</div>
  <p class="pc-made">${v.madeOf}</p>
  <p class="pc-sound"><b>Sound:</b> ${v.sound}</p>
  <div class="pmeters" role="group" aria-label="${v.name}: levels before and after the sound settings">${programMeter(v.id, v.name, 'pre', v.levels.pre)}${programMeter(v.id, v.name, 'post', v.levels.post)}</div>
  ${programLive(v.live)}
  <figure class="pc-listen">
    <img class="qr" src="${v.qrSrc}" width="148" height="148" alt="QR code for ${v.listenUrl}">
    <figcaption><span class="help">Point a phone’s camera at the code, or open</span> <a class="listen-url" href="${v.listenUrl}" target="_blank" rel="noopener">${v.listenUrl}</a> <a class="qr-download" href="${v.qrSrc}" download="${v.id}-qr.svg">Download the code</a></figcaption>
  </figure>
  <div class="row entry-buttons">
    <button type="button" class="link" id="program-edit-${v.id}" hx-get="/ui/programs/${v.id}/edit" hx-target="#programs-section" hx-swap="outerHTML">Edit</button>
    <button type="button" class="link danger" id="program-remove-${v.id}" hx-delete="/ui/programs/${v.id}" hx-target="#programs-section" hx-swap="outerHTML" hx-confirm="${confirm}">Remove</button>
  </div>
</article>`;
}

/** How many programs hark takes (the schema's maxItems). */
export const MAX_PROGRAMS = 8;

export interface ProgramsSectionView {
  cards: ProgramCardView[];
  /** The input's channel count (the words of the single-program explanation). */
  inputChannels: number;
  /** The open add/edit form, shown instead of the cards. */
  form?: Html;
  notice?: Html | string;
}

/** The cards (or the one-program explanation), the notice of the last change, and Add; or the open form. */
export function programsSection(v: ProgramsSectionView): Html {
  const n = v.cards.length;
  const whole = v.inputChannels >= 2 ? 'input channels 1 and 2' : 'the input';
  return html`<section id="programs-section" class="programs-section" aria-label="Programs">
${v.notice ?? ''}
${
  v.form ??
  html`${
    n === 0
      ? html`<div class="panel programs-empty" id="programs-empty">
  <h2>One program: Main</h2>
  <p>Everything goes out as one program, <b>Main</b>: ${whole}, as they come in. The listen page, the stream link, the Icecast servers and the recording all carry it.</p>
  <p class="help">Add a program to make several streams from this one input: for example the room on channels 1 and 2, and an interpreter on channel 3 for each language. Listeners then choose one on the listen page, and each program gets its own listen address and QR code.</p>
</div>`
      : html`<div class="grid program-cards">${v.cards.map(programCard)}</div>`
  }
${
  n < MAX_PROGRAMS
    ? html`<p class="programs-add"><button type="button" id="program-add" hx-get="/ui/programs/new" hx-target="#programs-section" hx-swap="outerHTML">Add a program</button></p>`
    : html`<p class="help">hark takes up to ${MAX_PROGRAMS} programs: remove one to add another.</p>`
}`
}
</section>`;
}

// ---- the add/edit form -----------------------------------------------------------------------

/** The form's fields as typed (strings), so a refused form comes back as the user left it. */
export interface ProgramFormValues {
  id: string;
  name: string;
  language: string;
  /** Input channels ticked (1-based). */
  use: number[];
  /** Gain per input channel for a mix (dB, as typed). */
  gains: Record<number, string>;
  mono: boolean;
  gain_db: string;
  highpass_hz: string;
  eq: { type: string; hz: string; gain_db: string; q: string }[];
  limiter_dbfs: string;
  delay_ms: string;
  /** Adding the first program: keep what is streamed now as the program "Main". */
  keep_main: boolean;
}

export interface ProgramFormView {
  /** null: adding; else the id of the program edited. */
  editing: string | null;
  values: ProgramFormValues;
  inputChannels: number;
  /** Field name → reason (id, name, language, routing, gain_<ch>, mono, gain_db, highpass_hz, eq, eq_<key>_<i>, limiter_dbfs, delay_ms). */
  errors: Record<string, string>;
  formError?: string;
  /** Offer "keep Main" (adding the first program): the words of what is streamed now. */
  keepMain?: string;
  /** [tag, words] for the language field's suggestions. */
  languages: readonly (readonly [string, string])[];
}

/** The most EQ bands a program takes (the schema's maxItems). */
export const MAX_BANDS = 6;

export const EQ_TYPES: readonly (readonly [string, string])[] = [
  ['peak', 'Bell (around the pitch)'],
  ['lowshelf', 'Bass shelf (below it)'],
  ['highshelf', 'Treble shelf (above it)'],
  ['highpass', 'Low cut (below it)'],
  ['lowpass', 'High cut (above it)'],
];

function errSpan(id: string, e: string | undefined): Html | '' {
  return e ? html`<span class="err" id="${id}-err" role="alert">${e}</span>` : '';
}

/**
 * One field in the page's usual shape (label, control, error, help). Numbers are text boxes
 * with a decimal keypad: a number box would drop what it cannot read ("−6" typed with a real
 * minus) without a word, where this shows it back with the reason.
 */
function input(name: string, label: string, value: string, errors: Record<string, string>, o: { help?: string; decimal?: boolean; list?: string; maxlength?: number; placeholder?: string } = {}): Html {
  const id = `pf-${name}`;
  const e = errors[name];
  const described = e ? `${id}-err` : o.help ? `${id}-help` : '';
  return html`<div class="field${e ? ' invalid' : ''}" data-field="${name}">
  <label for="${id}">${label}</label><input type="text" id="${id}" name="${name}" value="${value}" ${o.decimal ? raw('inputmode="decimal"') : ''} ${o.list ? html`list="${o.list}"` : ''} ${o.maxlength ? raw(`maxlength="${o.maxlength}"`) : ''} ${o.placeholder ? html`placeholder="${o.placeholder}"` : ''} autocomplete="off" aria-invalid="${e ? 'true' : 'false'}" ${described ? html`aria-describedby="${described}"` : ''}>${errSpan(id, e)}${o.help ? html`<small id="${id}-help">${o.help}</small>` : ''}
</div>`;
}

function routingMatrix(v: ProgramFormView): Html {
  const e = v.errors;
  const routeErr = e.routing;
  const rows = Array.from({ length: v.inputChannels }, (_, i) => i + 1);
  const gainErr = rows.some((c) => e[`gain_${c}`]);
  return html`<fieldset class="group routing${routeErr || gainErr ? ' invalid' : ''}" data-field="routing" aria-describedby="${routeErr ? 'pf-routing-err ' : ''}pf-routing-help">
  <legend>What it is made of</legend>
  <small id="pf-routing-help">Tick the input channels this program takes. One channel is mono; two are stereo, unless you mix them to one. A gain for a channel makes a mix (then it is mono).</small>
  ${errSpan('pf-routing', routeErr)}
  <table class="matrix">
    <thead><tr><th scope="col">Input</th><th scope="col">Use</th><th scope="col">Gain in a mix (dB)</th></tr></thead>
    <tbody>${rows.map((c) => {
      const ge = e[`gain_${c}`];
      return html`<tr data-channel="${c}"${ge ? html` class="invalid"` : ''}>
      <th scope="row"><label for="pf-ch-${c}">Channel ${c}</label></th>
      <td class="use"><input type="checkbox" id="pf-ch-${c}" name="ch" value="${c}" ${attr('checked', v.values.use.includes(c))}></td>
      <td><input type="text" inputmode="decimal" class="gain" id="pf-gain-${c}" name="gain_${c}" value="${v.values.gains[c] ?? ''}" placeholder="0" aria-label="Channel ${c}: gain in a mix (dB)" aria-invalid="${ge ? 'true' : 'false'}" ${ge ? html`aria-describedby="pf-gain-${c}-err"` : ''}>${ge ? html`<span class="err" id="pf-gain-${c}-err" role="alert">${ge}</span>` : ''}</td>
    </tr>`;
    })}</tbody>
  </table>
</fieldset>
<div class="field check${e.mono ? ' invalid' : ''}" data-field="mono">
  <input type="hidden" name="mono" value="false"><input type="checkbox" id="pf-mono" name="mono" value="true" ${attr('checked', v.values.mono)} aria-describedby="${e.mono ? 'pf-mono-err' : 'pf-mono-help'}"><label for="pf-mono">Mono (sum to one channel)</label>${errSpan('pf-mono', e.mono)}<small id="pf-mono-help">Mixes the ticked channels into one, e.g. the two microphones of one interpreter.</small>
</div>`;
}

function eqRows(v: ProgramFormView, action: string): Html {
  const e = v.errors;
  const bands = v.values.eq;
  return html`<fieldset class="group eq${e.eq ? ' invalid' : ''}" data-field="eq" aria-describedby="${e.eq ? 'pf-eq-err ' : ''}pf-eq-help">
  <legend>Tone (equaliser)</legend>
  <small id="pf-eq-help">Up to ${MAX_BANDS} bands, each lifting (+ dB) or cutting (− dB) around a pitch. Width: higher is narrower; 0.7 is gentle.</small>
  ${errSpan('pf-eq', e.eq)}
  ${bands.length === 0 ? html`<p class="empty" id="pf-eq-none">No bands: the tone is left as it is.</p>` : ''}
  <ol class="eq-bands">${bands.map((b, i) => {
    const f = (key: string) => `eq_${key}_${i}`;
    const bad = (key: string) => e[f(key)];
    const cell = (key: 'hz' | 'gain' | 'q', label: string, value: string) =>
      html`<div class="field${bad(key) ? ' invalid' : ''}" data-field="${f(key)}"><label for="pf-${f(key)}">${label}</label><input type="text" inputmode="decimal" id="pf-${f(key)}" name="${f(key)}" value="${value}" autocomplete="off" aria-invalid="${bad(key) ? 'true' : 'false'}" ${bad(key) ? html`aria-describedby="pf-${f(key)}-err"` : ''}>${errSpan(`pf-${f(key)}`, bad(key))}</div>`;
    const known = EQ_TYPES.some(([t]) => t === b.type);
    return html`<li class="eq-band" data-band="${i}"><span class="band-no">Band ${i + 1}</span>
      <div class="field${bad('type') ? ' invalid' : ''}" data-field="${f('type')}"><label for="pf-${f('type')}">Kind</label><select id="pf-${f('type')}" name="${f('type')}" aria-invalid="${bad('type') ? 'true' : 'false'}" ${bad('type') ? html`aria-describedby="pf-${f('type')}-err"` : ''}>${EQ_TYPES.map(
        ([t, w]) => html`<option value="${t}" ${attr('selected', t === b.type)}>${w}</option>`,
      )}${known ? '' : html`<option value="${b.type}" selected>${b.type}</option>`}</select>${errSpan(`pf-${f('type')}`, bad('type'))}</div>
      ${cell('hz', 'Pitch (Hz)', b.hz)}${cell('gain', 'Lift or cut (dB)', b.gain_db)}${cell('q', 'Width (Q)', b.q)}
      <button type="button" class="link danger" hx-post="${action}?op=remove-band-${i}" hx-include="closest form" id="pf-eq-remove-${i}" aria-label="Remove band ${i + 1}">Remove</button></li>`;
  })}</ol>
  ${bands.length < MAX_BANDS ? html`<button type="button" hx-post="${action}?op=add-band" hx-include="closest form" id="pf-add-band">Add a band</button>` : ''}
</fieldset>`;
}

/** Add (editing null) or edit one program. Everything posts to the section, which comes back whole. */
export function programForm(v: ProgramFormView): Html {
  const val = v.values;
  const e = v.errors;
  const action = v.editing === null ? '/ui/programs' : `/ui/programs/${v.editing}`;
  return html`<form class="panel entry-form program-form" id="program-form" novalidate hx-post="${action}" hx-target="#programs-section" hx-swap="outerHTML">
  <h2>${v.editing === null ? 'Add a program' : `Edit ${val.name || v.editing}`}</h2>
  ${v.formError ? html`<p class="notice bad" role="alert" data-notice="bad">${v.formError}</p>` : ''}
  ${
    v.editing === null
      ? input('id', 'Short name (in its web address)', val.id, e, { help: 'Lower-case letters, digits, - and _, e.g. floor, es, english. Its listen address ends in /listen/ and this name.', maxlength: 32 })
      : html`<input type="hidden" name="id" value="${v.editing}">`
  }
  ${input('name', 'Name listeners see', val.name, e, { help: 'e.g. “Floor”, “English”, “Español”. Empty: the short name.', maxlength: 64 })}
  ${input('language', 'Language', val.language, e, { help: 'e.g. en, es, pt-BR. Listeners see its name in its own language. Empty: none.', list: 'pf-languages', maxlength: 35 })}
  <datalist id="pf-languages">${v.languages.map(([t, w]) => html`<option value="${t}">${w}</option>`)}</datalist>
  ${routingMatrix(v)}
  ${
    v.keepMain
      ? html`<div class="field check" data-field="keep_main"><input type="hidden" name="keep_main" value="false"><input type="checkbox" id="pf-keep_main" name="keep_main" value="true" ${attr('checked', val.keep_main)} aria-describedby="pf-keep_main-help"><label for="pf-keep_main">Keep what is streamed now as the program “Main”</label><small id="pf-keep_main-help">${v.keepMain} stay the default program, first in the list: the listen page, the stream link, the Icecast servers and the recording go on carrying it. Untick to make this new program the default one.</small></div>`
      : ''
  }
  <h3 class="sound-h">Sound</h3>
  ${input('gain_db', 'Gain (dB)', val.gain_db, e, { decimal: true, help: 'Louder (+) or quieter (−) before the rest. 0: as it comes in.' })}
  ${input('highpass_hz', 'Cut rumble below (Hz)', val.highpass_hz, e, { decimal: true, placeholder: 'off', help: 'Removes rumble, wind and handling noise: 80 suits speech. Empty: off.' })}
  ${eqRows(v, action)}
  ${input('limiter_dbfs', 'Limit peaks to (dB)', val.limiter_dbfs, e, { decimal: true, placeholder: 'off', help: 'Loud moments never go above this; −1 is usual. Empty: off.' })}
  ${input('delay_ms', 'Delay (ms)', val.delay_ms, e, { decimal: true, help: 'To line the phones up with the sound in the room (0 to 500).' })}
  <details class="advanced"><summary>Advanced</summary><p class="help">In the configuration file each program is a [[program]] entry: id, name, language, channels (or mix) and mono, then gain_db, highpass_hz, [[program.eq]] bands, limiter_dbfs and delay_ms. An output chooses one with program = "its id".</p></details>
  <div class="actions">
    <button type="submit" id="pf-save">${v.editing === null ? 'Add' : 'Save'}</button>
    <button type="button" class="link" id="pf-cancel" hx-get="/ui/programs" hx-target="#programs-section" hx-swap="outerHTML">Cancel</button>
  </div>
</form>`;
}

// ---- the page --------------------------------------------------------------------------------

export function programsPage(v: { section: Html }): Html {
  return html`<p class="help page-intro">A program is one stream made from some of the input’s channels, with its own sound: the room, and an interpreter for each language. Listeners choose one on the listen page.</p>
<div hidden sse-swap="programs" hx-target="this" hx-swap="none"></div>
${v.section}
<section class="panel sheet-panel" id="sheet" aria-labelledby="sheet-h">
  <h2 id="sheet-h">Scan-to-listen sheet</h2>
  <p class="help">One page to print and put on the tables or the door: a QR code for each program, so people open it with their phone’s camera. It opens in a new tab: print it from there (on a phone: Share, then Print).</p>
  <form class="row sheet-form" action="/programs/sheet" method="get" target="_blank">
    <div class="field"><label for="sheet-wifi">Wi-Fi to join, printed on the sheet (optional)</label><input type="text" id="sheet-wifi" name="wifi" maxlength="120" autocomplete="off" placeholder="e.g. Church-Guest" aria-describedby="sheet-wifi-help"><small id="sheet-wifi-help">The codes open this box’s address, so phones must be on the same network as this box.</small></div>
    <button type="submit" id="sheet-print">Print the scan-to-listen sheet</button>
  </form>
</section>`;
}
