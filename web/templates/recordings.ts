/** The Recordings page: the Record button, this recording's length and the room left, and the files (routes: src/http/admin/recordings-page.ts). */
import { html, type Html } from './html.ts';

export interface RecordingsPage {
  slots: { record: Html; recorder: Html; list: Html };
  continueWithinMinutes: number;
  format: 'mp3' | 'ogg-opus' | 'flac';
  bitrateKbps: number;
  /** FLAC's bits per sample. */
  bitDepth?: number;
  dir: string;
}

export function recordingsPage(v: RecordingsPage): Html {
  return html`<section class="panel" aria-labelledby="rec-now-h"><h2 id="rec-now-h">Record</h2>
  ${v.slots.record}
  ${v.slots.recorder}
  <p class="help">A restart or a pause of less than ${v.continueWithinMinutes} min goes on in the same recording.</p>
  <details class="advanced"><summary>Advanced</summary><dl class="facts"><dt>Format</dt><dd>${v.format === 'flac' ? `FLAC, ${v.bitDepth ?? 24}-bit (lossless)` : `${v.format === 'mp3' ? 'MP3' : 'Ogg Opus'}, ${v.bitrateKbps} kbit/s`}</dd><dt>Folder</dt><dd><code>${v.dir}</code></dd></dl><p><a href="/outputs#form-recording">Recording settings</a></p></details>
</section>
<section class="panel wide" aria-labelledby="rec-list-h"><h2 id="rec-list-h">Recordings</h2>${v.slots.list}</section>
<section class="panel" aria-labelledby="rec-range-h"><h2 id="rec-range-h">Download a stretch of time</h2>
  <p class="help">One file from the recordings, for example last Sunday from 10:00 to 11:30, even across several files. Times are the box's.</p>
  ${rangeForm()}
</section>`;
}

/** The range form: a day and two times; its answer (a download link, or why not) replaces it. */
export function rangeForm(v: { date?: string; from?: string; to?: string; answer?: Html } = {}): Html {
  return html`<form class="range-form" hx-get="/ui/recordings/range" hx-target="this" hx-swap="outerHTML">
  <div class="row range-fields">
    <label for="range-date">Day <input type="date" id="range-date" name="date" required value="${v.date ?? ''}"></label>
    <label for="range-from">From <input type="time" id="range-from" name="from" required value="${v.from ?? ''}"></label>
    <label for="range-to">To <input type="time" id="range-to" name="to" required value="${v.to ?? ''}"></label>
  </div>
  <p class="row"><button type="submit">Find it</button></p>
  <div class="range-answer" aria-live="polite">${v.answer ?? ''}</div>
</form>`;
}
