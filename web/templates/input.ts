/**
 * The Input page: which interface is captured, its level and state, the input gain, a
 * "listen here" monitor and the capture settings. The routes are in src/http/admin/input-page.ts.
 */
import { html, type Html } from './html.ts';

export interface InputPage {
  /** Why PipeWire cannot be reached, when it cannot. */
  noAudio: string | null;
  slots: { meters: Html; status: Html; devices: Html };
  gain: Html;
  /** The chosen interface's node name ('' for PipeWire's default). */
  chosen: string;
  /** The sound comes from a feed over the network (input.source srt | rtp), not an interface. */
  network?: boolean;
  /** The settings forms (input, silence, tone). */
  forms: Html[];
}

export function inputPage(v: InputPage): Html {
  return html`${v.noAudio !== null ? noAudioSystem(v.noAudio) : ''}<div class="grid">
<section class="panel"><h2>Level</h2>${v.slots.meters}${v.slots.status}${monitorWidget()}</section>
${v.gain}
<form class="panel" id="device-form" hx-post="/ui/input" hx-target="find .result">
  <h2>Device</h2>
  <div class="field"><label for="device">Capture from</label>${v.slots.devices}<small>The audio interfaces connected to this box; the list follows plugging in and out.${
    v.network ? ' Not used now: the sound comes from a feed over the network (Capture, below).' : ''
  }</small>${
    v.chosen ? html`<small class="node-name">Chosen interface’s system name: <code>${v.chosen}</code></small>` : ''
  }</div>
  <button type="submit">Use this device</button><div class="result"></div>
</form>
${v.forms}
</div>`;
}

/** The input gain: one number field that saves itself and applies at once (ramped, no restart). */
export function gainForm(value: string, notice: Html | string = '', error = ''): Html {
  const described = error ? 'f-gain_db-err' : 'f-gain_db-help';
  return html`<form class="panel" id="gain-form" novalidate hx-post="/ui/input/gain" hx-target="this" hx-swap="outerHTML">
  <h2>Input gain</h2>
  ${notice}
  <div class="field${error ? ' invalid' : ''}" data-field="gain_db"><label for="f-gain_db">Input gain (dB)</label><input type="number" id="f-gain_db" name="gain_db" value="${value}" min="-24" max="24" step="0.5" inputmode="decimal" aria-invalid="${error ? 'true' : 'false'}" aria-describedby="${described}">${
    error ? html`<span class="err" id="f-gain_db-err" role="alert">${error}</span>` : ''
  }<small id="f-gain_db-help">Makes a quiet input louder (+) or a loud one quieter (−), from −24 to +24. 0 leaves it as it is; +6 is about twice as loud. It changes the level above, every stream and the recording, as soon as you save.</small></div>
  <button type="submit">Save</button>
</form>`;
}

/** "Listen to the input here": plays /ui/monitor.mp3 in this browser (web/static/admin.js). */
export const monitorWidget = () => html`<div class="monitor" id="monitor">
  <button type="button" id="monitor-toggle" aria-pressed="false" aria-describedby="monitor-help">Listen to the input here</button>
  <audio id="monitor-audio" preload="none" data-src="/ui/monitor.mp3"></audio>
  <small id="monitor-help">Plays the input on this device, also while off air or muted, to check the microphone. Use headphones: a speaker near the microphone will howl.</small>
  <p id="monitor-state" class="help" role="status" aria-live="polite"></p>
</div>`;

/**
 * The line at the top of the Input page when hark cannot reach PipeWire: what it means and what
 * to do, with PipeWire's own reason folded away.
 */
export function noAudioSystem(reason: string): Html {
  return html`<div class="notice bad no-audio" id="no-audio-system" role="alert">
  <p><b>No audio system found: hark cannot see any audio interface.</b> Restart the box (System, then Restart hark; or switch it off and on). If this stays, the sound service (PipeWire) is not running for hark: on the hark image that is a fault to report; on another computer, set it up with script/server. Until then no interface can be chosen here.</p>
  <details><summary>Details</summary><p>${reason}</p></details>
</div>`;
}
