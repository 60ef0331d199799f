/** The Recordings page: the Record button, this recording's length and the room left, and the files (routes: src/http/admin/recordings-page.ts). */
import { html, type Html } from './html.ts';

export interface RecordingsPage {
  slots: { record: Html; recorder: Html; list: Html };
  continueWithinMinutes: number;
  format: 'mp3' | 'ogg-opus';
  bitrateKbps: number;
  dir: string;
}

export function recordingsPage(v: RecordingsPage): Html {
  return html`<section class="panel" aria-labelledby="rec-now-h"><h2 id="rec-now-h">Record</h2>
  ${v.slots.record}
  ${v.slots.recorder}
  <p class="help">A restart or a pause of less than ${v.continueWithinMinutes} min goes on in the same recording.</p>
  <details class="advanced"><summary>Advanced</summary><dl class="facts"><dt>Format</dt><dd>${v.format === 'mp3' ? 'MP3' : 'Ogg Opus'}, ${v.bitrateKbps} kbit/s</dd><dt>Folder</dt><dd><code>${v.dir}</code></dd></dl><p><a href="/outputs#form-recording">Recording settings</a></p></details>
</section>
<section class="panel wide" aria-labelledby="rec-list-h"><h2 id="rec-list-h">Recordings</h2>${v.slots.list}</section>`;
}
